// `lab up`: plan, record the plan, create the network in one batch, start
// the servers in parallel, wait until every sshd answers.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import { hostLinkNames, planLab, randomLabId, SSH_PORT, type LabPlan } from './plan.js';
import { childPids, isAlive, nsOf, sleep } from './proc.js';
import { labFiles, renderControllerYaml, renderHostBatch, renderKnownHosts, renderServerBatch, renderSshdConfig, serverCommand, serverPaths } from './render.js';
import { readState, statePath, writeState, type LabState } from './state.js';
import { checkPrerequisites, run, runOk, sshAnswers } from './sys.js';
import { labDown } from './down.js';
import type { Lab, LabUpOptions } from './types.js';
import { toLab } from './types.js';

export const DEFAULT_DIR = '.myikev2-lab';
const SSHD_WAIT_MS = 10_000;

/** Every file and directory `up` may create, deepest first (the removal order). */
export function plannedFiles(plan: LabPlan, dir: string): string[] {
  const f = labFiles(dir);
  const out = [f.key, f.pub, f.authorizedKeys, f.knownHosts, f.controller];
  for (const s of plan.servers) {
    const p = serverPaths(dir, s.name);
    out.push(p.hostKey, `${p.hostKey}.pub`, p.sshdConfig, p.sshdLog, p.consoleLog, p.dir);
  }
  return out;
}

/** Names and prefixes already used on this machine that the plan would take. */
export async function conflicts(plan: LabPlan): Promise<string[]> {
  const found: string[] = [];
  for (const s of plan.servers) if (existsSync(`/run/netns/${s.netns}`)) found.push(`namespace ${s.netns}`);
  for (const n of hostLinkNames(plan)) if (existsSync(`/sys/class/net/${n}`)) found.push(`interface ${n}`);
  const ours = [plan.base6, plan.base4].map((c) => ipaddr.parseCIDR(c));
  for (const fam of ['-4', '-6']) {
    const r = await run('ip', ['-j', fam, 'route', 'show', 'table', 'all']);
    let routes: Array<{ dst?: string }> = [];
    try {
      routes = JSON.parse(r.stdout || '[]');
    } catch {
      /* no JSON: nothing to compare */
    }
    for (const rt of routes) {
      if (!rt.dst || rt.dst === 'default') continue;
      let net: [ipaddr.IPv4 | ipaddr.IPv6, number];
      try {
        net = rt.dst.includes('/') ? ipaddr.parseCIDR(rt.dst) : [ipaddr.parse(rt.dst), rt.dst.includes(':') ? 128 : 32];
      } catch {
        continue;
      }
      for (const o of ours) {
        if (o[0].kind() !== net[0].kind()) continue;
        const shorter = Math.min(o[1], net[1]);
        if (shorter === 0) continue; // a default-like route is not a conflict
        if (o[0].match(net[0], shorter)) found.push(`route ${rt.dst} overlaps lab prefix ${o[0].toString()}/${o[1]}`);
      }
    }
  }
  return found;
}

export async function labUp(opts: LabUpOptions = {}): Promise<Lab> {
  checkPrerequisites();
  const dir = resolve(opts.dir ?? DEFAULT_DIR);
  // The path goes into sshd_config and the server's start script: keep it plain.
  if (!/^[\w./+@:,=-]+$/.test(dir)) {
    throw new MyikeError('E_LAB_USAGE', `lab directory '${dir}' contains spaces or shell characters`, {
      hint: 'choose a --dir made of letters, digits and . _ - / + @ : , =',
      exitCode: EXIT_USAGE,
    });
  }
  const servers = opts.servers ?? 3;
  for (const line of opts.sshdConfig ?? []) {
    // One plain option per line: a Match or Include would capture the lab's own lines after it.
    if (!/^[A-Za-z][A-Za-z0-9]*\s+\S[^\r\n]*$/.test(line) || /^(match|include)\s/i.test(line)) {
      throw new MyikeError('E_LAB_USAGE', `invalid sshd_config line '${line}'`, {
        hint: "give one 'Keyword value' per option, e.g. --sshd-config 'AllowStreamLocalForwarding no'",
        exitCode: EXIT_USAGE,
      });
    }
  }
  const existing = existsSync(statePath(dir)) ? readState(dir) : undefined;
  if (existing) {
    throw new MyikeError('E_LAB_EXISTS', `a lab (id ${existing.id}) is already recorded in ${dir}`, {
      hint: `bring it down first: myikev2 lab down --dir ${dir}`,
      exitCode: EXIT_USAGE,
    });
  }

  // A random id that collides with something on the machine is drawn again;
  // a chosen id (or prefix) that collides is the user's to change.
  let plan: LabPlan | undefined;
  for (let attempt = 0; attempt < 8 && !plan; attempt++) {
    const id = opts.id ?? randomLabId();
    const candidate = planLab({ id, servers, data: opts.data, prefix6: opts.prefix6, prefix4: opts.prefix4 });
    const clash = await conflicts(candidate);
    if (!clash.length) plan = candidate;
    else if (opts.id || opts.prefix6 || opts.prefix4) {
      throw new MyikeError('E_LAB_CONFLICT', `lab ${id} would collide with what is on this machine: ${clash.join('; ')}`, {
        hint: 'choose another --id (or --prefix6/--prefix4), or bring down the lab that uses it',
        exitCode: EXIT_USAGE,
      });
    }
  }
  if (!plan) throw new MyikeError('E_LAB_CONFLICT', 'could not find a free lab id and prefixes', { hint: 'give --prefix6 and --prefix4 that this machine does not use' });

  const createdDir = !existsSync(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: LabState = {
    version: 1,
    id: plan.id,
    dir,
    createdDir,
    phase: 'creating',
    plan,
    files: plannedFiles(plan, dir),
    runtime: {},
  };
  writeState(state);

  try {
    await bringUp(state, opts);
    state.phase = 'up';
    writeState(state);
    return toLab(state);
  } catch (err) {
    state.phase = 'failed';
    writeState(state);
    if (!opts.keepOnFailure) {
      const down = await labDown({ dir }).catch(() => undefined);
      if (err instanceof MyikeError && down && down.leftovers.length) {
        throw new MyikeError(err.code, `${err.message} (and cleanup left: ${down.leftovers.join('; ')})`, { hint: err.hint, server: err.server, step: err.step });
      }
    }
    throw err;
  }
}

async function bringUp(state: LabState, opts: LabUpOptions): Promise<void> {
  const { plan, dir } = state;
  const files = labFiles(dir);
  for (const s of plan.servers) mkdirSync(serverPaths(dir, s.name).dir, { mode: 0o700 });

  const keygen = (path: string, comment: string) =>
    runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], undefined, 'keys');
  await Promise.all([
    keygen(files.key, `myikev2-lab-${plan.id}`),
    ...plan.servers.map((s) => keygen(serverPaths(dir, s.name).hostKey, `${s.name}.lab-${plan.id}`)),
    runOk('ip', ['-batch', '-'], renderHostBatch(plan), 'host network'),
  ]);
  writeFileSync(files.authorizedKeys, readFileSync(files.pub));
  await opts.faultHook?.('network');
  checkAborted(opts);

  await Promise.all(
    plan.servers.map(async (s) => {
      const paths = serverPaths(dir, s.name);
      // Seen once under load: `ip -n` failing with no message; the batch is idempotent, so retry once.
      const batch = renderServerBatch(s);
      if ((await run('ip', ['-n', s.netns, '-batch', '-'], batch)).code !== 0) {
        await sleep(50);
        await runOk('ip', ['-n', s.netns, '-batch', '-'], batch, 'server network', s.name);
      }
      writeFileSync(paths.sshdConfig, renderSshdConfig(plan, s, paths, files.authorizedKeys, opts.sshdConfig));
      const out = openSync(paths.consoleLog, 'a', 0o600);
      const [cmd, ...args] = serverCommand(plan, s, paths);
      const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', out, out] });
      closeSync(out);
      child.on('error', () => undefined);
      child.unref();
      state.runtime[s.name] = { launcherPid: child.pid };
      writeState(state);
    }),
  );
  await opts.faultHook?.('servers-started');
  checkAborted(opts);

  const hostKeys: Record<string, string> = {};
  for (const s of plan.servers) hostKeys[s.name] = readFileSync(`${serverPaths(dir, s.name).hostKey}.pub`, 'utf8');
  writeFileSync(files.knownHosts, renderKnownHosts(plan, hostKeys));
  writeFileSync(files.controller, renderControllerYaml(plan, files.key, files.knownHosts));
  chmodSync(files.key, 0o600);

  await Promise.all(plan.servers.map((s) => waitForServer(state, s.name, opts)));
  writeState(state);
}

function checkAborted(opts: LabUpOptions): void {
  if (opts.signal?.aborted) {
    throw new MyikeError('E_LAB_INTERRUPTED', 'lab up was interrupted', { hint: 'run lab up again when ready' });
  }
}

async function waitForServer(state: LabState, name: string, opts: LabUpOptions): Promise<void> {
  const s = state.plan.servers.find((x) => x.name === name)!;
  const rt = state.runtime[name]!;
  const deadline = Date.now() + SSHD_WAIT_MS;
  while (!(await sshAnswers(s.sshAddr, SSH_PORT, 500))) {
    if (!rt.launcherPid || !isAlive(rt.launcherPid) || Date.now() > deadline) {
      const log = [serverPaths(state.dir, name).consoleLog, serverPaths(state.dir, name).sshdLog]
        .map((f) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : ''))
        .filter(Boolean)
        .join('\n')
        .slice(-600);
      throw new MyikeError('E_LAB_SSHD', `sshd of ${name} did not come up${log ? `: ${log}` : ''}`, {
        server: name,
        step: 'start sshd',
        hint: `see ${serverPaths(state.dir, name).sshdLog}; check that /usr/sbin/sshd runs (sshd -t)`,
      });
    }
    checkAborted(opts);
    await sleep(10);
  }
  // The launcher (unshare) forked sshd as PID 1 of the server's PID namespace.
  const sshd = childPids(rt.launcherPid!)[0];
  if (sshd) {
    rt.sshdPid = sshd;
    rt.netNs = nsOf(sshd, 'net');
    rt.mntNs = nsOf(sshd, 'mnt');
    rt.pidNs = nsOf(sshd, 'pid');
  } else {
    rt.pidNs = nsOf(rt.launcherPid!, 'pid_for_children');
  }
}
