// What each shell command does: parse → call the same core as the CLI
// commands (runRecipe, teardownRun, stopInstances, the daemon and engine
// APIs) → print. The REPL (repl.ts) handles input, events and Ctrl-C.
import type { DaemonClient } from '../daemon/client.js';
import type { InstanceInfo } from '../daemon/protocol.js';
import { asMyikeError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, MyikeError } from '../errors.js';
import { loadInputs } from '../model/load.js';
import type { InstanceRecord } from '../run/manifest.js';
import { engineApiSocket, inNamespace, stillDetached, stopInstances } from '../run/instances.js';
import { manifestKey, runTag } from '../run/names.js';
import { runRecipe } from '../run/run.js';
import type { ServerSession } from '../run/servers.js';
import { teardownRun } from '../run/teardown-run.js';
import { prunedNote } from '../run/store.js';
import { connectDaemon } from '../transport/ensure-daemon.js';
import { LocalTransport } from '../transport/local.js';
import { shq, type Terminal } from '../transport/transport.js';
import { engineRequest, statsFromSummary } from './engine-api.js';
import { columns, listRows, listTable, resolveInstance, stateText, strangerRows, type EngineStats, type Known, type Palette } from './format.js';
import type { ShellSession } from './session.js';
import { commandHelp, findSpec, helpText, type Parsed } from './spec.js';
import { quoteWord } from './words.js';

export interface ShellIO {
  /** Text to stdout (a newline is added). */
  print(text: string): void;
  /** Raw output as it arrives (command output, followed logs). */
  write(chunk: string): void;
  error(text: string): void;
  palette: Palette;
  /** The controller's terminal when the shell is interactive on one, else null. */
  terminal: Terminal | null;
  /** Asks (inquirer) unless `yes`; without a terminal it refuses and says to add -y. */
  confirm(question: string, yes: boolean): Promise<boolean>;
  /** Holds event lines (for commands that own the screen) until the returned function is called. */
  holdEvents(): () => void;
}

export interface CommandContext {
  session: ShellSession;
  io: ShellIO;
  /** Aborted by Ctrl-C (for the commands that can stop early). */
  signal: AbortSignal;
  /** From here on Ctrl-C cannot stop the command: it says why instead (the command finishes). */
  uninterruptible(why: string): void;
}

export type Runner = (ctx: CommandContext, p: Parsed) => Promise<number>;

/** Commands that cannot stop half way say so on Ctrl-C instead of being abandoned. */
export const UNINTERRUPTIBLE: Record<string, string> = {
  teardown: 'teardown cannot be interrupted half way; it finishes in a moment',
};

export const RUNNERS: Record<string, Runner> = {
  def: defCommand,
  list: listCommand,
  cli: cliCommand,
  shell: shellCommand,
  clearping: clearpingCommand,
  stop: stopCommand,
  teardown: teardownCommand,
  logs: logsCommand,
  help: helpCommand,
};

function usage(message: string, hint: string): MyikeError {
  return new MyikeError('E_USAGE', message, { hint, exitCode: EXIT_USAGE });
}

/** Resolves when the signal fires (never, when it does not). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
}

async function defCommand({ session, io, signal }: CommandContext, p: Parsed): Promise<number> {
  const file = p.flags.file as string;
  const inputs = loadInputs(file, session.configFile);
  for (const w of inputs.warnings) io.error(w);
  const release = io.holdEvents();
  let result;
  try {
    result = await runRecipe(inputs, {
      override: !!p.flags.override,
      keepOnFailure: !!p.flags['keep-on-failure'],
      progress: io.terminal ? 'auto' : 'plain',
      warn: (w) => io.error(`warning: ${w}`),
      signal,
    });
  } finally {
    release();
  }
  session.current = { name: result.name, tag: result.tag, recipeFile: file };
  session.watchKnown();
  io.print(
    '\n' +
      columns(
        ['INSTANCE', 'SERVER', 'NAMESPACE', 'MGMT ADDRESS', 'STATE'],
        result.instances.map((i) => [i.instance, i.server, i.namespace, i.mgmtAddr || '-', i.state]),
      ),
  );
  io.print(`run "${result.name}" (tag ${result.tag}) is up; list shows it, teardown removes it`);
  return result.instances.every((i) => i.state !== 'failed') ? EXIT_OK : EXIT_FAILED;
}

/** Asks each server's daemon, then each running engine: rows for `list` (also used by tests). */
export async function gatherList(session: ShellSession, daemonFilter?: string): Promise<ReturnType<typeof listRows>> {
  if (daemonFilter !== undefined && !Object.hasOwn(session.config.servers, daemonFilter))
    throw usage(`no server "${daemonFilter}" in the controller config`, `servers: ${Object.keys(session.config.servers).join(', ')}`);
  const mine = (k: Known) => daemonFilter === undefined || k.record.server === daemonFilter;
  // Runs torn down from elsewhere go first: no daemon is started to show them as stopped.
  await session.forgetGone([...new Set(session.known().filter(mine).map((k) => k.record.server))]);
  const known = session.known().filter(mine);
  const servers = [...new Set(known.map((k) => k.record.server))];
  const daemon = new Map<string, Map<string, InstanceInfo> | string>();
  const sessions = new Map<string, ServerSession>();
  const stillRuns = new Map<string, boolean>();
  await Promise.all(
    servers.map(async (name) => {
      try {
        const s = await session.server(name);
        sessions.set(name, s);
        const { instances } = await s.daemon.request('list', {}, { timeoutMs: 10_000 });
        daemon.set(name, new Map(instances.map((i) => [i.name, i])));
        // A daemonised upcmds (ipsec start) exited 0: whether what it started still runs is told by its namespace.
        const daemonised = instances.filter((i) => i.state === 'exited' && i.exitCode === 0 && i.netns && known.some((k) => k.record.server === name && k.record.daemonName === i.name && k.record.kind === 'other'));
        if (daemonised.length) {
          const alive = await stillDetached(s, daemonised).catch(() => null);
          if (alive) for (const i of daemonised) stillRuns.set(i.name, alive.has(i.name));
        }
      } catch (e) {
        daemon.set(name, asMyikeError(e).message);
      }
    }),
  );
  const stats = new Map<string, EngineStats | string>();
  await Promise.all(
    known
      .filter((k) => k.record.kind === 'myikev2')
      .map(async ({ record: r }) => {
        const d = daemon.get(r.server);
        if (typeof d !== 'object' || d.get(r.daemonName)?.state !== 'running') return;
        try {
          const stream = await sessions.get(r.server)!.transport.openUnixStream(engineApiSocket(r));
          stats.set(r.daemonName, statsFromSummary(await engineRequest(stream, 'summary', {}, 5000)));
        } catch (e) {
          stats.set(r.daemonName, `engine API not answering (${(e as Error).message.split('\n')[0]})`);
        }
      }),
  );
  const rows = listRows(known, daemon, stats, Date.now(), stillRuns);
  if (daemonFilter !== undefined) {
    // The seed's `list -d`: everything that daemon runs, also what no known run owns.
    const d = daemon.get(daemonFilter);
    if (d && typeof d !== 'string') rows.push(...strangerRows(daemonFilter, [...d.values()], known, Date.now(), await runNames(sessions.get(daemonFilter)!.daemon, [...d.values()])));
    else if (!d) {
      const { instances, names } = await daemonInstances(session, daemonFilter);
      rows.push(...strangerRows(daemonFilter, instances, known, Date.now(), names));
    }
  }
  return rows;
}

/** What a server's daemon runs, and the names of those runs, if one answers (without starting one). */
async function daemonInstances(session: ShellSession, server: string): Promise<{ instances: InstanceInfo[]; names: Map<string, string> }> {
  const client = await connectDaemon(await session.transport(server), { stateDir: session.config.servers[server].statedir });
  if (!client) return { instances: [], names: new Map() };
  try {
    const { instances } = await client.request('list', {});
    return { instances, names: await runNames(client, instances) };
  } finally {
    await client.close();
  }
}

/** The recipe names of the instances' runs, from the manifests the daemon keeps (tag → name); none for a run it has no manifest of. */
async function runNames(client: Pick<DaemonClient, 'request'>, instances: InstanceInfo[]): Promise<Map<string, string>> {
  const tags = [...new Set(instances.map((i) => i.tag).filter((t): t is string => !!t))];
  const names = await Promise.all(tags.map((t) => client.request('manifest.get', { key: manifestKey(t) }).then((r) => (r.value as { name?: unknown } | undefined)?.name, () => undefined)));
  return new Map(tags.flatMap((t, i) => (typeof names[i] === 'string' ? [[t, names[i] as string]] : [])));
}

/**
 * What every configured server's daemon runs (none is started), for a
 * controller that knows no run: runs started from another controller show,
 * instead of an empty list. Servers that cannot be asked are named.
 */
async function everyDaemonsInstances(session: ShellSession): Promise<{ rows: ReturnType<typeof listRows>; unasked: string[] }> {
  const unasked: string[] = [];
  const found = await Promise.all(
    Object.keys(session.config.servers).map((name) =>
      daemonInstances(session, name)
        .then(({ instances, names }) => strangerRows(name, instances, [], Date.now(), names))
        .catch((e: unknown) => {
          unasked.push(`${name} could not be asked: ${asMyikeError(e).message.split('\n')[0]}`);
          return [];
        }),
    ),
  );
  return { rows: found.flat(), unasked: unasked.sort() };
}

async function listCommand({ session, io, signal }: CommandContext, p: Parsed): Promise<number> {
  const gather = async () => {
    const rows = await gatherList(session, p.flags.daemon as string | undefined);
    return rows.length || p.flags.daemon !== undefined ? { rows, unasked: [] } : everyDaemonsInstances(session);
  };
  const got = await Promise.race([gather(), aborted(signal).then(() => null)]);
  if (!got) return 130;
  const { rows, unasked } = got;
  if (p.flags.json) io.print(JSON.stringify(rows, null, 2));
  else io.print(listTable(rows, io.palette, p.flags.wide ? undefined : io.terminal?.output.columns));
  for (const u of unasked) (p.flags.json ? io.error : io.print)(io.palette.bad(u));
  return rows.some((r) => r.state.startsWith('unknown')) || unasked.length ? EXIT_FAILED : EXIT_OK;
}

function target(session: ShellSession, name: string): Known {
  return resolveInstance(name, session.known());
}

/** What the instance's daemon says of it; undefined once it has forgotten it (after `stop`). */
async function daemonInfo(s: ServerSession, k: Known): Promise<InstanceInfo | undefined> {
  const { instances } = await s.daemon.request('list', { tag: k.tag });
  return instances.find((i) => i.name === k.record.daemonName);
}

/** How to start a stopped instance again: `def -f` of its run's recipe. */
function restartHint(session: ShellSession, k: Known): string {
  const file = session.runs().find((m) => m.tag === k.tag)?.recipeFile;
  return `def -f ${file ? quoteWord(file) : 'RECIPE'} starts it again`;
}

/** The interactive root shell inside an instance's namespace, with a prompt that says where it is. */
export function namespaceShell(r: InstanceRecord): string {
  const ps1 = `[${r.name}@${r.server} netns ${r.netns}] \\w # `;
  const rc = `[ -f ~/.bashrc ] && . ~/.bashrc\nPS1=${shq(ps1)}\n`;
  return `printf %s ${shq(rc)} > .myikev2-bashrc; if command -v bash >/dev/null 2>&1; then exec bash --rcfile .myikev2-bashrc -i; fi; PS1=${shq(ps1)} exec sh -i`;
}

/** The engine CLI of a myikev2 instance, run on its server with the pushed bundle. */
export function engineCli(s: ServerSession, r: InstanceRecord, command?: string): string {
  return `node ${shq(s.bundlePath)} cli --socket ${shq(engineApiSocket(r))}${command === undefined ? '' : ` --exec ${shq(command)}`}`;
}

/** Words after `cli -t X`: one word is a shell command line as typed; several are quoted one by one. */
export function commandLine(args: string[]): string {
  return args.length === 1 ? args[0] : args.map(shq).join(' ');
}

const PGID_MARK = '@@myikev2-pgid ';

async function cliCommand({ session, io, signal }: CommandContext, p: Parsed): Promise<number> {
  const k = target(session, p.flags.target as string);
  const r = k.record;
  const s = await session.server(r.server);
  // An engine's CLI needs the engine; a stopped other instance still has its namespace to look into.
  if (r.kind === 'myikev2') {
    const info = await daemonInfo(s, k);
    if (info?.state !== 'running')
      throw new MyikeError('E_NOT_RUNNING', `instance ${r.name} is not running (${stateText(r.kind, info)}): its engine has no CLI to talk to`, { hint: `logs -t ${r.name} shows its last words; ${restartHint(session, k)}` });
  }
  if (p.args.length) {
    const line = commandLine(p.args);
    const inner = r.kind === 'other' ? inNamespace(k.tag, r, line) : engineCli(s, r, line);
    // The command's process group id comes first on stderr, so Ctrl-C can end it on the server.
    let pgid: number | undefined;
    // io.error ends each line itself: stderr goes out a whole line at a time (a line written in pieces stays one line).
    let pending = '';
    let first = true;
    const onStderr = (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = first ? new RegExp(`^${PGID_MARK}(\\d+)$`).exec(line) : null;
        first = false;
        if (m) pgid = Number(m[1]);
        else io.error(line);
      }
    };
    const run = s.transport.exec(`echo "${PGID_MARK}$$" >&2; ${inner}`, { onStdout: (c) => io.write(c), onStderr }).finally(() => {
      if (pending) io.error(pending);
      pending = '';
    });
    const stop = aborted(signal).then(async () => {
      // No `--`: the transport runs sh (dash), whose kill takes `-- -PGID` for an illegal number and kills nothing.
      if (pgid) await s.transport.exec(`kill -TERM -${pgid} 2>/dev/null; true`).catch(() => undefined);
    });
    const res = await Promise.race([run, stop.then(() => null)]);
    // Cancelled, even when the command ended (by our kill) before the kill's own exec returned.
    if (!res || signal.aborted) return 130;
    if (res.code !== 0) io.error(`(exit ${res.code ?? res.signal})`);
    return res.code === 0 ? EXIT_OK : EXIT_FAILED;
  }
  if (!io.terminal)
    throw usage('cli -t without a command needs a terminal', `run one command instead: cli -t ${r.name} -- ${r.kind === 'other' ? 'ip addr' : 'summary'}`);
  const release = io.holdEvents();
  try {
    if (r.kind === 'other') {
      io.print(io.palette.dim(`root shell in namespace ${r.netns} on ${r.server} (instance ${r.name}); exit or Ctrl-D returns to myikev2`));
      await s.transport.interactive(inNamespace(k.tag, r, namespaceShell(r)), io.terminal);
    } else {
      io.print(io.palette.dim(`engine CLI of ${r.name} on ${r.server}; quit or Ctrl-D returns to myikev2`));
      await s.transport.interactive(engineCli(s, r), io.terminal);
    }
  } finally {
    release();
  }
  io.print(io.palette.dim(`back in myikev2`));
  return EXIT_OK;
}

async function shellCommand({ io }: CommandContext): Promise<number> {
  if (!io.terminal) throw usage('shell needs a terminal', 'run myikev2 shell in a terminal');
  const sh = process.env.SHELL || '/bin/sh';
  io.print(io.palette.dim(`${sh} on this machine; exit or Ctrl-D returns to myikev2`));
  const release = io.holdEvents();
  try {
    await new LocalTransport().interactive(`SHELL=${shq(sh)} exec ${shq(sh)}`, io.terminal);
  } finally {
    release();
  }
  io.print(io.palette.dim('back in myikev2'));
  return EXIT_OK;
}

async function clearpingCommand({ session, io }: CommandContext, p: Parsed): Promise<number> {
  let targets: Known[];
  if (p.flags.target) {
    const k = target(session, p.flags.target as string);
    if (k.record.kind !== 'myikev2') throw usage(`${k.record.name} is not a myikev2 instance: it has no ping test`, 'clearping works on myikev2 instances (list shows the kind by its TUNNELS column)');
    targets = [k];
  } else targets = session.known().filter((k) => k.record.kind === 'myikev2');
  if (targets.length === 0) {
    io.print('no myikev2 instance: nothing to clear');
    return EXIT_OK;
  }
  if (targets.length > 1 && !(await io.confirm(`Reset the ping statistics of ${targets.length} instances (${targets.map((k) => k.record.name).join(', ')})?`, !!p.flags.yes))) {
    io.print('nothing changed');
    return EXIT_OK;
  }
  const failed: string[] = [];
  await Promise.all(
    targets.map(async ({ record: r }) => {
      try {
        const s = await session.server(r.server);
        await engineRequest(await s.transport.openUnixStream(engineApiSocket(r)), 'ping.clear');
      } catch (e) {
        failed.push(`${r.name}: ${asMyikeError(e).message.split('\n')[0]}`);
      }
    }),
  );
  const ok = targets.length - failed.length;
  if (ok) io.print(`ping statistics reset on ${ok} instance(s)`);
  for (const f of failed) io.error(`cannot reset ${f} (is the instance running? list shows it)`);
  return failed.length ? EXIT_FAILED : EXIT_OK;
}

async function stopCommand({ session, io, signal, uninterruptible }: CommandContext, p: Parsed): Promise<number> {
  const k = target(session, p.flags.target as string);
  const graceful = p.flags.graceful !== 'false';
  // Connecting (maybe to a server that does not answer) can be cancelled: nothing is stopped yet.
  const found = await Promise.race([
    session.server(k.record.server).then(async (s) => ({ s, info: await daemonInfo(s, k) })),
    aborted(signal).then(() => null),
  ]);
  if (!found) return EXIT_INTERRUPTED;
  const { s, info } = found;
  // A detached other instance (upcmds daemonised, exited 0) is what it left running: destroycmds and the daemon's stop end that.
  const detached = k.record.kind === 'other' && info?.state === 'exited' && info.exitCode === 0 && !info.signal;
  if (!info || (info.state !== 'running' && info.state !== 'backoff' && info.state !== 'stopping' && !detached)) {
    io.print(`instance ${k.record.name} is not running: ${stateText(k.record.kind, info)}; nothing to stop`);
    return EXIT_OK;
  }
  uninterruptible('stop cannot be interrupted now; the instance is being stopped');
  await stopInstances(s, k.tag, [k.record], !graceful, (w) => io.error(`warning: ${w}`));
  io.print(`instance ${k.record.name} on ${k.record.server} stopped ${graceful ? 'gracefully' : 'at once (SIGKILL)'}; ${restartHint(session, k)}, teardown removes the run`);
  return EXIT_OK;
}

async function teardownCommand({ session, io }: CommandContext, p: Parsed): Promise<number> {
  const runs = session.runs();
  let name = p.args[0];
  if (name === undefined) {
    if (session.current) name = session.current.name;
    else if (runs.length === 1) name = runs[0].name;
    else if (runs.length === 0) {
      io.print('no run to tear down');
      return EXIT_OK;
    } else throw usage(`${runs.length} runs are up: say which`, `teardown RUN, with RUN one of: ${runs.map((m) => m.name).join(', ')}`);
  }
  const m = runs.find((x) => x.name === name);
  const count = m?.instances.length ?? 0;
  if (count > 1 && !(await io.confirm(`Tear down run "${name}": stop ${count} instances on ${m!.servers.join(', ')} and remove everything it created?`, !!p.flags.yes))) {
    io.print('nothing changed');
    return EXIT_OK;
  }
  // Its servers' daemons may be shut down: stop watching them first, so nobody restarts them.
  for (const s of m?.servers ?? []) await session.unwatch(s);
  const release = io.holdEvents();
  let result;
  try {
    result = await teardownRun(session.config, runTag(name), {
      force: !!p.flags.force,
      saveLogs: true,
      keepDaemon: !m, // a run this shell does not know: the daemons it watches stay
      progress: io.terminal ? 'auto' : 'plain',
      warn: (w) => io.error(`warning: ${w}`),
    });
  } finally {
    release();
    session.watchKnown();
  }
  if (session.current?.name === name) session.current = null;
  if (!result.name) {
    io.print(`nothing to tear down: no run "${name}"`);
    return EXIT_OK;
  }
  const left = result.servers.filter((s) => s.leftovers.length);
  for (const s of left) io.error(`${s.server}: could not remove:\n${s.leftovers.map((l) => `  ${l}`).join('\n')}`);
  if (result.logs) io.print(`logs saved in ${result.logs}${prunedNote(result.logsPruned, result.logsKept)}`);
  io.print(left.length ? `teardown of "${result.name}" incomplete` : `run "${result.name}" torn down; verified clean on ${result.servers.length} server(s)`);
  return left.length ? EXIT_FAILED : EXIT_OK;
}

/** The last lines of a stopped instance's log files, read on its server; false when neither is there. */
async function printLogFiles(s: ServerSession, r: InstanceRecord, lines: number, io: ShellIO): Promise<boolean> {
  // NAME.log holds both streams; an instance an older daemon started has NAME.stdout.log and NAME.stderr.log.
  const files = ['log', 'stdout.log', 'stderr.log'].map((ext) => shq(`${r.logdir}/${r.daemonName}.${ext}`)).join(' ');
  const mark = '@@myikev2-log-file ';
  const res = await s.transport.exec(`for f in ${files}; do [ -e "$f" ] && { echo "${mark}$f"; tail -n ${lines} -- "$f"; }; done; true`);
  const found = res.stdout.split('\n').filter(Boolean);
  if (!found.length) return false;
  io.print(io.palette.dim(`(${r.name} is stopped: its log files on ${r.server})`));
  let stderr = false;
  for (const l of found) {
    if (l.startsWith(mark)) stderr = l.endsWith('.stderr.log');
    else io.print(stderr ? io.palette.warn(l) : l);
  }
  return true;
}

async function logsCommand({ session, io, signal }: CommandContext, p: Parsed): Promise<number> {
  const k = target(session, p.flags.target as string);
  const s = await session.server(k.record.server);
  let sub;
  try {
    sub = await s.daemon.logs({ name: k.record.daemonName, tail: p.flags.lines === undefined ? 50 : Number(p.flags.lines), follow: !!p.flags.follow });
  } catch (e) {
    if (asMyikeError(e).code !== 'E_NOT_FOUND') throw e;
    // Stopped: the daemon has forgotten it, but its log files stay on the server until teardown.
    if (!p.flags.follow && (await printLogFiles(s, k.record, p.flags.lines === undefined ? 50 : Number(p.flags.lines), io))) return EXIT_OK;
    // Or it never started (a failed run kept with --keep-on-failure): then it never wrote a log either.
    throw new MyikeError('E_NOT_FOUND', `the daemon on ${k.record.server} has no instance ${k.record.name} (stopped, or it never started)`, {
      hint: p.flags.follow ? `nothing runs to follow; logs -t ${k.record.name} shows its last lines` : `there are no log files of it in ${k.record.logdir} on ${k.record.server} either`,
    });
  }
  // In the order written when the daemon keeps one file; an older daemon's stderr lines come after stdout's.
  for (const l of sub.initial) io.print(l.stream === 'stderr' ? io.palette.warn(l.line) : l.line);
  // -n 0 asks for no lines: none is not "no output yet".
  if (!sub.initial.length && (p.flags.lines === undefined || Number(p.flags.lines) > 0)) io.print(io.palette.dim('(no output yet)'));
  if (!p.flags.follow) return EXIT_OK;
  io.print(io.palette.dim('following; Ctrl-C ends'));
  sub.on('event', (ev) => io.write(ev.stream === 'stderr' ? io.palette.warn(ev.data) : ev.data));
  await Promise.race([aborted(signal), new Promise<void>((r) => sub.once('close', () => r()))]);
  await sub.close();
  return EXIT_OK;
}

async function helpCommand({ io }: CommandContext, p: Parsed): Promise<number> {
  const width = io.terminal?.output.columns; // wrapped to the terminal, not in scripts
  if (!p.args.length) {
    io.print(helpText(undefined, width));
    return EXIT_OK;
  }
  const spec = findSpec(p.args[0]);
  if (!spec) throw usage(`no command "${p.args[0]}"`, 'help lists the commands');
  io.print(commandHelp(spec, width));
  return EXIT_OK;
}
