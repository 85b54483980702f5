// `lab down`: kill everything the servers run (found by namespace, so
// processes in namespaces created inside a server are found too), remove the
// namespaces, links and files the lab recorded, then check nothing is left.
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import { checkLabId, hostLinkNames, MAX_SERVERS, planLab, type LabPlan } from './plan.js';
import { isAlive, killPids, nsOf, nsOfPath, processesIn, sleep, type NsSet } from './proc.js';
import { readState, statePath, type LabState } from './state.js';
import { run } from './sys.js';

const SETTLE_MS = 5_000;

export interface LabDownResult {
  id: string;
  removed: string[];
  leftovers: string[];
}

/** The namespaces whose processes belong to the lab, never the base namespace's own. */
function labNamespaces(state: LabState): NsSet {
  const ns: NsSet = { net: new Set(), mnt: new Set(), pid: new Set() };
  for (const s of state.plan.servers) {
    const rt = state.runtime[s.name] ?? {};
    const fromPath = nsOfPath(`/run/netns/${s.netns}`);
    if (fromPath) ns.net.add(fromPath);
    if (rt.netNs) ns.net.add(rt.netNs);
    // A recorded PID counts only while it is still in the server's namespace (PIDs are reused).
    for (const pid of [rt.sshdPid, rt.launcherPid]) {
      if (pid && isAlive(pid) && ns.net.has(nsOf(pid, 'net') ?? -1)) {
        for (const k of ['mnt', 'pid'] as const) {
          const v = nsOf(pid, k);
          if (v) ns[k].add(v);
        }
      }
    }
    if (rt.mntNs) ns.mnt.add(rt.mntNs);
    if (rt.pidNs) ns.pid.add(rt.pidNs);
  }
  // Whatever runs in a server's network namespace brings its mount and PID namespaces in.
  for (const pid of processesIn({ net: ns.net, mnt: new Set(), pid: new Set() })) {
    const m = nsOf(pid, 'mnt');
    const p = nsOf(pid, 'pid');
    if (m) ns.mnt.add(m);
    if (p) ns.pid.add(p);
  }
  for (const k of ['net', 'mnt', 'pid'] as const) ns[k].delete(nsOf('self', k) ?? -1);
  return ns;
}

async function killAll(ns: NsSet, state: LabState): Promise<number[]> {
  // Each sshd is PID 1 of its server's PID namespace: killing it makes the
  // kernel kill everything in that namespace, and lets its launcher reap it
  // (an orphan would stay a zombie here, PID 1 does not reap).
  const inits = Object.values(state.runtime)
    .map((rt) => rt.sshdPid)
    .filter((pid): pid is number => !!pid && isAlive(pid) && ns.pid.has(nsOf(pid, 'pid') ?? -1));
  killPids(inits);
  for (let i = 0; i < 20 && inits.some(isAlive); i++) await sleep(10);
  const deadline = Date.now() + SETTLE_MS;
  let pids = processesIn(ns);
  while (pids.length && Date.now() < deadline) {
    killPids(pids);
    await sleep(20);
    pids = processesIn(ns);
  }
  return pids;
}

async function routesInto(plan: LabPlan): Promise<string[]> {
  const prefixes = plan.servers.map((s) => ipaddr.parseCIDR(s.mgmtPrefix));
  const r = await run('ip', ['-j', '-6', 'route', 'show']);
  let routes: Array<{ dst?: string }> = [];
  try {
    routes = JSON.parse(r.stdout || '[]');
  } catch {
    return [];
  }
  return routes
    .map((rt) => rt.dst ?? '')
    .filter((dst) => {
      if (!dst.includes('/')) return false;
      try {
        const [a, len] = ipaddr.parseCIDR(dst);
        return prefixes.some(([p, plen]) => a.kind() === 'ipv6' && len >= plen && (a as ipaddr.IPv6).match(p as ipaddr.IPv6, plen));
      } catch {
        return false;
      }
    });
}

/** What of the lab still exists on this machine. */
export async function findLeftovers(state: LabState, ns: NsSet): Promise<string[]> {
  const left: string[] = [];
  for (const s of state.plan.servers) if (existsSync(`/run/netns/${s.netns}`)) left.push(`namespace ${s.netns}`);
  for (const n of hostLinkNames(state.plan)) if (existsSync(`/sys/class/net/${n}`)) left.push(`interface ${n}`);
  for (const dst of await routesInto(state.plan)) left.push(`route ${dst}`);
  for (const pid of processesIn(ns)) left.push(`process ${pid}`);
  for (const f of state.files) if (existsSync(f)) left.push(`file ${f}`);
  return left;
}

/**
 * A lab whose DIR (and lab.json) is lost, rebuilt from what carries its id on
 * this machine: its server namespaces and host interfaces. Files are not known.
 */
export function discoverState(id: string, dir: string): LabState | undefined {
  checkLabId(id);
  const nsRe = new RegExp(`^mlab-${id}-srv(\\d+)$`);
  const linkRe = new RegExp(`^ml${id}(mgmt|data|m\\d+|d\\d+)$`);
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  const indexes = netns.map((n) => nsRe.exec(n)).filter((m) => m).map((m) => Number(m![1]));
  const links = readdirSync('/sys/class/net').filter((n) => linkRe.test(n));
  const linkIndexes = links.map((n) => /(\d+)$/.exec(n.slice(2 + id.length))).filter((m) => m).map((m) => Number(m![1]));
  const servers = Math.max(0, ...indexes, ...linkIndexes);
  if (!servers && !links.length) return undefined;
  const plan = planLab({ id, servers: Math.min(Math.max(servers, 1), MAX_SERVERS) });
  return { version: 1, id, dir, createdDir: false, phase: 'failed', plan, files: [], runtime: {} };
}

export async function labDown(opts: { dir?: string; id?: string }): Promise<LabDownResult> {
  const dir = resolve(opts.dir ?? '.myikev2-lab');
  const recorded = readState(dir);
  if (recorded && opts.id && recorded.id !== opts.id) {
    throw new MyikeError('E_LAB_USAGE', `${statePath(dir)} records lab ${recorded.id}, not ${opts.id}`, {
      hint: `drop --id to bring down lab ${recorded.id}, or give the --dir of lab ${opts.id}`,
      exitCode: EXIT_USAGE,
    });
  }
  const state = recorded ?? (opts.id ? discoverState(opts.id, dir) : undefined);
  if (!state) {
    throw new MyikeError('E_LAB_NONE', opts.id ? `no lab ${opts.id} on this machine and no ${statePath(dir)}` : `no lab recorded in ${dir} (no ${statePath(dir)})`, {
      hint: 'give the --dir the lab was brought up with (or --id ID if its directory is lost); `ip netns list | grep mlab-` shows labs',
      exitCode: EXIT_USAGE,
    });
  }
  const removed: string[] = [];
  const ns = labNamespaces(state);

  const stuck = await killAll(ns, state);
  if (!stuck.length && ns.pid.size + ns.net.size) removed.push('processes');

  for (const s of state.plan.servers) {
    if (!existsSync(`/run/netns/${s.netns}`)) continue;
    const r = await run('ip', ['netns', 'delete', s.netns]);
    if (r.code === 0) removed.push(`namespace ${s.netns}`);
  }
  // Veth ends go with their namespace; bridges (and the routes over them) are deleted here.
  for (const name of hostLinkNames(state.plan)) {
    if (!existsSync(`/sys/class/net/${name}`)) continue;
    const r = await run('ip', ['link', 'delete', name]);
    if (r.code === 0) removed.push(`interface ${name}`);
  }
  for (const dst of await routesInto(state.plan)) {
    await run('ip', ['-6', 'route', 'delete', dst]);
  }

  for (const f of state.files) {
    if (!existsSync(f)) continue;
    try {
      if (statSync(f).isDirectory()) rmdirSync(f);
      else rmSync(f);
      removed.push(`file ${f}`);
    } catch {
      /* reported as a leftover below */
    }
  }

  // Namespace and veth removal finish asynchronously in the kernel: give them a moment.
  let leftovers = await findLeftovers(state, ns);
  const deadline = Date.now() + SETTLE_MS;
  while (leftovers.length && Date.now() < deadline) {
    await sleep(50);
    leftovers = await findLeftovers(state, ns);
  }
  if (!leftovers.length && recorded) {
    rmSync(statePath(dir), { force: true });
    if (state.createdDir && existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  }
  return { id: state.id, removed, leftovers };
}
