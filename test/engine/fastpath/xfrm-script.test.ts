import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { rangeToPrefixes, renderInstall, renderRemove, type FastPathOptions } from '../../../src/engine/fastpath/xfrm-script.js';
import { childReqid, type ChildSaKeys } from '../../../src/engine/child-sa.js';
import { keyPair, v4ts, v6ts } from '../esp/fixtures.js';

// Golden files live next to this test's source; UPDATE_GOLDEN=1 rewrites them.
const GOLDEN = 'test/engine/fastpath/golden';

function golden(name: string, text: string): void {
  const file = `${GOLDEN}/${name}`;
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, 'utf8'), `golden ${file} differs (UPDATE_GOLDEN=1 to accept)`);
}

const cases: { name: string; keys: ChildSaKeys; opts: FastPathOptions }[] = [
  {
    name: 'tunnel-gcm-encap',
    keys: keyPair({ tunnelId: 3, replayWindow: 32, clientOuter: '198.51.100.10', gatewayOuter: '198.51.100.1' })[0],
    opts: {},
  },
  {
    name: 'tunnel-cbc-sha256-xfrmi-marks',
    keys: keyPair({ tunnelId: 7, encr: { name: 'aes-cbc', keyBits: 256 }, integ: 'sha256-128', clientTs: [v4ts('10.1.0.7')], gatewayTs: [v4ts('10.2.0.0', '10.2.0.255'), v4ts('10.9.0.1', '10.9.0.6')] })[0],
    opts: { xfrmInterface: { dev: 'eth1' }, mark: true, outputMark: 0x1 },
  },
  {
    name: 'transport-cbc-sha1-esn-ipv6',
    keys: (() => {
      const k = keyPair({ tunnelId: 1, tunnelMode: false, esn: true, replayWindow: 256, encr: { name: 'aes-cbc', keyBits: 128 }, integ: 'sha1-96', clientOuter: '2001:db8::1', gatewayOuter: '2001:db8::2' })[0];
      return { ...k, local: { addr: '2001:db8::1', port: 500 }, remote: { addr: '2001:db8::2', port: 500 }, localTs: [v6ts('2001:db8::1')], remoteTs: [v6ts('2001:db8::2')] };
    })(),
    opts: {},
  },
];

describe('fast path: ip xfrm scripts (golden)', () => {
  for (const c of cases) {
    it(`${c.name}: install (first of tunnel), rekey install, remove`, () => {
      golden(`${c.name}.install.batch`, renderInstall(c.keys, c.opts, true));
      golden(`${c.name}.rekey.batch`, renderInstall(c.keys, c.opts, false));
      golden(`${c.name}.remove.batch`, renderRemove(c.keys, c.opts, true));
    });
  }

  it('every add has its delete (same count of state and policy lines)', () => {
    for (const c of cases) {
      const add = renderInstall(c.keys, c.opts, true).trim().split('\n');
      const del = renderRemove(c.keys, c.opts, true).trim().split('\n');
      const count = (l: string[], w: string) => l.filter((x) => x.startsWith(w)).length;
      assert.equal(count(add, 'xfrm state add'), count(del, 'xfrm state delete'));
      assert.equal(count(add, 'xfrm policy update'), count(del, 'xfrm policy delete'));
      assert.equal(count(add, 'link add'), count(del, 'link delete'));
    }
  });

  it("a tunnel's further childlist entries get reqids of their own, on their states and policies", () => {
    const reqid = childReqid(3, 1);
    assert.equal(reqid, (1 << 20) + 3);
    const script = renderInstall(keyPair({ tunnelId: 3, reqid })[0], {}, true);
    const lines = script.trim().split('\n');
    assert.equal(lines.length, 5);
    for (const l of lines) assert.match(l, new RegExp(` reqid ${reqid} `));
    assert.deepEqual([childReqid(3, 0), childReqid(5, 1) === childReqid(3, 1), childReqid(3, 2) === reqid], [3, false, false]);
    assert.throws(() => childReqid(1 << 20, 1), /at most 4096 entries and 1048575 tunnels/);
  });

  it('ranges become the fewest prefixes', () => {
    assert.deepEqual(rangeToPrefixes('0.0.0.0', '255.255.255.255'), ['0.0.0.0/0']);
    assert.deepEqual(rangeToPrefixes('10.0.0.1', '10.0.0.1'), ['10.0.0.1/32']);
    assert.deepEqual(rangeToPrefixes('10.9.0.1', '10.9.0.6'), ['10.9.0.1/32', '10.9.0.2/31', '10.9.0.4/31', '10.9.0.6/32']);
    assert.deepEqual(rangeToPrefixes('2001:db8::', '2001:db8::ffff'), ['2001:db8::/112']);
    assert.throws(() => rangeToPrefixes('10.0.0.2', '10.0.0.1'), /empty/);
  });

  it('rejects what ip xfrm cannot express, and unsafe names', () => {
    const k = keyPair({ tunnelId: 1 })[0];
    const ports = { ...k, localTs: [{ ...v4ts('10.1.0.1'), protocol: 6, startPort: 1000, endPort: 2000 }] };
    assert.throws(() => renderInstall(ports, {}, true), /single ports only/);
    assert.throws(() => renderInstall(k, { xfrmInterface: { dev: 'eth0; reboot' } }, true), /not a valid interface name/);
    assert.throws(() => renderInstall({ ...k, local: { addr: '1.2.3.4 dir in', port: 4500 } }, {}, true));
  });
});
