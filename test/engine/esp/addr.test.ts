import assert from 'node:assert/strict';
import { addToAddr, addrBytes, addrInTs, compileTs, textInTs } from '../../../src/engine/esp/addr.js';
import { v4ts, v6ts } from './fixtures.js';

describe('data-plane addresses', () => {
  it('parses IPv4 and IPv6 to bytes, refuses junk', () => {
    assert.equal(addrBytes('10.1.2.3').toString('hex'), '0a010203');
    assert.equal(addrBytes('2001:db8::ffff').toString('hex'), '20010db8' + '0'.repeat(20) + 'ffff');
    assert.throws(() => addrBytes('256.1.1.1'));
    assert.throws(() => addrBytes('not-an-address'));
  });

  it('adds steps across octet boundaries and wraps within the family', () => {
    assert.equal(addToAddr('10.1.0.255', 1), '10.1.1.0');
    assert.equal(addToAddr('10.1.0.1', 999), '10.1.3.232');
    assert.equal(addToAddr('255.255.255.255', 1), '0.0.0.0');
    assert.equal(addToAddr('2001:db8::ffff', 1), '2001:db8::1:0');
    assert.equal(addToAddr('10.0.0.5', -5), '10.0.0.0');
  });

  it('matches addresses against selector ranges (inclusive edges, right family)', () => {
    const ts = compileTs([v4ts('10.2.0.0', '10.2.255.255'), v6ts('2001:db8::', '2001:db8::ff')]);
    for (const [a, inside] of [['10.2.0.0', true], ['10.2.255.255', true], ['10.1.255.255', false], ['10.3.0.0', false], ['2001:db8::ff', true], ['2001:db8::100', false]] as const)
      assert.equal(textInTs(ts, a), inside, a);
    const pkt = Buffer.concat([Buffer.alloc(12), addrBytes('10.2.3.4')]);
    assert.equal(addrInTs(ts, 4, pkt, 12), true);
    assert.equal(addrInTs(ts, 6, pkt, 12), false);
  });
});
