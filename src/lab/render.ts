// Pure renderers: plan -> text (ip batch scripts, sshd_config, start script,
// known_hosts, controller.yaml). Golden-tested; no I/O here.
import { stringify } from 'yaml';
import { DAEMON_PORT, SSH_PORT, type LabPlan, type PlannedServer } from './plan.js';

export interface ServerPaths {
  dir: string; // DIR/srvN (absolute)
  hostKey: string;
  sshdConfig: string;
  sshdLog: string;
  consoleLog: string;
}

export function serverPaths(labDir: string, server: string): ServerPaths {
  const dir = `${labDir}/${server}`;
  return {
    dir,
    hostKey: `${dir}/ssh_host_ed25519_key`,
    sshdConfig: `${dir}/sshd_config`,
    sshdLog: `${dir}/sshd.log`,
    consoleLog: `${dir}/console.log`,
  };
}

/** The files `up` writes at the top of DIR. */
export function labFiles(dir: string) {
  return {
    key: `${dir}/id_ed25519`,
    pub: `${dir}/id_ed25519.pub`,
    authorizedKeys: `${dir}/authorized_keys`,
    knownHosts: `${dir}/known_hosts`,
    controller: `${dir}/controller.yaml`,
  };
}

/** Base namespace: bridges, server namespaces, veths, routes to the servers' mgmtaddrprefix. */
export function renderHostBatch(plan: LabPlan): string {
  const l: string[] = [];
  l.push(`link add ${plan.mgmtBridge} type bridge`);
  l.push(`link set ${plan.mgmtBridge} up`);
  l.push(`addr add ${plan.hostAddr6}/64 dev ${plan.mgmtBridge} nodad`);
  l.push(`addr add ${plan.hostAddr4}/24 dev ${plan.mgmtBridge}`);
  if (plan.dataBridge) {
    l.push(`link add ${plan.dataBridge} type bridge`);
    l.push(`link set ${plan.dataBridge} up`);
  }
  for (const s of plan.servers) {
    l.push(`netns add ${s.netns}`);
    l.push(`link add ${s.hostMgmtVeth} type veth peer name ${s.mgmtIf} netns ${s.netns}`);
    l.push(`link set ${s.hostMgmtVeth} master ${plan.mgmtBridge} up`);
    if (s.hostDataVeth && plan.dataBridge) {
      l.push(`link add ${s.hostDataVeth} type veth peer name ${s.dataIfs[0]!.name} netns ${s.netns}`);
      l.push(`link set ${s.hostDataVeth} master ${plan.dataBridge} up`);
    }
  }
  const byName = new Map(plan.servers.map((s) => [s.name, s]));
  for (const k of plan.links) {
    // Both ends are created directly inside the servers: no host-visible name.
    l.push(`link add ${k.aIf} netns ${byName.get(k.a)!.netns} type veth peer name ${k.bIf} netns ${byName.get(k.b)!.netns}`);
  }
  for (const s of plan.servers) {
    l.push(`route add ${s.mgmtPrefix} via ${s.sshAddr} dev ${plan.mgmtBridge}`);
  }
  return l.join('\n') + '\n';
}

/** Inside one server's namespace (run with `ip -n NETNS -batch -`); idempotent, so it can be rerun. */
export function renderServerBatch(s: PlannedServer): string {
  const l: string[] = ['link set lo up'];
  l.push(`addr replace ${s.sshAddr}/64 dev ${s.mgmtIf} nodad`);
  l.push(`addr replace ${s.sshAddr4}/24 dev ${s.mgmtIf}`);
  l.push(`link set ${s.mgmtIf} up`);
  for (const d of s.dataIfs) {
    l.push(`addr replace ${d.addr6}/64 dev ${d.name} nodad`);
    l.push(`addr replace ${d.addr4}/${d.prefix4.split('/')[1]} dev ${d.name}`);
    l.push(`link set ${d.name} up`);
  }
  return l.join('\n') + '\n';
}

export function renderSshdConfig(plan: LabPlan, s: PlannedServer, paths: ServerPaths, authorizedKeys: string, extra: string[] = []): string {
  // The first value of a keyword wins in sshd_config: this file is complete
  // and includes nothing, and the caller's extra lines come first to override.
  return [
    `# myikev2 lab ${plan.id}, server ${s.name}`,
    ...(extra.length ? ['# extra lines given to lab up (they win over the defaults below)', ...extra, '# lab defaults'] : []),
    `Port ${SSH_PORT}`,
    'ListenAddress ::',
    'ListenAddress 0.0.0.0',
    `HostKey ${paths.hostKey}`,
    'PidFile /run/sshd.pid',
    `AuthorizedKeysFile ${authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'AllowStreamLocalForwarding yes',
    'AllowTcpForwarding yes',
    'UseDNS no',
    'PrintMotd no',
    'LogLevel INFO',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/**
 * The command that runs one server: a private mount, PID and UTS namespace
 * inside the server's network namespace, with its own /run and an empty
 * /root; sshd is PID 1 there, so killing it takes everything the server
 * started with it (and the namespaces created inside vanish).
 */
export function serverCommand(plan: LabPlan, s: PlannedServer, paths: ServerPaths): string[] {
  const script = [
    'set -e',
    `hostname ${s.name}`,
    `mount -t tmpfs -o mode=0755,size=64m run-${plan.id}-${s.name} /run`,
    'mkdir -m 0755 /run/sshd /run/netns',
    `mount -t tmpfs -o mode=0700,size=64m root-${plan.id}-${s.name} /root`,
    // Forwarding inside the server only, so the controller reaches instances
    // on the server's myikev2mgmtbrg through the server.
    'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding',
    'echo 1 > /proc/sys/net/ipv4/ip_forward',
    // A management link set down and up again (a network outage to test) keeps its addresses, as a real server's would.
    'echo 1 > /proc/sys/net/ipv6/conf/all/keep_addr_on_down',
    `exec /usr/sbin/sshd -D -f ${paths.sshdConfig} -E ${paths.sshdLog}`,
  ].join('\n');
  return ['ip', 'netns', 'exec', s.netns, 'unshare', '--mount', '--pid', '--fork', '--uts', '--mount-proc', '--propagation', 'private', 'sh', '-c', script];
}

/** known_hosts: each server's real host key under its IPv6 and IPv4 lab addresses. */
export function renderKnownHosts(plan: LabPlan, hostKeys: Record<string, string>): string {
  return plan.servers
    .map((s) => {
      const [type, key] = hostKeys[s.name]!.trim().split(/\s+/);
      return `${s.sshAddr},${s.sshAddr4} ${type} ${key}`;
    })
    .join('\n') + '\n';
}

export function renderControllerYaml(plan: LabPlan, keyPath: string, knownHostsPath: string): string {
  const daemonlist: Record<string, unknown> = {};
  for (const s of plan.servers) {
    daemonlist[s.name] = {
      daemonaddr: s.sshAddr,
      daemonport: DAEMON_PORT,
      sshaddr: s.sshAddr,
      sshport: SSH_PORT,
      sshuser: 'root',
      sshpass: '',
      sshkeypath: keyPath,
      knownhosts: knownHostsPath,
      // Lab servers share /var/lib but not /run: each daemon keeps its state in its own /run.
      statedir: '/run/myikev2/daemon',
      mgmtaddrprefix: s.mgmtPrefix,
    };
  }
  const header = `# myikev2 lab ${plan.id}: controller config written by 'myikev2 lab up'\n`;
  return header + stringify({ daemonlist, varlist: {}, autoassignmgmtip: true });
}
