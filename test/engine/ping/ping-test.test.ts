import assert from 'node:assert/strict';
import { PingTest, type PingLossEvent } from '../../../src/engine/ping/ping-test.js';
import { parseEcho, makeEchoReply } from '../../../src/engine/ping/icmp.js';
import { pingConf, v4ts } from '../esp/fixtures.js';
import type { TsRange } from '../../../src/engine/child-sa.js';

const info = (tunnelId: number, remoteTs: TsRange[]) => ({ tunnelId, firstLocalTs: '10.20.0.0', firstRemoteTs: remoteTs[0]?.startAddr, remoteTs, localOuter: 'x', remoteOuter: 'y', tunnelMode: true });

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

  describe('on a gateway (numberoftunnels configured targets)', () => {
    const conf = pingConf({ destaddr: '10.10.0.1', deststep: 1, srcaddr: '10.20.0.1', srcstep: 1, intervalMs: 1000 });

    it('a tunnel pings the configured target inside its client selector, not the one of its arrival order', () => {
      const p = new PingTest(conf, () => 'sent', () => {}, 3);
      p.tunnelUp(info(1, [v4ts('10.10.0.3')]), 0);
      p.tunnelUp(info(2, [v4ts('10.10.0.1')]), 0);
      p.tunnelUp(info(3, [v4ts('10.10.0.2')]), 0);
      assert.deepEqual(
        p.summary().tunnels.map((t) => [t.tunnelId, t.src, t.dst]),
        [[1, '10.20.0.3', '10.10.0.3'], [2, '10.20.0.1', '10.10.0.1'], [3, '10.20.0.2', '10.10.0.2']],
        'the source goes with its target (the same k)',
      );
    });

    it('falls back to arrival order when a selector holds none or several of the targets', () => {
      const p = new PingTest(conf, () => 'sent', () => {}, 3);
      p.tunnelUp(info(1, [v4ts('0.0.0.0', '255.255.255.255')]), 0);
      p.tunnelUp(info(2, [v4ts('10.10.9.9')]), 0);
      p.tunnelUp(info(5, [v4ts('10.10.0.0', '10.10.0.255')]), 0);
      assert.deepEqual(p.summary().tunnels.map((t) => [t.tunnelId, t.dst]), [[1, '10.10.0.1'], [2, '10.10.0.2'], [5, '10.10.0.5']]);
    });

    it('a client back on a new tunnel: its row (and counters) moves to the new tunnel; the old one is no longer pinged', () => {
      const via: number[] = [];
      const p = new PingTest(conf, (t) => (via.push(t), 'sent'), () => {}, 3);
      p.tunnelUp(info(1, [v4ts('10.10.0.1')]), 0);
      p.tunnelUp(info(2, [v4ts('10.10.0.2')]), 0);
      p.arm(0);
      for (let now = 0; now <= 3000; now += 100) p.tick(now);
      const sentBefore = p.summary().tunnels.find((t) => t.tunnelId === 2)!.sent;
      assert.ok(sentBefore >= 2);
      p.tunnelUp(info(4, [v4ts('10.10.0.2')]), 3000); // tunnel 2's SA lingers on the gateway (the client died)
      via.length = 0;
      for (let now = 3100; now <= 6000; now += 100) p.tick(now);
      const rows = p.summary().tunnels;
      assert.deepEqual(rows.map((t) => [t.tunnelId, t.dst]), [[1, '10.10.0.1'], [4, '10.10.0.2']]);
      assert.ok(rows[1].sent > sentBefore, 'the counters go on');
      assert.deepEqual([...new Set(via)].sort(), [1, 4]);
    });

    it('a client keeps numbering by tunnel (no configured targets given), whatever its selectors', () => {
      const p = new PingTest(conf, () => 'sent', () => {});
      p.tunnelUp(info(1, [v4ts('10.10.0.3')]), 0);
      assert.equal(p.summary().tunnels[0].dst, '10.10.0.1');
    });
  });
});
