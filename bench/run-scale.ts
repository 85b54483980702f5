// Benchmark of `myikev2 run` / `teardown` on a lab of 3 real SSH servers:
//   1. bring-up and teardown of 100 instances per server (other instances
//      that just sleep), from `myikev2 run` start to its summary, and from
//      `teardown` start to verified-clean;
//      then one server's share alone (100 instances on one server), which is
//      what each server does when the servers do not share 2 cores;
//      then the floor: the same kernel work and process starts by one
//      plain script per server, no tool;
//   2. the same plumbing for 20 instances per server done by myikev2 and by
//      an Ansible playbook written the way a typical user writes one (loop
//      tasks), and the ratio.
// Run as root after `npm run build`: node dist/bench/run-scale.js [--per-server N] [--ansible-per-server M (0: skip)]
// Everything happens inside the lab's namespaces; the lab is removed at the end.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../src/lab/index.js';
import { cpuUse, timed, withLab, type Timed } from './measure.js';

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

/**
 * The work of a run with no tool: per server, the bridge, namespaces, veths
 * and host routes by one `ip -batch`, then a `sleep` started in each
 * namespace the cheapest way (one python3: setns, a private mount namespace
 * with the namespace's /sys as `ip netns exec` does, posix_spawn). Nothing
 * is configured inside the namespaces and nothing is checked, so this is a
 * lower bound of what any tool spends here. All names carry BARE.
 */
const BARE = `bare${process.pid % 10000}`;
const BARE_GROUP = 0x62610000 + (process.pid % 10000); // the veths' link group: deleted in one operation
const BARE_SPAWN = `
import os, sys, ctypes
tag, n = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
home_net, home_mnt = os.open('/proc/self/ns/net', os.O_RDONLY), os.open('/proc/self/ns/mnt', os.O_RDONLY)
null = os.open('/dev/null', os.O_RDWR)
quiet = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
pids = []
for i in range(1, n + 1):
    fd = os.open('/run/netns/%s-%d' % (tag, i), os.O_RDONLY)
    if libc.setns(fd, 0x40000000) or libc.unshare(0x20000) or libc.mount(b'', b'/', b'none', (1 << 19) | 16384, None):
        sys.exit('cannot enter %s-%d: %s' % (tag, i, os.strerror(ctypes.get_errno())))
    os.close(fd)
    libc.umount2(b'/sys', 2)
    libc.mount(b'sysfs', b'/sys', b'sysfs', 0, None)
    pids.append(os.posix_spawn('/usr/bin/sleep', ['sleep', '3600'], {}, setsid=True, file_actions=quiet))
    libc.setns(home_net, 0x40000000); libc.setns(home_mnt, 0x20000)
open('/run/%s.pids' % tag, 'w').write(' '.join(map(str, pids)))
`;

/** A server's management prefix as the start of an address ('fd00:1::/64' → 'fd00:1::'). */
const addressStart = (s: Lab['servers'][number]) => s.mgmtPrefix.replace(/::\/64$/, '::');

function bareUpScript(n: number, prefix: string): string {
  return `set -e
ip link add ${BARE}br type bridge
ip addr add fe80::1/64 dev ${BARE}br nodad
ip link set ${BARE}br up
for i in $(seq ${n}); do
  echo "netns add ${BARE}-$i"
  echo "link add ${BARE}h$i group ${BARE_GROUP} type veth peer name mgmt0 netns ${BARE}-$i"
  echo "link set ${BARE}h$i master ${BARE}br up"
  printf 'route replace ${prefix}2:%x/128 dev ${BARE}br\n' $i
done | ip -batch -
python3 -I -S -c '${BARE_SPAWN.replace(/'/g, "'\\''")}' ${BARE} ${n}
`;
}

function bareDownScript(n: number): string {
  return `kill -KILL $(cat /run/${BARE}.pids) 2>/dev/null; rm -f /run/${BARE}.pids
ip link del ${BARE}br
ip link del group ${BARE_GROUP}
for i in $(seq ${n}); do echo "netns del ${BARE}-$i"; done | ip -batch -
left=$({ ls /run/netns | grep '^${BARE}-'; ip -o link show | grep -o '${BARE}[^:@]*'; } 2>/dev/null)
[ -z "$left" ] || { echo "left:" $left >&2; exit 1; }
`;
}

/** Runs one script per lab server over plain ssh, all at once. */
function onEveryServer(lab: Lab, tmp: string, label: string, script: (s: Lab['servers'][number]) => string, env: NodeJS.ProcessEnv): Timed {
  const ssh = lab.servers.map((s) => {
    const file = join(tmp, `${label}-${s.name}.sh`);
    writeFileSync(file, script(s));
    return `ssh -i ${lab.keyPath} -o UserKnownHostsFile=${lab.knownHostsPath} -o StrictHostKeyChecking=yes -o BatchMode=yes -p ${s.sshPort} root@${s.sshAddr} bash -s < ${file} & pids="$pids $!"`;
  });
  return timed(label, ['bash', '-c', `pids=\n${ssh.join('\n')}\nfail=0; for p in $pids; do wait $p || fail=1; done; exit $fail`], env);
}

function bareWork(lab: Lab, tmp: string, env: NodeJS.ProcessEnv): { up: Timed; down: Timed } {
  let up: Timed;
  try {
    up = onEveryServer(lab, tmp, 'bare-up', (s) => bareUpScript(PER_SERVER, addressStart(s)), env);
  } catch (e) {
    try {
      onEveryServer(lab, tmp, 'bare-down', () => bareDownScript(PER_SERVER), env);
    } catch {
      /* lab down removes the servers and whatever is left in them */
    }
    throw e;
  }
  return { up, down: onEveryServer(lab, tmp, 'bare-down', () => bareDownScript(PER_SERVER), env) };
}

function inventory(lab: Lab): string {
  const hosts = lab.servers
    .map((s) => `${s.name} ansible_host=${s.sshAddr} prefix=${addressStart(s)}`)
    .join('\n');
  return `[servers]\n${hosts}\n[servers:vars]\nansible_user=root\nansible_ssh_private_key_file=${lab.keyPath}\nansible_ssh_common_args='-o UserKnownHostsFile=${lab.knownHostsPath} -o StrictHostKeyChecking=yes'\nansible_python_interpreter=/usr/bin/python3\n`;
}

await withLab(SERVERS, async ({ lab, tmp, env, myikev2 }) => {
  const cfg = lab.controllerConfigPath;

  const big = join(tmp, 'big.yaml');
  writeFileSync(big, recipe('bench-big', PER_SERVER));
  const n = SERVERS * PER_SERVER;
  // First with the bundle uploaded to each server; then as it usually is
  // (bundle there, no daemon running); then with the daemons left running
  // by a `teardown --keep-daemon` (as in a session of repeated test cycles).
  let up = 0;
  let down = 0;
  const rounds = [
    { label: 'first run, uploads the bundle', keepDaemon: false },
    { label: 'second run', keepDaemon: true },
    { label: 'the daemons already running, kept by the last teardown --keep-daemon', keepDaemon: false },
  ];
  for (const [i, round] of rounds.entries()) {
    const upT = timed('run', [...myikev2, 'run', '--json', '-c', cfg, big], env);
    const downT = timed('teardown', [...myikev2, 'teardown', '--json', '--no-logs', ...(round.keepDaemon ? ['--keep-daemon'] : []), '-c', cfg, big], env);
    if (i === 1) up = upT.wall; // the usual case: the bundle is there, no daemon runs
    if (!round.keepDaemon) down = downT.wall;
    console.log(`myikev2 run      ${SERVERS} x ${PER_SERVER} instances: ${upT.wall.toFixed(2)} s  (${(n / upT.wall).toFixed(0)} instances/s; target <= 3 s; ${round.label}; ${cpuUse(upT)})`);
    console.log(`myikev2 teardown ${SERVERS} x ${PER_SERVER} instances: ${downT.wall.toFixed(2)} s  (verified clean${round.keepDaemon ? ', --keep-daemon' : ''}; target <= 1.5 s; ${cpuUse(downT)})`);
  }
  // One server's share alone: the lab's servers share this machine's cores; real servers would not.
  const single = join(tmp, 'single.yaml');
  writeFileSync(single, recipe('bench-single', PER_SERVER, 1));
  const upOne = timed('run (one server)', [...myikev2, 'run', '--json', '-c', cfg, single], env);
  const downOne = timed('teardown (one server)', [...myikev2, 'teardown', '--json', '--no-logs', '-c', cfg, single], env);
  console.log(`one server's share alone, 1 x ${PER_SERVER} instances (as each of 3 servers with their own 2 cores): run ${upOne.wall.toFixed(2)} s (${cpuUse(upOne)}), teardown ${downOne.wall.toFixed(2)} s (${cpuUse(downOne)})`);
  // The machine's own floor: the kernel's work and the process starts of a run, without any tool.
  const bare = bareWork(lab, tmp, env);
  console.log(`floor, the bare work with no tool (one script per server over plain ssh: ${n} namespaces, veths on a bridge, host routes, a sleep started in each namespace; nothing configured inside, nothing checked): ${bare.up.wall.toFixed(2)} s (${cpuUse(bare.up)}); run / bare: ${(up / bare.up.wall).toFixed(2)}x`);
  console.log(`floor, removing it (kill -KILL, delete the bridge, veths and namespaces; nothing stopped gracefully, nothing verified): ${bare.down.wall.toFixed(2)} s (${cpuUse(bare.down)}); teardown / bare: ${(down / bare.down.wall).toFixed(2)}x`);

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
});
