// Scale benchmark of the engine (issue 8): one client engine with N tunnels
// (default 1,000; group 19, aes-gcm16) against one gateway engine, then the
// same client against a strongSwan gateway (charon + kernel-libipsec), in
// namespaces this script creates and removes. Prints tunnels/s, peak RSS per
// tunnel (VmHWM), ping loss with every tunnel pinging at 1 s, and the ratios.
// Bounded: N <= 2000, every phase has a deadline, everything is torn down.
//
//   npm run build && node dist/bench/engine-scale.js [--tunnels 1000] [--ping-seconds 10] [--no-strongswan]
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createNetnsPair, netnsExists, startCharon, type Charon, type NetnsPair } from '../test/support/strongswan.js';
import { clientSetup, gatewaySetup, processAlive, startEngine, waitFor, type RunningEngine } from '../test/engine/esp/engine-bed.js';
import type { PingSummary } from '../src/engine/esp/data-plane.js';
import { engineArgv } from '../src/run/instances.js';
import type { ServerSession } from '../src/run/servers.js';
import type { InstanceRecord } from '../src/run/manifest.js';

const run = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = Math.min(Math.max(arg('tunnels', 1000), 1), 2000);
const PING_S = Math.min(Math.max(arg('ping-seconds', 10), 3), 60);
const WITH_SWAN = !process.argv.includes('--no-strongswan');
/** Node options the product launches the engine with (`myikev2 run`), so the figures are what users get. */
const PRODUCT_NODE_ARGS = (() => {
  const argv = engineArgv({ bundlePath: '\0bundle' } as ServerSession, { runDir: '/run' } as InstanceRecord, false);
  return argv.slice(1, argv.indexOf('\0bundle'));
})();
/** --node-args="..." replaces them (space-separated; e.g. to compare heap settings). */
const NODE_ARGS = (process.argv.find((a) => a.startsWith('--node-args='))?.slice('--node-args='.length) ?? PRODUCT_NODE_ARGS.join(' ')).split(' ').filter(Boolean);
const PSK = 'bench-psk-not-secret';
const SETUP_INTERVAL = process.argv.find((a) => a.startsWith('--setupinterval='))?.split('=')[1] ?? '2ms';
const GW = '172.28.0.1';

interface Summary {
  tunnels: { configured: number; created: number; live: number; failed: number; reconnects: number };
  setup: { durationMs: number; ratePerSec: number };
  ike: { retransmits: number };
  io: Record<string, number>;
}

/** Peak and current resident set of a process (KB), from /proc/PID/status. */
function memKb(pid: number): { hwm: number; rss: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { hwm: get('VmHWM'), rss: get('VmRSS') };
}

/** UDP datagrams dropped for a full receive buffer, both namespaces (/proc/net/snmp). */
async function udpDrops(net: NetnsPair): Promise<number> {
  let sum = 0;
  for (const ns of [net.nsA, net.nsB]) {
    const rows = (await run('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
    const [h, v] = rows.map((l) => l.split(/\s+/));
    sum += Number(v[h.indexOf('RcvbufErrors')]);
  }
  return sum;
}

/** Packets the kernel dropped for a full per-CPU backlog (net.core.netdev_max_backlog): machine-wide, veth bursts land here. */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .reduce((sum, line) => sum + parseInt(line.split(/\s+/)[1], 16), 0);
}

/** CPU time (user + system) a process has used, in ms, from /proc/PID/stat. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

interface Result {
  gateway: string;
  upSeconds: number;
  tunnelsPerSec: number;
  engineRate?: number;
  live: number;
  retransmits: number;
  rcvbufErrors: number;
  backlogDropped: number;
  cpuPerTunnel: number[]; // ms of CPU per tunnel set up: [client, gateway]
  clientKbPerTunnel: number;
  gatewayKbPerTunnel: number;
  ping: PingSummary['total'];
}

async function measureClient(net: NetnsPair, dir: string, gatewayLabel: string, gatewayPid: number, gatewayIdleKb: number): Promise<{ result: Result; client: RunningEngine }> {
  const client = await startEngine({
    ns: net.nsA,
    dir,
    name: `client-${gatewayLabel}`,
    timeoutMs: 30_000,
    nodeArgs: NODE_ARGS,
    setup: clientSetup({
      n: N,
      bindif: net.ifA,
      startAddr: '172.28.1.1/16',
      peer: GW,
      psk: PSK,
      interval: '1s',
      holdtime: '2s',
      extra: { setupinterval: SETUP_INTERVAL, tunnelretryinterval: '5s', tunnelmaxretry: 3, loglevel: 1 },
      // A lost IKE packet costs one retransmission interval (default 10 s): on a shared machine the
      // kernel's per-CPU backlog drops veth bursts now and then, so retransmit sooner.
      ike: { retraninterval: '2s' },
    }),
  });
  const idle = memKb(client.pid).rss;
  const drops0 = await udpDrops(net);
  const backlog0 = backlogDrops();
  const cpu0 = [cpuMs(client.pid), cpuMs(gatewayPid)];
  const t0 = Date.now();
  const up = await waitFor(
    `${N} tunnels up`,
    async () => {
      const s = await client.api.request<Summary>('summary');
      return s.tunnels.live + s.tunnels.failed >= N ? s : undefined;
    },
    Math.max(60_000, N * 100),
    // The summary carries every tunnel's ping figures: polling it often would cost the client real CPU.
    1000,
  );
  const upSeconds = (Date.now() - t0) / 1000;
  const cpuPerTunnel = [cpuMs(client.pid) - cpu0[0], cpuMs(gatewayPid) - cpu0[1]].map((ms) => ms / Math.max(up.tunnels.live, 1));
  // Ping: 2 s hold time, then every tunnel once a second for PING_S seconds.
  await new Promise((r) => setTimeout(r, (2 + PING_S) * 1000));
  await client.api.request('ping.clear'); // measure a clean window: from here, PING_S more seconds
  await new Promise((r) => setTimeout(r, PING_S * 1000 + 2500));
  const ping = await client.api.request<PingSummary>('ping.summary');
  const rcvbufErrors = (await udpDrops(net)) - drops0;
  const backlogDropped = backlogDrops() - backlog0;
  const cm = memKb(client.pid);
  const gm = memKb(gatewayPid);
  return {
    client,
    result: {
      gateway: gatewayLabel,
      upSeconds,
      tunnelsPerSec: up.tunnels.live / upSeconds,
      engineRate: up.setup.ratePerSec,
      live: up.tunnels.live,
      retransmits: up.ike.retransmits,
      cpuPerTunnel,
      rcvbufErrors,
      backlogDropped,
      clientKbPerTunnel: (cm.hwm - idle) / N,
      gatewayKbPerTunnel: (gm.hwm - gatewayIdleKb) / N,
      ping: { ...ping.total },
    },
  };
}

function swanGatewayConf(): string {
  return `connections {
  gw {
    version = 2
    local_addrs = ${GW}
    remote_addrs = %any
    proposals = aes128gcm16-prfsha256-ecp256
    encap = yes
    local { auth = psk
      id = gw.bench }
    remote { auth = psk }
    children {
      net {
        local_ts = 10.2.0.0/16
        remote_ts = 10.1.0.0/16
        esp_proposals = aes128gcm16
        mode = tunnel
      }
    }
  }
}
secrets {
  ike-any { secret = "${PSK}" }
}
`;
}

function print(r: Result): void {
  const loss = r.ping.lost + r.ping.received > 0 ? r.ping.lossPct.toFixed(3) : 'n/a';
  console.log(`  gateway: ${r.gateway}`);
  console.log(`    tunnels up:        ${r.live}/${N}, setup rate ${r.engineRate ?? 'n/a'} tunnels/s (client engine: first start to last up); seen up within ${r.upSeconds.toFixed(1)} s of engine start (1 s polling), IKE retransmits ${r.retransmits}, UDP receive-buffer drops ${r.rcvbufErrors}, backlog drops ${r.backlogDropped} (machine-wide)`);
  console.log(`    CPU per tunnel:    client ${r.cpuPerTunnel[0].toFixed(2)} ms, gateway ${r.cpuPerTunnel[1].toFixed(2)} ms (= ${(1000 / Math.max(...r.cpuPerTunnel)).toFixed(0)} tunnels/s per free core, the load-independent figure)`);
  console.log(`    peak RSS/tunnel:   client ${r.clientKbPerTunnel.toFixed(1)} KB, gateway ${r.gatewayKbPerTunnel.toFixed(1)} KB (VmHWM above idle RSS, / ${N})`);
  console.log(`    ping (${PING_S} s window, every tunnel at 1 s): sent ${r.ping.sent}, received ${r.ping.received}, lost ${r.ping.lost}, in flight ${r.ping.inFlight}, loss ${loss}%`);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'myikev2-bench-'));
  let net: NetnsPair | undefined;
  const engines: RunningEngine[] = [];
  const charons: Charon[] = [];
  const results: Result[] = [];
  const hard = setTimeout(() => {
    console.error('bench: overall deadline (15 min) reached, tearing down');
    void teardown().then(() => process.exit(1));
  }, 15 * 60_000);
  async function teardown(): Promise<void> {
    for (const e of engines) await e.stop(20_000).catch(() => undefined);
    for (const c of charons) await c.stop().catch(() => undefined);
    if (net) await net.destroy();
    await rm(dir, { recursive: true, force: true });
    const left = [...engines.map((e) => e.pid), ...charons.map((c) => c.pid)].filter(processAlive);
    if (left.length) throw new Error(`processes still running: ${left.join(' ')}`);
    if (net && ((await netnsExists(net.nsA)) || (await netnsExists(net.nsB)))) throw new Error('namespaces left behind');
  }
  try {
    console.log(`engine scale benchmark: ${N} tunnels, client setupinterval ${SETUP_INTERVAL}, retraninterval 2s${NODE_ARGS.length ? ` (engine node options: ${NODE_ARGS.join(' ')})` : ''}, IKE aes-gcm16-128/prf-sha256/ecp256 (group 19), ESP aes-gcm16-128, ping 1 s`);
    net = await createNetnsPair({});
    // Our gateway.
    const gw = await startEngine({ ns: net.nsB, dir, name: 'gateway', timeoutMs: 30_000, nodeArgs: NODE_ARGS, setup: gatewaySetup({ n: N, bindif: net.ifB, addr: `${GW}/16`, psk: PSK, extra: { loglevel: 1 } }) });
    engines.push(gw);
    const gwIdle = memKb(gw.pid).rss;
    const ours = await measureClient(net, dir, 'myikev2 engine', gw.pid, gwIdle);
    engines.push(ours.client);
    results.push(ours.result);
    print(ours.result);
    await ours.client.stop(60_000);
    await gw.stop(30_000);

    if (WITH_SWAN) {
      await run('ip', ['-n', net.nsB, 'address', 'replace', `${GW}/16`, 'dev', net.ifB]);
      await run('ip', ['-n', net.nsB, 'address', 'replace', '10.2.0.1/32', 'dev', 'lo']);
      const sw = await startCharon({ ns: net.nsB, dir: join(dir, 'charon'), swanctlConf: swanGatewayConf() });
      charons.push(sw);
      await sw.loadConfig();
      const swIdle = memKb(sw.pid).rss;
      const theirs = await measureClient(net, dir, 'strongSwan 5.9.8 charon (kernel-libipsec)', sw.pid, swIdle);
      engines.push(theirs.client);
      results.push(theirs.result);
      print(theirs.result);
      if (theirs.result.ping.lost > 0) {
        const log = sw.log().split('\n');
        console.log(`    charon log (${log.length} lines), last errors:\n${log.filter((l) => /error|fail|no matching|dropp|invalid|not found/i.test(l)).slice(-8).map((l) => '      ' + l).join('\n')}`);
      }
      await theirs.client.stop(60_000);
      const [a, b] = results;
      console.log('  ratios (myikev2 gateway / strongSwan gateway, same client):');
      console.log(`    setup rate ${((a.engineRate ?? 0) / (b.engineRate ?? 1)).toFixed(2)}x, gateway CPU per tunnel ${(a.cpuPerTunnel[1] / b.cpuPerTunnel[1]).toFixed(2)}x, gateway RSS per tunnel ${(a.gatewayKbPerTunnel / b.gatewayKbPerTunnel).toFixed(2)}x`);
    }
    const r = results[0];
    console.log('  targets (myikev2 client vs myikev2 gateway):');
    console.log(`    >= 300 tunnels/s: ${(r.engineRate ?? 0) >= 300 ? 'met' : 'NOT met'} (${r.engineRate}; CPU-bound figure ${(1000 / Math.max(...r.cpuPerTunnel)).toFixed(0)} per free core, and this machine is shared)`);
    console.log(`    <= 30 KB RSS/tunnel: ${r.clientKbPerTunnel <= 30 && r.gatewayKbPerTunnel <= 30 ? 'met' : 'NOT met'} (client ${r.clientKbPerTunnel.toFixed(1)}, gateway ${r.gatewayKbPerTunnel.toFixed(1)})`);
    console.log(`    0% ping loss: ${r.ping.lost === 0 && r.ping.received > 0 ? 'met' : 'NOT met'} (${r.ping.lost} lost of ${r.ping.received + r.ping.lost})`);
  } finally {
    clearTimeout(hard);
    await teardown();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
