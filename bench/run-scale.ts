// Benchmark of `myikev2 run` / `teardown` on a lab of 3 real SSH servers:
//   1. bring-up and teardown of 100 instances per server (other instances
//      that just sleep), from `myikev2 run` start to its summary, and from
//      `teardown` start to verified-clean;
//      then one server's share alone (100 instances on one server), which is
//      what each server does when the servers do not share 2 cores;
//   2. the same plumbing for 20 instances per server done by myikev2 and by
//      an Ansible playbook written the way a typical user writes one (loop
//      tasks), and the ratio.
// Run as root after `npm run build`: node dist/bench/run-scale.js [--per-server N] [--ansible-per-server M (0: skip)]
// Everything happens inside the lab's namespaces; the lab is removed at the end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { labDown, labUp, type Lab } from '../src/lab/index.js';
import { CLI } from '../test/support/paths.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const PER_SERVER = arg('--per-server', 100);
const ANSIBLE_PER_SERVER = arg('--ansible-per-server', 20);
const SERVERS = 3;

function recipe(name: string, perServer: number, servers = SERVERS): string {
  const lines = [`name: ${name}`, 'instancelist:'];
  let id = 1;
  for (let s = 1; s <= servers; s++)
    for (let k = 0; k < perServer; k++, id++)
      lines.push(`  ${id}:`, `    name: i${id}`, `    daemonname: srv${s}`, '    other:', '      upcmds: exec sleep 3600');
  return lines.join('\n') + '\n';
}

/** CPU seconds the whole machine has spent busy (all cores, every process and the kernel), from /proc/stat. */
function machineBusySeconds(): number {
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ
}

/** A command's wall time, and the machine's busy CPU time meanwhile (seconds). */
interface Timed {
  wall: number;
  cpu: number;
}

function timed(label: string, cmd: string[], env: NodeJS.ProcessEnv): Timed {
  const start = performance.now();
  const busy = machineBusySeconds();
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env, timeout: 1_800_000, maxBuffer: 64 << 20 });
  const s = (performance.now() - start) / 1000;
  const cpu = machineBusySeconds() - busy;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status ?? r.signal}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return { wall: s, cpu };
}

/** How much of the machine a command used: when it is near all of it, the wall time cannot drop below cpu / cores. */
const cpuUse = (t: Timed) => `machine busy ${t.cpu.toFixed(1)} CPU-s of ${(t.wall * cpus().length).toFixed(1)}, floor at full use ${(t.cpu / cpus().length).toFixed(2)} s`;

/** A playbook as users typically write it: one loop task per step. */
function ansiblePlaybook(n: number): string {
  return `- hosts: servers
  gather_facts: false
  tasks:
    - name: management bridge
      shell: ip link show myikev2mgmtbrg || (ip link add myikev2mgmtbrg type bridge && ip addr add fe80::1/64 dev myikev2mgmtbrg nodad && ip link set myikev2mgmtbrg up)
    - name: namespaces
      command: ip netns add ans-{{ item }}
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: veth pairs
      command: ip link add ansh{{ item }} type veth peer name mgmt0 netns ans-{{ item }}
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: veth on the bridge
      command: ip link set ansh{{ item }} master myikev2mgmtbrg up
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: host routes
      command: ip route replace {{ prefix }}1:{{ '%x' % item }}/128 dev myikev2mgmtbrg
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: loopback up
      command: ip -n ans-{{ item }} link set lo up
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: management interface up
      command: ip -n ans-{{ item }} link set mgmt0 up
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: management address
      command: ip -n ans-{{ item }} addr add {{ prefix }}1:{{ '%x' % item }}/64 dev mgmt0 nodad
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: default route
      command: ip -n ans-{{ item }} route add ::/0 via fe80::1 dev mgmt0
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: flush xfrm state
      command: ip -n ans-{{ item }} xfrm state flush
      loop: "{{ range(1, ${n} + 1) | list }}"
    - name: flush xfrm policy
      command: ip -n ans-{{ item }} xfrm policy flush
      loop: "{{ range(1, ${n} + 1) | list }}"
`;
}

function inventory(lab: Lab): string {
  const hosts = lab.servers
    .map((s) => `${s.name} ansible_host=${s.sshAddr} prefix=${s.mgmtPrefix.replace(/::\/64$/, '::')}`)
    .join('\n');
  return `[servers]\n${hosts}\n[servers:vars]\nansible_user=root\nansible_ssh_private_key_file=${lab.keyPath}\nansible_ssh_common_args='-o UserKnownHostsFile=${lab.knownHostsPath} -o StrictHostKeyChecking=yes'\nansible_python_interpreter=/usr/bin/python3\n`;
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'myikev2-bench-'));
  const env = { ...process.env, MYIKEV2_STATE_DIR: join(tmp, 'state') };
  const myikev2 = [process.execPath, CLI];
  let lab: Lab | undefined;
  try {
    lab = await labUp({ servers: SERVERS, dir: join(tmp, 'lab') });
    const cfg = lab.controllerConfigPath;
    console.log(`lab: ${SERVERS} servers up (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);

    const big = join(tmp, 'big.yaml');
    writeFileSync(big, recipe('bench-big', PER_SERVER));
    const n = SERVERS * PER_SERVER;
    // First with the bundle uploaded to each server; then as it usually is (bundle there, no daemon running).
    let up = 0;
    for (const round of ['first run, uploads the bundle', 'second run']) {
      const upT = timed('run', [...myikev2, 'run', '--json', '-c', cfg, big], env);
      const downT = timed('teardown', [...myikev2, 'teardown', '--json', '--no-logs', '-c', cfg, big], env);
      up = upT.wall;
      console.log(`myikev2 run      ${SERVERS} x ${PER_SERVER} instances: ${up.toFixed(2)} s  (${(n / up).toFixed(0)} instances/s; target <= 3 s; ${round}; ${cpuUse(upT)})`);
      console.log(`myikev2 teardown ${SERVERS} x ${PER_SERVER} instances: ${downT.wall.toFixed(2)} s  (verified clean; target <= 1.5 s; ${cpuUse(downT)})`);
    }
    // One server's share alone: the lab's servers share this machine's cores; real servers would not.
    const single = join(tmp, 'single.yaml');
    writeFileSync(single, recipe('bench-single', PER_SERVER, 1));
    const upOne = timed('run (one server)', [...myikev2, 'run', '--json', '-c', cfg, single], env);
    const downOne = timed('teardown (one server)', [...myikev2, 'teardown', '--json', '--no-logs', '-c', cfg, single], env);
    console.log(`one server's share alone, 1 x ${PER_SERVER} instances (as each of 3 servers with their own 2 cores): run ${upOne.wall.toFixed(2)} s (${cpuUse(upOne)}), teardown ${downOne.wall.toFixed(2)} s (${cpuUse(downOne)})`);
    // The machine's own floor: the same number of processes started from one shell, nothing else.
    const floor = timed('process floor', ['bash', '-c', `for i in $(seq ${n}); do sleep 30 & done; kill $(jobs -p); wait; exit 0`], env).wall;
    console.log(`floor: ${n} sleep processes started from one bash loop: ${floor.toFixed(2)} s (run / floor: ${(up / floor).toFixed(1)}x)`);

    if (ANSIBLE_PER_SERVER === 0) return; // --ansible-per-server 0: no comparison
    const small = join(tmp, 'small.yaml');
    writeFileSync(small, recipe('bench-small', ANSIBLE_PER_SERVER));
    const ours = timed('run (small)', [...myikev2, 'run', '--json', '-c', cfg, small], env).wall;
    timed('teardown (small)', [...myikev2, 'teardown', '--json', '--no-logs', '-c', cfg, small], env);
    const which = spawnSync('sh', ['-c', 'command -v ansible-playbook']);
    if (which.status !== 0) {
      console.log(`myikev2 run      ${SERVERS} x ${ANSIBLE_PER_SERVER}: ${ours.toFixed(2)} s; Ansible comparison skipped: apt-get install ansible-core`);
      return;
    }
    writeFileSync(join(tmp, 'inventory.ini'), inventory(lab));
    writeFileSync(join(tmp, 'plumb.yml'), ansiblePlaybook(ANSIBLE_PER_SERVER));
    const ansEnv = { ...env, ANSIBLE_HOST_KEY_CHECKING: 'True', ANSIBLE_FORKS: String(SERVERS), ANSIBLE_LOCAL_TEMP: join(tmp, 'ansible-local'), ANSIBLE_REMOTE_TEMP: '/tmp/.ansible-bench' };
    const ansible = timed('ansible', ['ansible-playbook', '-i', join(tmp, 'inventory.ini'), join(tmp, 'plumb.yml')], ansEnv).wall;
    console.log(`same plumbing, ${SERVERS} x ${ANSIBLE_PER_SERVER} namespaces: myikev2 ${ours.toFixed(2)} s (incl. starting the instances), Ansible loop playbook ${ansible.toFixed(2)} s`);
    console.log(`ratio Ansible / myikev2: ${(ansible / ours).toFixed(1)}x (target >= 50x)`);
  } finally {
    if (lab) {
      const r = await labDown({ dir: lab.dir });
      if (r.leftovers.length) console.log(`lab down left: ${r.leftovers.join(', ')}`);
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
