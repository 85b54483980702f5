// Starting one instance under its server's daemon and waiting until it is
// up; stopping instances of a run. Used by run, teardown and the shell.
import { setTimeout as sleep } from 'node:timers/promises';
import { MyikeError } from '../errors.js';
import type { InstanceConf } from '../model/recipe-types.js';
import type { InstanceInfo } from '../daemon/protocol.js';
import { shq } from '../transport/transport.js';
import type { InstanceRecord } from './manifest.js';
import { DETACHED } from './plan.js';
import type { ServerSession } from './servers.js';

export type UpState = 'running' | typeof DETACHED;

/** Environment every instance (and its setupcmds/destroycmds) sees. */
export function instanceEnv(tag: string, r: InstanceRecord): Record<string, string> {
  return {
    MYIKEV2_TAG: tag,
    MYIKEV2_INSTANCE: r.name,
    MYIKEV2_NETNS: r.netns,
    MYIKEV2_RUN_DIR: r.runDir,
    MYIKEV2_DATAIF: r.dataIf ?? '',
  };
}

/** A shell command line running `cmds` inside the instance's namespace, with its environment. */
export function inNamespace(tag: string, r: InstanceRecord, cmds: string): string {
  const env = Object.entries(instanceEnv(tag, r)).map(([k, v]) => `${k}=${shq(v)}`);
  return `mkdir -p ${shq(r.runDir)} && cd ${shq(r.runDir)} && env ${env.join(' ')} ip netns exec ${shq(r.netns)} sh -e -c ${shq(cmds)}`;
}

/** addressesSet: its addresses were set with its namespace (renderNamespaceBatches), in this run. */
export function engineArgv(s: Pick<ServerSession, 'bundlePath'>, r: InstanceRecord, addressesSet: boolean): string[] {
  // A 1 MB young generation halves the engine's peak RSS per tunnel (and its CPU) at 1,000 tunnels: bench/engine-scale.
  const argv = ['node', '--max-semi-space-size=1', s.bundlePath, 'exec', '-f', `${r.runDir}/setup.yaml`, '--run-dir', r.runDir];
  // A restarted engine adds any address missing (a namespace configured by an older myikev2) and removes only those.
  return addressesSet ? [...argv, '--no-netconf'] : argv;
}

/** The step an instance's start failures name (a failed run's rollback finds the instance by it). */
export const startStep = (name: string): string => `start ${name}`;

const ENGINE_API_SOCKET = 'api.sock';

/** The engine instance's API socket on its server. */
export const engineApiSocket = (r: Pick<InstanceRecord, 'runDir'>): string => `${r.runDir}/${ENGINE_API_SOCKET}`;

const PLAIN_WORDS = /^[A-Za-z0-9_./:,@%+=-]+(?:[ \t]+[A-Za-z0-9_./:,@%+=-]+)*$/;
const SHELL_ONLY = new Set([':', 'cd', 'export', 'set', 'unset', 'ulimit', 'umask', 'trap', 'exit', 'return', 'source', '.', 'eval', 'readonly', 'wait', 'shift', 'alias', 'local', 'read', 'type', 'command', 'hash', 'times', 'getopts', 'break', 'continue', 'if', 'for', 'while', 'until', 'case']);

/**
 * How a command line runs: words without any shell syntax (no quotes, $,
 * globs, redirections, ;, &, |, ~, #) are executed directly, which saves a
 * shell start per instance; anything else runs under `sh -c`.
 */
export function commandArgv(cmd: string): string[] {
  const line = cmd.trim();
  if (PLAIN_WORDS.test(line)) {
    const words = line.split(/[ \t]+/);
    if (words[0] === 'exec') words.shift();
    if (words.length && !words[0].includes('=') && !SHELL_ONLY.has(words[0])) return words;
  }
  return ['sh', '-c', cmd];
}

/** In an other instance's run directory once its setupcmds succeeded there (the directory goes with the namespace). */
export const SETUPCMDS_DONE = '.myikev2-setupcmds-done';

/** The file the daemon writes an instance's output to (stdout and stderr, in order). */
export const instanceLog = (r: Pick<InstanceRecord, 'logdir' | 'daemonName'>): string => `${r.logdir}/${r.daemonName}.log`;

/**
 * other.setupcmds run once per namespace: in a new one always, in one whose
 * instance is started again (it crashed, or was stopped) only if they have
 * not succeeded there yet; what they did (an address on lo, files in the
 * run directory) is still there, and most commands fail a second time.
 * Their output (both streams, in order) comes back as stdout and also goes
 * to the instance's log, ahead of what its program writes there; their exit
 * status passes around `tee` on fd 4 (closed for the commands: a process
 * they leave running must not hold the pipe open).
 */
export function setupcmdsLine(tag: string, r: InstanceRecord, cmds: string, created: boolean): string {
  const done = shq(`${r.runDir}/${SETUPCMDS_DONE}`);
  const lines = [
    ...(created ? [] : [`test -e ${done} && exit 0`]),
    `mkdir -p -m 0750 ${shq(r.logdir)} || exit`,
    'exec 3>&1',
    `rc=$( { { (${inNamespace(tag, r, cmds)}) 2>&1 3>&- 4>&-; echo $? >&4; } | (umask 027; exec tee -a ${shq(instanceLog(r))}) >&3; } 4>&1 )`,
    '[ "$rc" = 0 ] || exit "${rc:-1}"',
    `touch ${done}`,
  ];
  return lines.join('\n');
}

/**
 * Runs other.setupcmds (see setupcmdsLine), then spawns the instance's program under the daemon;
 * resolves with the time (Date.now()) it was running. created: its namespace
 * was created (and configured) by this run.
 */
export async function startInstance(s: ServerSession, tag: string, conf: InstanceConf, r: InstanceRecord, created: boolean, onOutput?: (text: string) => void): Promise<number> {
  let argv: string[];
  if (conf.kind === 'other') {
    const other = conf.other!;
    if (other.setupcmds.trim()) {
      const res = await s.transport.exec(setupcmdsLine(tag, r, other.setupcmds, created), { onStdout: onOutput, onStderr: onOutput, timeoutMs: 120_000 });
      if (res.code !== 0)
        throw new MyikeError('E_SETUPCMDS', `setupcmds of instance ${r.name} failed (exit ${res.code ?? res.signal}):\n${tail(res.stderr || res.stdout)}`, {
          server: r.server,
          step: startStep(r.name),
          hint: 'fix other.setupcmds in the recipe; the output above is from the server',
        });
    }
    argv = commandArgv(other.upcmds);
  } else {
    argv = engineArgv(s, r, created);
  }
  await s.daemon.request('spawn', {
    name: r.daemonName,
    tag,
    argv,
    netns: r.netns,
    env: instanceEnv(tag, r),
    cwd: r.runDir,
    logdir: r.logdir,
    restart: 'never',
    stopTimeoutMs: 10_000,
    replace: true,
  }).catch((e: unknown) => {
    // The daemon refused to start it (a program that is not there): say which instance and what to fix.
    if (!(e instanceof MyikeError) || e.code !== 'E_SPAWN') throw e;
    throw new MyikeError('E_SPAWN', `instance ${r.name} could not be started: ${e.message.replace(/^.*?cannot start \S+: /, '')}`, {
      server: r.server,
      step: startStep(r.name),
      hint: conf.kind === 'other' ? `fix other.upcmds of instance ${conf.id} (${r.name}) in the recipe: the program it runs must be on the server's PATH, or named by its path` : undefined,
    });
  });
  return Date.now();
}

/**
 * Instances whose upcmds daemonised (exited 0, like `ipsec start`) and whose
 * namespace still has processes: running, though the daemon says exited. One
 * command for all; none when no instance exited 0.
 */
export async function stillDetached(s: Pick<ServerSession, 'transport'>, instances: InstanceInfo[]): Promise<Set<string>> {
  const exited0 = instances.filter((i) => i.state === 'exited' && i.exitCode === 0 && i.netns);
  if (!exited0.length) return new Set();
  const r = await s.transport.exec(`for n in ${exited0.map((i) => shq(i.netns!)).join(' ')}; do [ -z "$(ip netns pids "$n" 2>/dev/null)" ] || echo "$n"; done`);
  const busy = new Set(r.stdout.split('\n'));
  return new Set(exited0.filter((i) => busy.has(i.netns!)).map((i) => i.name));
}

/**
 * How long an `other` instance must have been running to count as up: an
 * upcmds that fails at once (a typo, a missing file or program) has exited
 * well within it.
 */
const SETTLE_MS = 150;

/**
 * Waits until instances on one server are up: the process runs (since
 * SETTLE_MS at least, counted from `startedAt`, by instance name; one not in
 * it was started earlier) or, for an `upcmds` that daemonised and exited 0,
 * something runs in its namespace; for an engine, its API socket answers.
 * One `list` per round for all of them, so hundreds of instances cost a few
 * requests, not hundreds.
 */
export async function waitUp(s: ServerSession, tag: string, records: InstanceRecord[], startedAt: ReadonlyMap<string, number>, timeoutMs = 30_000): Promise<Map<string, UpState>> {
  const deadline = Date.now() + timeoutMs;
  const settledAt = (r: InstanceRecord) => (startedAt.get(r.name) ?? 0) + SETTLE_MS;
  const up = new Map<string, UpState>();
  const pending = new Map(records.map((r) => [r.daemonName, r]));
  while (pending.size) {
    const { instances } = await s.daemon.request('list', { tag });
    const byName = new Map(instances.map((i) => [i.name, i]));
    const engines = [...pending.values()].filter((r) => r.kind === 'myikev2' && byName.get(r.daemonName)?.state === 'running');
    const answering = await enginesAnswering(s, engines);
    const detached = await stillDetached(s, instances.filter((i) => pending.get(i.name)?.kind === 'other'));
    await Promise.all(
      [...pending.values()].map(async (r) => {
        const inst = byName.get(r.daemonName);
        if (!inst) throw failed(r, 'the daemon does not know it', '');
        if (inst.state === 'exited' || inst.state === 'lost' || inst.state === 'stopped') {
          if (r.kind === 'other' && inst.state === 'exited' && inst.exitCode === 0) {
            if (!detached.has(r.daemonName)) throw failed(r, 'its upcmds exited 0 and left nothing running in the namespace', await logTail(s, r));
            up.set(r.name, DETACHED);
          } else {
            const why = inst.signal ? `was killed by ${inst.signal}` : inst.exitCode !== null ? `exited with ${inst.exitCode}` : (inst.error ?? 'is gone');
            throw failed(r, `its process ${why}`, await logTail(s, r));
          }
        } else if (inst.state === 'running') {
          if (r.kind === 'other' && Date.now() >= settledAt(r)) up.set(r.name, 'running');
          if (r.kind === 'myikev2' && answering.has(r.name)) up.set(r.name, 'running');
        }
        if (up.has(r.name)) pending.delete(r.daemonName);
      }),
    );
    if (!pending.size) break;
    if (Date.now() > deadline) {
      const r = pending.values().next().value!;
      throw failed(r, `it did not come up within ${timeoutMs / 1000}s${pending.size > 1 ? ` (nor did ${pending.size - 1} other(s))` : ''}`, await logTail(s, r));
    }
    // Every 100 ms, or sooner when the first `other` instance will have settled.
    const next = Math.min(...[...pending.values()].map((r) => (r.kind === 'other' ? settledAt(r) : Infinity)));
    await sleep(Math.max(5, Math.min(100, next - Date.now())));
  }
  return up;
}

/** The engines (by instance name) whose API answers: one request to a daemon that probes them, else one connection each. */
async function enginesAnswering(s: ServerSession, engines: InstanceRecord[]): Promise<Set<string>> {
  if (engines.length === 0) return new Set();
  if (s.daemon.server.features.includes('probe.unix')) {
    const { answering } = await s.daemon.request('probe.unix', { paths: engines.map(engineApiSocket) });
    const yes = new Set(answering);
    return new Set(engines.filter((r) => yes.has(engineApiSocket(r))).map((r) => r.name));
  }
  const answers = await Promise.all(engines.map((r) => apiAnswers(s, r)));
  return new Set(engines.filter((_, i) => answers[i]).map((r) => r.name));
}

async function apiAnswers(s: ServerSession, r: InstanceRecord): Promise<boolean> {
  try {
    const stream = await s.transport.openUnixStream(engineApiSocket(r));
    stream.destroy();
    return true;
  } catch {
    return false;
  }
}

async function logTail(s: ServerSession, r: InstanceRecord): Promise<string> {
  try {
    const { lines } = await s.daemon.request('logs', { name: r.daemonName, tail: 8 });
    return lines.map((l) => (l.stream === 'output' ? l.line : `${l.stream}: ${l.line}`)).join('\n');
  } catch {
    return '';
  }
}

function failed(r: InstanceRecord, what: string, logs: string): MyikeError {
  return new MyikeError('E_INSTANCE', `instance ${r.name} did not start: ${what}${logs ? `\nlast output:\n${logs}` : ''}`, {
    server: r.server,
    step: startStep(r.name),
    hint: `look at its logs in ${r.logdir} on ${r.server}`,
  });
}

function tail(text: string, n = 8): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

/**
 * Names again (`ip netns attach`) each of these namespaces whose name was
 * deleted (`ip netns del`) while a process of its instance still runs in it
 * (found by the MYIKEV2_NETNS it was started with), so that its data
 * interface can be given back and its destroycmds run.
 */
export function reattachScript(netns: string[]): string {
  return [
    `base=$(stat -L -c %i /proc/self/ns/net)`,
    `for ns in ${netns.map(shq).join(' ')}; do`,
    '  [ ! -e "/run/netns/$ns" ] || continue',
    '  for e in $(grep -lzxF "MYIKEV2_NETNS=$ns" /proc/[0-9]*/environ 2>/dev/null); do',
    '    p=${e#/proc/}; p=${p%/environ}',
    '    n=$(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null) && [ "$n" != "$base" ] && ip netns attach "$ns" "$p" 2>/dev/null && break',
    '  done',
    'done',
    'true',
  ].join('\n');
}

/**
 * Stops instances gracefully (other: destroycmds first; then SIGTERM, SIGKILL
 * after the timeout) or at once (force), and forgets them in the daemon.
 */
export async function stopInstances(s: ServerSession, tag: string, records: InstanceRecord[], force: boolean, warn: (w: string) => void): Promise<void> {
  // A data interface lives as long as its namespace: one deleted by hand lives on while a process is in it, and stopping that would take the interface with it.
  const withDataIf = records.filter((r) => r.dataIf);
  if (withDataIf.length) await s.transport.exec(reattachScript(withDataIf.map((r) => r.netns)), { timeoutMs: 30_000 });
  if (!force) {
    await Promise.all(
      records
        .filter((r) => r.kind === 'other' && r.destroycmds.trim())
        .map(async (r) => {
          // No namespace (removed by hand): nothing to stop gracefully, and no failure.
          const res = await s.transport.exec(`test ! -e /run/netns/${shq(r.netns)} || ${inNamespace(tag, r, r.destroycmds)}`, { timeoutMs: 30_000 }).catch((e: Error) => ({ code: -1, signal: null, stderr: e.message, stdout: '' }));
          if (res.code !== 0) warn(`${r.server}: destroycmds of ${r.name} failed (${res.code === -1 ? 'not run' : `exit ${res.code ?? res.signal}`}): ${tail(res.stderr || res.stdout, 2)}`);
        }),
    );
  }
  const known = new Set((await s.daemon.request('list', { tag })).instances.map((i) => i.name));
  const mine = records.filter((r) => known.has(r.daemonName));
  const mode = force ? 'hard' : 'graceful';
  if (mine.length > 0 && mine.length === known.size) {
    // All the run's instances on this server: one request (an older daemon ignores remove: then two), not two per instance.
    const { removed } = await s.daemon.request('stop', { tag, mode, wait: true, remove: true }, { timeoutMs: 60_000 });
    if (!removed) await s.daemon.request('remove', { tag });
    return;
  }
  await Promise.all(mine.map((r) => s.daemon.request('stop', { name: r.daemonName, mode, wait: true }, { timeoutMs: 60_000 })));
  await Promise.all(mine.map((r) => s.daemon.request('remove', { name: r.daemonName })));
}
