import assert from 'node:assert/strict';
import type { OutboundDatagram } from '../../../src/engine/child-sa.js';
import { DataPlane, type DataPlaneEvent } from '../../../src/engine/esp/data-plane.js';
import type { PingConf } from '../../../src/model/setup-types.js';
import { buildEcho } from '../../../src/engine/ping/icmp.js';
import { addrBytes } from '../../../src/engine/esp/addr.js';
import { keyPair, pingConf, v4ts, v6ts, type PairOptions } from './fixtures.js';

/** Two data planes (client, gateway) wired back to back through an in-memory "network". */
function bed(ping: Partial<PingConf> = {}, gwPing?: Partial<PingConf>, gwPingTargets?: number) {
  let now = 1_000_000;
  const queue: OutboundDatagram[] = [];
  const events: { client: DataPlaneEvent[]; gateway: DataPlaneEvent[] } = { client: [], gateway: [] };
  let filter: (d: OutboundDatagram) => boolean = () => true;
  const clock = () => now;
  const client = new DataPlane({ role: 'client', send: (d) => queue.push(d), onEvent: (e) => events.client.push(e), ping: pingConf(ping), now: clock });
  const gateway = new DataPlane({ role: 'gateway', send: (d) => queue.push(d), onEvent: (e) => events.gateway.push(e), ping: gwPing && pingConf(gwPing), pingTargets: gwPingTargets, now: clock });
  const byAddr = (addr: string) => (addr === '192.0.2.1' ? client : gateway);
  const deliver = () => {
    while (queue.length) {
      const d = queue.shift()!;
      if (filter(d)) byAddr(d.to.addr).receive(d.from, d.to, d.payload);
    }
  };
  const install = (o: PairOptions) => {
    const [c, g] = keyPair(o);
    client.install(c);
    gateway.install(g);
    return [c, g] as const;
  };
  /** Advances time in 100 ms steps, delivering everything sent in between. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      now += 100;
      client.tick(now);
      gateway.tick(now);
      deliver();
    }
  };
  return { client, gateway, events, queue, install, run, deliver, setFilter: (f: typeof filter) => (filter = f), now: () => now };
}

describe('DataPlane: ESP-in-UDP data path and ping test', () => {
  it('10 tunnels ping the gateway through their CHILD SAs with 0% loss; gateway answers', () => {
    const b = bed({ destaddr: '10.2.0.1', deststep: 1, holdtimeMs: 2000 });
    for (let t = 1; t <= 10; t++) b.install({ tunnelId: t });
    b.client.startPing();
    b.run(1900);
    assert.equal(b.client.pingSummary().total.sent, 0, 'nothing before holdtime');
    b.run(10_200);
    const s = b.client.pingSummary();
    assert.equal(s.tunnels.length, 10);
    for (const t of s.tunnels) {
      assert.ok(t.sent >= 9 && t.sent <= 11, `tunnel ${t.tunnelId} sent ${t.sent}`);
      assert.equal(t.received + t.inFlight, t.sent);
      assert.equal(t.lost, 0);
      assert.equal(t.src, `10.1.0.${t.tunnelId}`);
      assert.equal(t.dst, `10.2.0.${t.tunnelId}`);
    }
    assert.equal(s.total.lossPct, 0);
    assert.equal(b.gateway.pingSummary().enabled, false);
    const cs = b.client.childStats('c3')!;
    const gs = b.gateway.childStats('c3')!;
    assert.equal(cs.outPackets, s.tunnels[2].sent);
    assert.equal(gs.inPackets, cs.outPackets);
    assert.equal(gs.outPackets, cs.inPackets);
    assert.equal(cs.outBytes, cs.outPackets * (20 + 8 + 64));
  });

  it('IPv6 inner packets and transport mode', () => {
    const b = bed({ destaddr: '2001:db8:2::1' });
    b.install({ tunnelId: 1, clientTs: [v6ts('2001:db8:1::1')], gatewayTs: [v6ts('2001:db8:2::', '2001:db8:2::ffff')] });
    b.client.startPing();
    b.run(5000);
    const t = b.client.pingSummary().tunnels[0];
    assert.ok(t.received >= 4 && t.lost === 0, JSON.stringify(t));

    const tr = bed({ destaddr: '192.0.2.2' }); // transport mode pings the outer addresses
    tr.install({ tunnelId: 1, tunnelMode: false, clientTs: [v4ts('192.0.2.1')], gatewayTs: [v4ts('192.0.2.2')], encr: { name: 'aes-cbc', keyBits: 256 }, integ: 'sha512-256' });
    tr.client.startPing();
    tr.run(5000);
    const u = tr.client.pingSummary().tunnels[0];
    assert.equal(u.src, '192.0.2.1');
    assert.ok(u.received >= 4 && u.lost === 0, JSON.stringify(u));
  });

  it('rekey during the ping (new SA installed, old removed) loses nothing when both ends swap in order', () => {
    const b = bed({ intervalMs: 200 });
    b.install({ tunnelId: 1, childId: 'old' });
    b.client.startPing();
    b.run(2000);
    b.install({ tunnelId: 1, childId: 'new', spi: 0xd0000000 });
    b.run(1000);
    b.client.remove('old');
    b.gateway.remove('old');
    b.run(2000);
    const t = b.client.pingSummary().tunnels[0];
    assert.equal(t.lost, 0);
    assert.ok(b.client.childStats('new')!.outPackets >= 14);
  });

  it('loss above maxlossrate raises one error event; clearPing zeroes the counters', () => {
    const b = bed({ maxlossrate: 10 });
    b.install({ tunnelId: 1 });
    b.client.startPing();
    let n = 0;
    b.setFilter((d) => d.to.addr === '192.0.2.1' || n++ % 2 === 0); // half the requests vanish
    b.run(30_000);
    const s = b.client.pingSummary();
    assert.ok(s.tunnels[0].lost >= 10, JSON.stringify(s.tunnels[0]));
    assert.ok(s.tunnels[0].lossPct > 30 && s.tunnels[0].lossPct < 70);
    assert.equal(s.total.tunnelsOverMaxLoss, 1);
    const loss = b.events.client.filter((e) => e.type === 'ping-loss');
    assert.equal(loss.length, 1);
    b.client.clearPing();
    const c = b.client.pingSummary();
    assert.deepEqual([c.total.sent, c.total.received, c.total.lost, c.total.inFlight], [0, 0, 0, 0]);
    b.setFilter(() => true);
    b.run(5000);
    const d = b.client.pingSummary().tunnels[0];
    assert.equal(d.lost, 0);
    assert.ok(d.received >= 4);
  });

  it('replayed, tampered and unknown-SPI packets are dropped and counted', () => {
    const b = bed();
    b.install({ tunnelId: 1 });
    const captured: OutboundDatagram[] = [];
    b.setFilter((d) => (captured.push(d), true));
    b.client.startPing();
    b.run(3000);
    const req = captured.find((d) => d.to.addr === '192.0.2.2')!;
    const before = b.gateway.childStats('c1')!;
    b.gateway.receive(req.from, req.to, req.payload); // replay
    const tampered = Buffer.from(req.payload);
    tampered[tampered.length - 20] ^= 0x80;
    tampered.writeUInt32BE(tampered.readUInt32BE(4) + 1000, 4); // fresh seq, so it reaches the ICV check
    b.gateway.receive(req.from, req.to, tampered);
    const unknown = Buffer.from(req.payload);
    unknown.writeUInt32BE(0x12345678, 0);
    b.gateway.receive(req.from, req.to, unknown);
    b.gateway.receive(req.from, req.to, Buffer.from([1, 2, 3]));
    const after = b.gateway.childStats('c1')!;
    assert.equal(after.inPackets, before.inPackets, 'nothing accepted');
    assert.equal(after.drops.replay, 1);
    assert.equal(after.drops.auth, 1);
    const drops = b.gateway.stats().drops;
    assert.deepEqual([drops['unknown-spi'], drops.malformed, drops.replay, drops.auth, drops.padding], [1, 1, 1, 1, 0]);
    const reasons = b.events.gateway.filter((e) => e.type === 'drop').map((e) => (e as { reason: string }).reason);
    assert.deepEqual(reasons.sort(), ['auth', 'malformed', 'replay', 'unknown-spi']);
  });

  it('inner packets outside the SA traffic selectors are dropped (ts-mismatch), and not answered', () => {
    const b = bed();
    // The gateway's SA has remote TS 10.1/16: a packet from 10.9.9.9 must not pass, whatever the sender's SA allows.
    const [, g] = keyPair({ tunnelId: 2, clientTs: [v4ts('10.1.0.0', '10.1.255.255')] });
    b.gateway.install(g);
    const c = new DataPlane({ role: 'client', send: (d) => b.gateway.receive(d.from, d.to, d.payload), now: b.now });
    c.install(keyPair({ tunnelId: 2, clientTs: [v4ts('0.0.0.0', '255.255.255.255')] })[0]);
    assert.ok(c.sendPacket(2, buildEcho(addrBytes('10.9.9.9'), addrBytes('10.2.0.1'), true, 1, 1, 8)));
    assert.equal(b.gateway.childStats('c2')!.drops['ts-mismatch'], 1);
    assert.equal(b.gateway.pingSummary().answered, 0);
  });

  it('gateway answers only addresses inside its own selectors', () => {
    const b = bed();
    const sent: OutboundDatagram[] = [];
    const gw = new DataPlane({ role: 'gateway', send: (d) => sent.push(d), now: b.now });
    const [c, g] = keyPair({ tunnelId: 1, gatewayTs: [v4ts('10.2.0.0', '10.2.0.255')] });
    gw.install(g);
    const cl = new DataPlane({ role: 'client', send: (d) => gw.receive(d.from, d.to, d.payload), now: b.now });
    cl.install({ ...c, remoteTs: [v4ts('0.0.0.0', '255.255.255.255')] });
    cl.sendPacket(1, buildEcho(addrBytes('10.1.0.1'), addrBytes('10.2.0.7'), true, 1, 1, 8));
    assert.equal(sent.length, 1, 'answered inside');
    cl.sendPacket(1, buildEcho(addrBytes('10.1.0.1'), addrBytes('10.2.0.0'), true, 1, 2, 8));
    assert.equal(sent.length, 2);
    // 10.2.1.1 is outside the gateway's local TS: the inbound policy check drops it first.
    cl.sendPacket(1, buildEcho(addrBytes('10.1.0.1'), addrBytes('10.2.1.1'), true, 1, 3, 8));
    assert.equal(sent.length, 2);
  });

  it('tunnel down (no SA): ping counts unroutable, not loss; sends fail and are counted', () => {
    const b = bed();
    b.install({ tunnelId: 1 });
    b.client.startPing();
    b.run(2000);
    b.client.remove('c1');
    b.gateway.remove('c1');
    assert.equal(b.client.hasChild('c1'), false);
    b.run(3000);
    const t = b.client.pingSummary().tunnels[0];
    assert.ok(t.unroutable >= 2, JSON.stringify(t));
    assert.equal(t.lost, 0, 'a tunnel that is down is not ping loss (the tunnel counters report it)');
    assert.equal(b.client.sendPacket(1, buildEcho(addrBytes('10.1.0.1'), addrBytes('10.2.0.1'), true, 1, 1, 8)), false);
    assert.equal(b.client.stats().drops['no-sa'], 1);
  });

  it('a live tunnel whose SAs do not cover the ping destination loses every ping (and raises the loss event)', () => {
    const b = bed({ destaddr: '10.9.0.1', intervalMs: 200 }); // outside the gateway's 10.2/16
    b.install({ tunnelId: 1 });
    b.client.startPing();
    b.run(3000);
    const t = b.client.pingSummary().tunnels[0];
    assert.ok(t.sent >= 14 && t.lost === t.sent && t.unroutable === t.sent && t.received === 0, JSON.stringify(t));
    assert.equal(t.lossPct, 100);
    assert.deepEqual(b.events.client.filter((e) => e.type === 'ping-loss').map((e) => (e as { tunnelId: number }).tunnelId), [1]);
    assert.ok(b.client.stats().drops['no-sa'] >= 14);
  });

  it('gateway: each tunnel pings the target inside its client selector, whatever the arrival order; a client back on a new tunnel keeps its row', () => {
    const b = bed({ destaddr: '' }, { destaddr: '10.1.0.1', deststep: 1, intervalMs: 200 }, 3);
    for (const n of [1, 2, 3]) b.install({ tunnelId: n, clientTs: [v4ts(`10.1.0.${4 - n}`)] }); // tunnel n carries client 10.1.0.(4-n)
    b.gateway.startPing();
    b.run(3000);
    const s = b.gateway.pingSummary();
    assert.deepEqual(s.tunnels.map((t) => [t.tunnelId, t.dst]), [[1, '10.1.0.3'], [2, '10.1.0.2'], [3, '10.1.0.1']]);
    for (const t of s.tunnels) assert.ok(t.received >= 10 && t.lost === 0, JSON.stringify(t));
    // client 10.1.0.2 restarted: it has forgotten its SA, the gateway still has it; the new one arrives as tunnel 4
    b.client.remove('c2');
    b.install({ tunnelId: 4, clientTs: [v4ts('10.1.0.2')] });
    b.run(3000);
    const after = b.gateway.pingSummary();
    assert.deepEqual(after.tunnels.map((t) => [t.tunnelId, t.dst]), [[1, '10.1.0.3'], [3, '10.1.0.1'], [4, '10.1.0.2']]);
    const moved = after.tunnels[2];
    assert.ok(moved.received >= s.tunnels[1].received + 10 && moved.lost === 0, JSON.stringify(moved));
    assert.equal(after.total.tunnelsOverMaxLoss, 0);
    // a client's own ping is numbered by its tunnels, as before
    const client = new DataPlane({ role: 'client', send: () => {}, ping: pingConf({ destaddr: '10.2.0.1' }), pingTargets: 3, now: () => 0 });
    client.install(keyPair({ tunnelId: 1, gatewayTs: [v4ts('10.2.0.3')] })[0]);
    assert.equal(client.pingSummary().tunnels[0].dst, '10.2.0.1');
  });

  it('refuses duplicate child ids and SPIs, and keys of the wrong length', () => {
    const b = bed();
    const [c] = b.install({ tunnelId: 1 });
    assert.throws(() => b.client.install(c), /already installed/);
    assert.throws(() => b.client.install({ ...c, childId: 'x' }), /SPI .* already in use/);
    assert.throws(() => b.client.install({ ...c, childId: 'y', spiIn: 9, encKeyIn: Buffer.alloc(3) }), /key must be 20 bytes/);
  });
});
