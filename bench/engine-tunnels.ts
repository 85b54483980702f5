// Tunnel setup rate and memory per tunnel of the engine: our client (N
// tunnels, one address each) against our gateway, real processes in two
// namespaces joined by a veth pair that the bench creates and removes.
// Group 19 + AES-GCM-16 (the issue-8 target: >= 300 tunnels/s, <= 30 KB RSS
// per tunnel for 1,000 tunnels in one process). Needs root.
// Run: npm run build && node dist/bench/engine-tunnels.js [TUNNELS=1000] [SETUPINTERVAL=1ms]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsPair, ip } from '../test/support/strongswan.js';
import { gatewayYaml, clientYaml, startEngine, waitFor, type EngineProc, type Suite } from '../test/engine/support/engine-proc.js';
import type { EngineSummary } from '../src/engine/program/summary.js';

const N = Math.min(1790, Number(process.argv[2] ?? 1000)); // client addresses 172.31.1.1 … 172.31.7.255
const interval = process.argv[3] ?? '1ms';
const SUITE: Suite = {
  name: 'aes-gcm16:128/prf sha256/group 19',
  ours: { encr: 'aes-gcm16:128', integ: 'sha256', prf: 'sha256', dh: 19 },
  swan: { ike: '', esp: '' },
  swanNames: { encr: '', keysize: '', dh: '' },
};

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

async function measure(n: number, net: Awaited<ReturnType<typeof createNetnsPair>>, dir: string) {
  const procs: EngineProc[] = [];
  try {
    const gw = await startEngine({ ns: net.nsB, dir, name: `gw${n}`, yaml: gatewayYaml({ ifname: net.ifB, suite: SUITE, tunnels: n }).replace('loglevel: 3', 'loglevel: 2') });
    procs.push(gw);
    const yaml = clientYaml({ ifname: net.ifA, suite: SUITE, tunnels: n, ping: false })
      .replace('setupinterval: 1ms', `setupinterval: ${interval}`)
      .replace('loglevel: 3', 'loglevel: 2')
      .replace('retraninterval: 1s', 'retraninterval: 3s');
    const cl = await startEngine({ ns: net.nsA, dir, name: `cl${n}`, yaml });
    procs.push(cl);
    await waitFor(`${n} live tunnels`, async () => (await cl.api.request<EngineSummary>('summary')).tunnels.live === n, 30_000 + n * 50, 250);
    await new Promise((r) => setTimeout(r, 500));
    const s = await cl.api.request<EngineSummary>('summary');
    return { summary: s, clientRss: rssKb(cl.proc.pid!), gatewayRss: rssKb(gw.proc.pid!) };
  } catch (err) {
    throw err;
  } finally {
    for (const p of procs.reverse()) {
      await p.api.request('stop', { graceful: false }).catch(() => undefined);
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]);
      await p.kill();
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'myikev2-bench-'));
const net = await createNetnsPair({ addrA: '172.31.0.2/16', addrB: '172.31.0.1/16' });
try {
  // One next hop for all client addresses: the kernel's ARP table (1024 entries) is shared
  // by every namespace on the machine, and 1,000 tunnel addresses would overflow it.
  for (const r of ['172.31.1.0/24', '172.31.2.0/23', '172.31.4.0/22']) await ip(['-n', net.nsB, 'route', 'add', r, 'via', '172.31.0.2']);
  const one = await measure(1, net, dir);
  const many = await measure(N, net, dir);
  const s = many.summary;
  console.log(`engine tunnels: ${N} tunnels, group 19 + aes-gcm16:128, setupinterval ${interval}`);
  console.log(`  created ${s.tunnels.created}, live ${s.tunnels.live}, retransmits ${s.ike.retransmits}`);
  console.log(`  setup rate: ${s.setup.ratePerSec} tunnels/s (${s.setup.durationMs} ms)   target >= 300: ${s.setup.ratePerSec >= 300 ? 'met' : 'NOT met'} (ratio ${(s.setup.ratePerSec / 300).toFixed(2)})`);
  const perTunnel = (many.clientRss - one.clientRss) / Math.max(1, N - 1);
  console.log(`  client RSS: ${many.clientRss} KB with ${N} tunnels, ${one.clientRss} KB with 1 → ${perTunnel.toFixed(1)} KB per tunnel   target <= 30: ${perTunnel <= 30 ? 'met' : 'NOT met'} (ratio ${(perTunnel / 30).toFixed(2)})`);
  console.log(`  client heap used ${((many.summary.memory.heapUsedKb - one.summary.memory.heapUsedKb) / Math.max(1, N - 1)).toFixed(1)} KB/tunnel, external ${((many.summary.memory.externalKb - one.summary.memory.externalKb) / Math.max(1, N - 1)).toFixed(1)} KB/tunnel, ${many.summary.memory.sockets} sockets`);
  console.log(`  gateway RSS: ${many.gatewayRss} KB (${((many.gatewayRss - one.gatewayRss) / Math.max(1, N - 1)).toFixed(1)} KB per tunnel)`);
} finally {
  await net.destroy();
  rmSync(dir, { recursive: true, force: true });
}
