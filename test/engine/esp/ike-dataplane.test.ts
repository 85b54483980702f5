// The IKE core and the data plane together, in memory: the ChildSaKeys the
// control plane hands over really protect traffic both ways, and IKE and
// CHILD rekeys during the ping lose at most one packet per tunnel.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { IkeEngine } from '../../../src/engine/ike/engine.js';
import type { IkeHost } from '../../../src/engine/ike/types.js';
import type { Endpoint } from '../../../src/engine/child-sa.js';
import { DataPlane } from '../../../src/engine/esp/data-plane.js';
import { gatewayPolicy, policy } from '../ike/harness.js';
import { pingConf } from './fixtures.js';
import { addToAddr } from '../../../src/engine/esp/addr.js';

interface Node {
  ike: IkeEngine;
  dp: DataPlane;
}

/** In-memory network: IKE and ESP datagrams routed by destination address. */
function network(ping: Parameters<typeof pingConf>[0]) {
  let now = 1_000_000;
  const nodes = new Map<string, Node>();
  const counts = { childUp: 0, ikeRekeying: 0 };
  const queue: { kind: 'ike' | 'esp'; from: Endpoint; to: Endpoint; data: Buffer }[] = [];
  const add = (addrs: string[], role: 'client' | 'gateway', responder?: ReturnType<typeof gatewayPolicy>) => {
    const dp = new DataPlane({ role, now: () => now, ping: role === 'client' ? pingConf(ping) : undefined, send: (d) => queue.push({ kind: 'esp', from: d.from, to: d.to, data: d.payload }) });
    const host: IkeHost = {
      now: () => now,
      random: (n) => randomBytes(n),
      send: (from, to, data) => void queue.push({ kind: 'ike', from, to, data }),
      childUp: (k) => {
        counts.childUp++;
        dp.install(k);
      },
      childDown: (id) => dp.remove(id),
      event: (e) => {
        if (e.kind === 'ike' && e.state === 'rekeying') counts.ikeRekeying++;
        if (process.env.DEBUG_IKE) console.log(role, JSON.stringify(e));
      },
      log: (l, m) => process.env.DEBUG_IKE && console.log(role, l, m),
    };
    const node = { ike: new IkeEngine(host, responder ? { responder } : {}), dp };
    for (const a of addrs) nodes.set(a, node);
    return node;
  };
  const deliver = () => {
    for (let i = 0; i < 100_000 && queue.length; i++) {
      const m = queue.shift()!;
      const n = nodes.get(m.to.addr);
      if (!n) continue;
      if (m.kind === 'ike') n.ike.receive(m.data, m.from, m.to);
      else n.dp.receive(m.from, m.to, m.data);
    }
  };
  const advance = (ms: number, step = 100) => {
    const seen = new Set<Node>();
    for (let t = 0; t < ms; t += step) {
      now += step;
      seen.clear();
      for (const n of nodes.values()) {
        if (seen.has(n)) continue;
        seen.add(n);
        n.ike.tick(now);
        n.dp.tick(now);
      }
      deliver();
    }
  };
  return { add, advance, deliver, counts, now: () => now };
}

describe('IKE core + data plane (in memory)', () => {
  it('20 tunnels ping with 0% loss; IKE and CHILD rekeys during the ping lose at most one packet per tunnel', () => {
    const N = 20;
    const net = network({ destaddr: '10.2.0.1', deststep: 1, intervalMs: 500, holdtimeMs: 1000 });
    const gw = net.add(['192.0.2.254'], 'gateway', gatewayPolicy({ ikeLifetimeMs: 23_000, marginMs: 4000 }, { lifetimeMs: 9_000, encr: ['aes-gcm16:128', 'aes-cbc:128'] }));
    const clientAddrs = Array.from({ length: N }, (_, i) => addToAddr('192.0.2.1', i));
    const client = net.add(clientAddrs, 'client');
    const done: boolean[] = [];
    for (let t = 1; t <= N; t++) {
      const tsAddr = addToAddr('10.1.0.0', t);
      client.ike.initiate(
        policy({ tunnelId: t, ikeLifetimeMs: 19_000, marginMs: 4000 }, { lifetimeMs: 7_000, encr: ['aes-gcm16:128'], localTs: [{ family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: tsAddr, endAddr: tsAddr }] }),
        { addr: clientAddrs[t - 1], port: 500 },
        { addr: '192.0.2.254', port: 500 },
        (ok) => done.push(ok),
      );
    }
    net.advance(1000);
    assert.equal(done.filter(Boolean).length, N, 'all tunnels up');
    const upBefore = net.counts.childUp;
    client.dp.startPing();
    net.advance(60_000);
    // CHILD lifetimes 7-9 s and IKE lifetimes 19-23 s: every tunnel rekeyed its CHILD SA several times and its IKE SA at least twice.
    assert.ok(net.counts.childUp - upBefore >= N * 2 * 6, `child installs during the ping: ${net.counts.childUp - upBefore}`);
    assert.ok(net.counts.ikeRekeying >= N * 2, `IKE rekeys: ${net.counts.ikeRekeying}`);
    const s = client.dp.pingSummary();
    assert.equal(s.tunnels.length, N);
    const rekeyed = client.dp.stats().children;
    assert.equal(rekeyed, N, 'one live CHILD SA per tunnel after rekeys');
    for (const t of s.tunnels) {
      assert.ok(t.sent >= 110, `tunnel ${t.tunnelId} sent ${t.sent}`);
      assert.ok(t.lost <= 1, `tunnel ${t.tunnelId} lost ${t.lost}`);
      assert.equal(t.unroutable, 0);
    }
    assert.ok(gw.dp.pingSummary().answered >= s.total.received);
  });
});
