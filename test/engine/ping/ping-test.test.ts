import assert from 'node:assert/strict';
import { PingTest, type PingLossEvent } from '../../../src/engine/ping/ping-test.js';
import { parseEcho, makeEchoReply } from '../../../src/engine/ping/icmp.js';
import { pingConf } from '../esp/fixtures.js';

function setup(over = {}) {
  const sent: Buffer[] = [];
  const events: PingLossEvent[] = [];
  const p = new PingTest(pingConf({ intervalMs: 1000, ...over }), (_t, pkt) => (sent.push(Buffer.from(pkt)), 'sent'), (e) => events.push(e));
  p.tunnelUp({ tunnelId: 1, firstLocalTs: '10.1.0.1', firstRemoteTs: '10.2.0.0', localOuter: '192.0.2.1', remoteOuter: '192.0.2.2', tunnelMode: true }, 0);
  p.arm(0);
  const reply = (i: number, now: number) => {
    const pkt = Buffer.from(sent[i]);
    return p.onReply(parseEcho(makeEchoReply(pkt, parseEcho(pkt)!))!, now);
  };
  return { p, sent, events, reply };
}

describe('PingTest', () => {
  it('a reply after the timeout turns a lost request into a late, received one', () => {
    const { p, sent, reply } = setup();
    for (let now = 0; now <= 6000; now += 100) p.tick(now);
    assert.ok(sent.length >= 6);
    const before = p.summary().tunnels[0];
    assert.ok(before.lost >= 3, JSON.stringify(before));
    assert.equal(reply(0, 6000), true);
    const after = p.summary().tunnels[0];
    assert.equal(after.lost, before.lost - 1);
    assert.equal(after.received, 1);
    assert.equal(after.late, 1);
    assert.equal(reply(0, 6000), true);
    assert.equal(p.summary().tunnels[0].duplicates, 1, 'the same reply again is a duplicate');
  });

  it('replies within the timeout count once; RTT is measured', () => {
    const { p, sent, reply } = setup();
    p.tick(1000);
    const n = sent.length;
    assert.ok(n >= 1);
    reply(n - 1, 1000 + 1234);
    const t = p.summary().tunnels[0];
    assert.equal(t.received, 1);
    assert.equal(t.rttMaxMs, 1234);
  });

  it('clearPing: replies to requests sent before the clear are ignored', () => {
    const { p, sent, reply } = setup();
    for (let now = 0; now <= 1500; now += 100) p.tick(now);
    const n = sent.length;
    p.clear();
    reply(n - 1, 1600);
    const t = p.summary().tunnels[0];
    assert.deepEqual([t.sent, t.received, t.lost, t.late], [0, 0, 0, 0]);
  });

  it('addresses: destaddr/deststep and srcaddr/srcstep per tunnel, autoaddr from the selectors, errors when unusable', () => {
    const p = new PingTest(pingConf({ destaddr: '10.2.0.1', deststep: 2, srcaddr: '10.1.1.1', srcstep: 3 }), () => 'sent', () => {});
    p.tunnelUp({ tunnelId: 4, firstLocalTs: '10.1.0.4', firstRemoteTs: '10.2.0.0', localOuter: 'x', remoteOuter: 'y', tunnelMode: true }, 0);
    const a = new PingTest(pingConf({ destaddr: '', autoaddr: true }), () => 'sent', () => {});
    a.tunnelUp({ tunnelId: 1, firstLocalTs: '10.1.0.1', firstRemoteTs: '10.2.0.9', localOuter: 'x', remoteOuter: 'y', tunnelMode: true }, 0);
    a.tunnelUp({ tunnelId: 2, firstLocalTs: '10.1.0.2', firstRemoteTs: '0.0.0.0', localOuter: 'x', remoteOuter: 'y', tunnelMode: true }, 0);
    const [t4] = p.summary().tunnels;
    assert.deepEqual([t4.src, t4.dst], ['10.1.1.10', '10.2.0.7']);
    const [a1, a2] = a.summary().tunnels;
    assert.deepEqual([a1.src, a1.dst, a1.error], ['10.1.0.1', '10.2.0.9', undefined]);
    assert.match(a2.error!, /unspecified/);
    assert.equal(new PingTest(pingConf({ destaddr: '' }), () => 'sent', () => {}).enabled, false);
  });
});
