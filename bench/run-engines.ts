// Benchmark of `myikev2 run` / `teardown` with engine instances on a lab of
// 3 real SSH servers: N engine gateways per server, each in its own network
// namespace with its own data interface (a veth the recipe's setupcmds
// create), from `run` start to its summary (every engine's API answers), and
// from `teardown` start to verified clean; the CPU each engine costs and the
// engines' memory. Then the floor: the same engines started by a plain shell
// loop in one namespace (no namespaces, no SSH, no tool), until each one's
// API socket is there; run / floor is what the tool adds.
// Run as root after `npm run build`: node dist/bench/run-engines.js [--per-server N (default 20)]
// Nothing is sent: the gateways wait for clients that never come.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTag } from '../src/run/names.js';
import { PROJECT_ROOT } from '../test/support/paths.js';
import { cpuUse, timed, withLab } from './measure.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const PER_SERVER = Math.min(Math.max(arg('--per-server', 20), 1), 80);
const SERVERS = 3;
const BUNDLE = join(PROJECT_ROOT, 'dist', 'bundle', 'myikev2-server.mjs');
const NAME = 'bench-engines';

function gatewaySetup(ifname: string, cidr: string): string {
  return `role: gateway
desc: bench gateway
numberoftunnels: 1
bindifname: ${ifname}
bindifaddr: ${cidr}
ikeconf:
  psk: bench-psk-not-secret
  dhgrpid: [19]
  ikeencyptalg: [aes-gcm16:128]
  ikeprfalg: [sha256]
  childlist:
  - encalg: [aes-gcm16:128]
    ownts:
    - {type: v4, startaddr: 10.20.0.0, endaddr: 10.20.255.255}
    peerts:
    - {type: v4, startaddr: 10.10.0.0, endaddr: 10.10.255.255}
`;
}

/** The recipe: PER_SERVER gateways per server, gateway k on veth zbe<k> (10.77.k.1/24), which setupcmds create and cleancmds remove. */
function writeRecipe(dir: string): string {
  for (let k = 1; k <= PER_SERVER; k++) writeFileSync(join(dir, `gw${k}.yaml`), gatewaySetup(`zbe${k}`, `10.77.${k}.1/24`));
  const servers = Array.from({ length: SERVERS }, (_, i) => `srv${i + 1}`);
  const lines = [`name: ${NAME}`, 'setupcmds:'];
  for (const s of servers) lines.push(`- daemonname: ${s}`, `  cmds: for k in $(seq ${PER_SERVER}); do ip link show zbe$k >/dev/null 2>&1 || ip link add zbe$k type veth peer name zbp$k; done`);
  lines.push('cleancmds:');
  for (const s of servers) lines.push(`- daemonname: ${s}`, `  cmds: for k in $(seq ${PER_SERVER}); do ip link del zbe$k 2>/dev/null || true; done`);
  lines.push('instancelist:');
  let id = 1;
  for (const s of servers)
    for (let k = 1; k <= PER_SERVER; k++, id++) lines.push(`  ${id}:`, `    name: g${id}`, `    daemonname: ${s}`, '    myikev2:', `      setuppath: gw${k}.yaml`);
  const file = join(dir, 'engines.yaml');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Resident memory (MB) of the engines of the run, all lab servers together (they share this machine's process table). */
function enginesRssMb(): { count: number; mb: number } {
  const out = spawnSync('sh', ['-c', `for p in $(pgrep -f '[e]xec -f /run/myikev2/runs/${runTag(NAME)}/'); do awk '/^VmRSS/ {print $2}' /proc/$p/status; done`], { encoding: 'utf8' }).stdout;
  const kb = out.split('\n').filter(Boolean).map(Number);
  return { count: kb.length, mb: kb.reduce((a, b) => a + b, 0) / 1024 };
}

/**
 * The floor: the same number of engines started by a shell loop in this
 * namespace, on addresses of one veth of ours (zbfl0, 10.78.0.0/16), without
 * their own addresses work (--no-netconf) and TCP listener (--no-tcp), timed
 * until every API socket is there; then stopped and removed.
 */
function floorScript(dir: string, n: number): string {
  const fl = join(dir, 'floor');
  mkdirSync(fl);
  const addrs: string[] = [];
  for (let i = 1; i <= n; i++) {
    const cidr = `10.78.${i >> 8}.${(i & 255) || 1}/16`;
    addrs.push(`addr add ${cidr} dev zbfl0`);
    writeFileSync(join(fl, `gw${i}.yaml`), gatewaySetup('zbfl0', cidr));
  }
  writeFileSync(join(fl, 'addrs.batch'), addrs.join('\n') + '\n');
  return `set -e
ip link add zbfl0 type veth peer name zbfl1
trap 'kill $pids 2>/dev/null; wait; ip link del zbfl0' EXIT
ip -batch ${fl}/addrs.batch
ip link set zbfl0 up
pids=
start=$(date +%s%N)
for i in $(seq ${n}); do
  node --max-semi-space-size=1 ${BUNDLE} exec -f ${fl}/gw$i.yaml --run-dir ${fl}/r$i --no-tcp --no-netconf >/dev/null 2>&1 &
  pids="$pids $!"
done
for t in $(seq 1200); do
  up=0; for i in $(seq ${n}); do [ -S ${fl}/r$i/api.sock ] && up=$((up+1)); done
  [ $up -eq ${n} ] && break
  sleep 0.05
done
[ $up -eq ${n} ] || { echo "only $up of ${n} engines came up" >&2; exit 1; }
echo $(( ($(date +%s%N) - start) / 1000000 ))
`;
}

await withLab(SERVERS, async ({ lab, tmp, env, myikev2 }) => {
  const n = SERVERS * PER_SERVER;
  const cfg = lab.controllerConfigPath;
  const recipe = writeRecipe(tmp);
  const up = timed('run', [...myikev2, 'run', '--json', '-c', cfg, recipe], env);
  const mem = enginesRssMb();
  const down = timed('teardown', [...myikev2, 'teardown', '--json', '--no-logs', '-c', cfg, recipe], env);
  console.log(`myikev2 run      ${SERVERS} x ${PER_SERVER} engine gateways (own namespace and data interface each): ${up.wall.toFixed(2)} s, every API answering (${cpuUse(up)}; ${(up.cpu / n).toFixed(2)} CPU-s per engine)`);
  console.log(`engines' memory: ${mem.count} engines, ${mem.mb.toFixed(0)} MB resident, ${(mem.mb / Math.max(mem.count, 1)).toFixed(1)} MB each`);
  console.log(`myikev2 teardown ${SERVERS} x ${PER_SERVER} engine gateways: ${down.wall.toFixed(2)} s, verified clean (${cpuUse(down)})`);
  const script = join(tmp, 'floor.sh');
  writeFileSync(script, floorScript(tmp, n));
  const floor = timed('floor', ['bash', script], env);
  console.log(`floor, the same ${n} engines started by a shell loop in one namespace (no namespaces, SSH or tool; until every API socket is there): ${floor.wall.toFixed(2)} s (${cpuUse(floor)}; ${(floor.cpu / n).toFixed(2)} CPU-s per engine); run / floor: ${(up.wall / floor.wall).toFixed(2)}x`);
});
