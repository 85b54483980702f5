// Removing a run, or some of its instances, from a server, and checking that
// nothing carrying the run's tag is left.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { MyikeError } from '../errors.js';
import type { ServerCommands } from '../model/recipe-types.js';
import { holdings, shutdownIfIdle } from '../transport/ensure-daemon.js';
import { shq, type Transport } from '../transport/transport.js';
import type { InstanceRecord, RunManifest } from './manifest.js';
import { manifestKey } from './names.js';
import { LOGS_MARKER, renderTeardownScript, renderVerifyScript } from './render.js';
import { stopInstances } from './instances.js';
import { timing } from './progress.js';
import type { ServerSession } from './servers.js';

/** Starts a line of a removal script that is told, not a leftover. */
const WARNING = 'warning: ';

export interface TeardownOptions {
  force: boolean;
  warn: (w: string) => void;
  onOutput?: (text: string) => void;
  /** Saves the instances' default log directories there (.tar.gz), by the removal script, before their files go. */
  logsFile?: string;
  /** Shut the daemon down when the run was all it had (teardown, unless --keep-daemon). */
  stopIdleDaemon?: boolean;
  /** Instances (by name) already stopped, e.g. wave by wave: they are not stopped again (no second destroycmds). */
  stopped?: ReadonlySet<string>;
  /** Told the step it starts, so that a failure without a step of its own (a lost connection) is placed. */
  onStep?: (step: string) => void;
}

/** Stops and removes the given instances of a run on one server (not the whole run). */
export async function removeInstances(s: ServerSession, tag: string, records: InstanceRecord[], opts: TeardownOptions): Promise<void> {
  if (records.length === 0) return;
  await stopInstances(s, tag, records, opts.force, opts.warn);
  notWarnings(await runScript(s.transport, renderTeardownScript(tag, s.conf.name, records), 'teardown'), s.conf.name, opts.warn);
}

/**
 * A removal script's lines, but its warnings, which are told: what the run
 * cannot give back, though nothing of it is left (a data interface gone
 * with a namespace deleted by hand).
 */
function notWarnings(out: string, server: string, warn: (w: string) => void): string[] {
  const lines = out.split('\n').filter(Boolean);
  for (const l of lines) if (l.startsWith(WARNING)) warn(`${server}: ${l.slice(WARNING.length)}`);
  return lines.filter((l) => !l.startsWith(WARNING));
}

/** Removes everything of a run from one server: what is still there afterwards, and whether its logs were saved. */
export async function teardownServer(s: ServerSession, m: RunManifest, opts: TeardownOptions): Promise<{ leftovers: string[]; logsSaved: boolean }> {
  const server = s.conf.name;
  const key = manifestKey(m.tag);
  const records = m.instances.filter((r) => r.server === server);
  const toStop = opts.stopped ? records.filter((r) => !opts.stopped!.has(r.name)) : records;
  opts.onStep?.('stop instances');
  await timing(`${server} stop`, () => stopInstances(s, m.tag, toStop, opts.force, opts.warn));
  opts.onStep?.('teardown');
  // Instances of the run the daemon still has are leftovers.
  const known = (await holdings(s.daemon)).instances.filter((i) => i.tag === m.tag).map((i) => `instance ${i.name} (${i.state}, pid ${i.pid ?? '-'})`);
  // Removal and verification in one round trip; verification's lines follow the marker.
  const script = [
    renderTeardownScript(m.tag, server, records, { wholeRun: true, saveLogs: !!opts.logsFile }),
    `echo ${VERIFY_MARKER}`,
    renderVerifyScript(m.tag, server, records),
  ].join('\n');
  const { logs, rest: out } = splitLogs(await timing(`${server} teardown script`, () => runScript(s.transport, script, 'teardown')));
  if (logs && opts.logsFile) {
    mkdirSync(dirname(opts.logsFile), { recursive: true });
    writeFileSync(opts.logsFile, logs);
  }
  const [removal, verification = ''] = out.split(`${VERIFY_MARKER}\n`);
  const leftovers = [...notWarnings(`${removal}\n${verification}`, server, opts.warn), ...known];
  opts.onStep?.('cleancmds');
  await runCommands(s.transport, m.cleancmds.filter((c) => c.server === server), 'cleancmds', opts.onOutput, opts.warn);
  opts.onStep?.('stop the daemon');
  // The daemon, and with it the run's lock, stays until all of it is done: a run
  // of the same recipe meanwhile is told the run is busy, instead of finding it
  // half removed (or having its own setup undone by these cleancmds).
  if (leftovers.length === 0) {
    await s.daemon.request('manifest.delete', { key });
    // Another run's teardown may have finished meanwhile (it saw this run and
    // let the daemon be): whichever is last finds the daemon idle and stops it.
    if (opts.stopIdleDaemon) await stopDaemonIfIdle(s).catch(() => {});
  }
  return { leftovers, logsSaved: !!logs };
}

/** A teardown script's output without its logs section, and the logs (.tar.gz) if it had them. */
export function splitLogs(out: string): { logs: Buffer | null; rest: string } {
  if (!out.startsWith(`${LOGS_MARKER}\n`)) return { logs: null, rest: out };
  const end = out.indexOf('\n', LOGS_MARKER.length + 1);
  const logs = Buffer.from(out.slice(LOGS_MARKER.length + 1, end < 0 ? undefined : end), 'base64');
  return { logs: logs.length ? logs : null, rest: end < 0 ? '' : out.slice(end + 1) };
}

const VERIFY_MARKER = '@@myikev2-verify@@';

/** Stops the daemon if it is idle (see shutdownIfIdle), and removes its empty directories and stale bundles; true if it did. */
export async function stopDaemonIfIdle(s: Pick<ServerSession, 'daemon' | 'transport' | 'bundlePath'>): Promise<boolean> {
  if ((await shutdownIfIdle(s.daemon)) !== null) return false;
  await runScript(s.transport, daemonExitScript(s.daemon.server.pid, s.bundlePath), 'stop the daemon');
  return true;
}

/**
 * Waits for a process to exit (checked every 10 ms, 5 s at most) and prints a
 * line if it still runs. A zombie has exited: `kill -0` would wait for its
 * reaper, which some inits (this machine's, some containers') are seconds
 * late to be.
 */
export function awaitExitScript(pid: number, what: string): string {
  return [
    `running() { read -r s < /proc/${pid}/stat || return 1; s=\${s##*) }; case \${s%% *} in Z|X) return 1 ;; esac; } 2>/dev/null`,
    'i=0; while running && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done',
    `if running; then echo "process ${pid} (${what}) still running 5 s after its shutdown"; fi`,
  ].join('\n');
}

/**
 * Waits for the daemon to exit (still running is a leftover), then removes
 * the directories the run and the daemon made, if empty, and the bundles of
 * other builds nobody used for a day (see pruneBundlesScript); the bundle
 * at `bundlePath`, this controller's, stays for its next run.
 */
function daemonExitScript(pid: number, bundlePath: string): string {
  return `${awaitExitScript(pid, 'the daemon')}\nrmdir /run/myikev2/runs /run/myikev2 /var/log/myikev2 2>/dev/null\n${pruneBundlesScript(dirname(bundlePath))}\ntrue`;
}

/**
 * Removes the bundle directories under `base` (each build pushes one) that
 * no process runs from (an engine of another build still running keeps its
 * own) and that no controller pushed or found there for a day (pushBundle
 * touches the directory), except `keep`. Run once the daemon has exited.
 */
export function pruneBundlesScript(keep: string, base = dirname(keep)): string {
  // The processes are looked at only when a directory is old enough (most teardowns: none).
  return [
    `stale=$(find ${shq(base)} -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -mmin +1440 2>/dev/null)`,
    `[ -z "$stale" ] || used=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -o ${shq(`${base}/`)}'[0-9a-f]*/')`,
    'for d in $stale; do',
    `  case "$d" in ${shq(keep)}) continue ;; esac`,
    '  case "$used" in *"$d/"*) continue ;; esac',
    '  rm -rf "$d"',
    'done',
  ].join('\n');
}

export async function runScript(t: Transport, script: string, step: string): Promise<string> {
  const r = await t.exec('sh -s', { stdin: script, timeoutMs: 300_000 });
  if (r.code !== 0)
    throw new MyikeError('E_SCRIPT', `the ${step} script failed (exit ${r.code ?? r.signal}):\n${r.stderr.trim().split('\n').slice(-8).join('\n')}`, {
      server: t.server,
      step,
      hint: `see the script with \`myikev2 run --dry-run\`; the error above is what the server said`,
    });
  return r.stdout;
}

/** Runs setupcmds/cleancmds entries in order; setupcmds stop at the first failure, cleancmds warn. */
export async function runCommands(t: Transport, cmds: ServerCommands[], step: 'setupcmds' | 'cleancmds', onOutput?: (text: string) => void, warn?: (w: string) => void): Promise<void> {
  for (const c of cmds) {
    const r = await t.exec(`sh -e -c ${shq(c.cmds)}`, { onStdout: onOutput, onStderr: onOutput, timeoutMs: 600_000 });
    if (r.code === 0) continue;
    const out = (r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n');
    if (step === 'cleancmds' && warn) {
      warn(`${t.server}: cleancmds failed (exit ${r.code}): ${c.cmds}\n${out}`);
      continue;
    }
    throw new MyikeError('E_SETUPCMDS', `${step} failed (exit ${r.code ?? r.signal}): ${c.cmds}${out ? `\n${out}` : ''}`, {
      server: t.server,
      step,
      hint: 'fix the command in the recipe; its output is shown above',
    });
  }
}
