import { strict as assert } from 'node:assert';
import { addToAddress, isValidIfName, mgmtAddressesIn, parseAddress, parseCidr } from '../../src/model/address.js';
import { parseDuration } from '../../src/model/duration.js';
import { substituteVars } from '../../src/model/vars.js';

describe('model: durations', () => {
  const cases: [string, number | null][] = [
    ['100ms', 100], ['3s', 3000], ['5m', 300_000], ['2h', 7_200_000], ['1h30m', 5_400_000], ['1.5s', 1500], ['0s', 0], ['0', 0],
    ['', null], ['3', null], ['3 s', null], ['s', null], ['-1s', null], ['1d', null], ['10sec', null],
  ];
  for (const [text, ms] of cases) it(`"${text}" → ${ms}`, () => assert.equal(parseDuration(text), ms));
});

describe('model: addresses', () => {
  it('parses addresses and prefixes with ipaddr.js', () => {
    assert.deepEqual(parseAddress('10.1.0.1'), { addr: '10.1.0.1', family: 4 });
    assert.equal(parseAddress('10.1'), null);
    assert.equal(parseAddress('300.1.1.1'), null);
    assert.deepEqual(parseCidr('2001:db8::1/64'), { addr: '2001:db8::1', family: 6, prefixLen: 64 });
    assert.equal(parseCidr('10.0.0.1/33'), null);
    assert.equal(parseCidr('10.0.0.1'), null);
  });
  it('adds to addresses within the family', () => {
    assert.equal(addToAddress('10.1.0.255', 1), '10.1.1.0');
    assert.equal(addToAddress('255.255.255.255', 1), null);
    assert.equal(addToAddress('2001:db8::ffff', 1), '2001:db8::1:0');
  });
  it('derives management addresses from the prefix and instance id', () => {
    const p = parseCidr('2001:db8:1::/64')!;
    assert.equal(mgmtAddressesIn(p)(0), '2001:db8:1::1:0');
    assert.equal(mgmtAddressesIn(p)(10), '2001:db8:1::1:a');
    assert.equal(mgmtAddressesIn(parseCidr('2001:db8:1::/112')!)(5), null); // only 65536 addresses
  });
  it('accepts only Linux interface names of at most 15 bytes', () => {
    for (const ok of ['eth0', 'data0', 'veth-a.1', 'a'.repeat(15)]) assert.ok(isValidIfName(ok), ok);
    for (const bad of ['', '.', '..', 'a'.repeat(16), 'eth 0', 'eth/0', 'eth:0', 'éééééééé']) assert.ok(!isValidIfName(bad), bad);
  });
});

describe('model: %VAR% substitution', () => {
  const vars = { DIR: '/root/tests', N: '3' };
  it('substitutes defined names and reports undefined ones', () => {
    assert.deepEqual(substituteVars('cd %DIR% && run %MISSING%', vars), { text: 'cd /root/tests && run %MISSING%', undefinedNames: ['MISSING'] });
  });
  it('leaves shell percent signs alone and turns %% into %', () => {
    assert.deepEqual(substituteVars('date +%Y%m%d; printf "%s%%"', vars), { text: 'date +%Y%m%d; printf "%s%"', undefinedNames: [] });
  });
});
