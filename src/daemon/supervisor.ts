// Supervises instances: starts them (optionally in a network namespace) with
// their output going straight to log files, stops them, restarts them per
// policy, re-adopts survivors after a daemon restart, and keeps the state in
// an atomically written file.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';
import { rotateIfOver } from './logs.js';
import { NsHelper, PERL_HELPER } from './ns-helper.js';
import { PYTHON_SPAWNER } from './ns-spawner.js';
import { isSameLiveProcess, readProcStat, sessionMembers } from './proc.js';
import {
  DEFAULT_BACKOFF,
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_STOP_TIMEOUT_MS,
  ErrorCodes,
  type InstanceEventName,
  type InstanceInfo,
  type RestartPolicy,
  type SpawnParams,
} from './protocol.js';
import { RpcError } from './rpc-error.js';

export interface SupervisorOptions {
  stateDir: string;
  /** How often log sizes are checked against their cap. */
  logCheckMs?: number;
  /** How often re-adopted processes (not our children) are checked in /proc. */
  adoptPollMs?: number;
  /**
   * How instances enter their namespace: 'auto' (default) spawns through the
   * python3 spawner, else the perl helper, else `ip netns exec`; 'perl' skips
   * python3; 'off' uses neither helper.
   */
  nsHelper?: 'auto' | 'perl' | 'off';
  log?: (msg: string) => void;
}

/** What the state file keeps per instance: the public record plus what a restart needs. */
interface Instance extends Omit<InstanceInfo, 'envKeys'> {
  env: Record<string, string>;
  backoffStep: number;
}

/** Live handles, never persisted. */
interface Runtime {
  /** The pid whose exit status we will be told (our child, or the helper's). */
  watchedPid?: number;
  killTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  /** Set while a restart is starting the process. */
  starting?: Promise<void>;
  /** Stopping, the leader is gone, other processes of its session are not yet. */
  leaderGone?: boolean;
  waiters: (() => void)[];
}

const LIVE = new Set(['running', 'stopping']);
const SAVE_GAP_MS = 50;
/** A save may take at most this share of the daemon's time: a thousand instances make a 0.7 MB state file. */
const SAVE_SHARE = 0.1;
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function publicInfo(inst: Instance): InstanceInfo {
  const { env, backoffStep: _step, ...rest } = inst;
  return { ...rest, envKeys: Object.keys(env).sort() };
}

function now(): string {
  return new Date().toISOString();
}

/** Finds argv[0] the way execvp will, so a missing program is an error now, not a log line later. */
function resolveProgram(program: string, path: string): string | null {
  const candidates = program.includes('/') ? [program] : path.split(':').filter(Boolean).map((d) => join(d, program));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return null;
}

export class Supervisor extends EventEmitter {
  private readonly instances = new Map<string, Instance>();
  private readonly runtime = new Map<string, Runtime>();
  /** Spawns under way, by name: their tag, and a promise settled when the spawn is over either way. */
  private readonly reserved = new Map<string, { tag: string | null; over: Promise<void> }>();
  private readonly statePath: string;
  private readonly timers: NodeJS.Timeout[] = [];
  private dirty = false;
  private lastSaveAt = 0;
  private saveGapMs = SAVE_GAP_MS;
  private saveTimer?: NodeJS.Timeout;
  private readOnly = false;
  private readonly afterSave: (() => void)[] = [];
  private readonly log: (msg: string) => void;
  readonly defaultLogdir: string;
  /** The perl helper: namespace configuration, and spawns where python3 is missing. */
  readonly helper?: NsHelper;
  private readonly spawner?: NsHelper;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.statePath = join(opts.stateDir, 'state.json');
    this.defaultLogdir = join(opts.stateDir, 'logs');
    this.log = opts.log ?? (() => {});
    const mode = opts.nsHelper ?? 'auto';
    const lost = (pids: number[]) => this.helperLost(pids);
    if (mode !== 'off') this.helper = new NsHelper(PERL_HELPER, this.log, lost);
    if (mode === 'auto') this.spawner = new NsHelper(PYTHON_SPAWNER, this.log, lost);
  }

  /** Loads the state file and re-adopts what is still alive; starts the periodic checks. */
  start(): void {
    const saved = (readJsonFile(this.statePath, this.log) as { instances?: Instance[] } | undefined)?.instances ?? [];
    for (const inst of saved) {
      this.instances.set(inst.name, inst);
      this.runtime.set(inst.name, { waiters: [] });
      this.readopt(inst);
    }
    this.timers.push(setInterval(() => this.poll(), this.opts.adoptPollMs ?? 500));
    this.timers.push(setInterval(() => this.rotateLogs(), this.opts.logCheckMs ?? 2000));
    this.save();
  }

  /** Stops the timers and writes the state; instances keep running. */
  /** save false: the state directory is another daemon's now (this one was cut off), not ours to write. */
  close(save = true): void {
    this.helper?.close();
    this.spawner?.close();
    clearTimeout(this.saveTimer);
    for (const t of this.timers) clearInterval(t);
    for (const rt of this.runtime.values()) {
      clearTimeout(rt.killTimer);
      clearTimeout(rt.restartTimer);
    }
    if (save) this.flush();
    else this.readOnly = true; // also what its helpers' exits would change now
  }

  list(tag?: string): InstanceInfo[] {
    return [...this.instances.values()]
      .filter((i) => tag === undefined || i.tag === tag)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(publicInfo);
  }

  get(name: string): InstanceInfo {
    return publicInfo(this.find(name));
  }

  /** Names selected by name (must exist) or tag (may match none). */
  select(sel: { name?: string; tag?: string }): string[] {
    if (sel.name !== undefined) return [this.find(sel.name).name];
    return this.list(sel.tag).map((i) => i.name);
  }

  async spawn(p: SpawnParams): Promise<InstanceInfo> {
    const old = this.instances.get(p.name);
    if (this.reserved.has(p.name) || (old && (LIVE.has(old.state) || old.state === 'backoff'))) {
      throw new RpcError(ErrorCodes.EXISTS, `instance ${p.name} exists and is ${old?.state ?? 'starting'}; stop it first`);
    }
    if (old && !p.replace) {
      throw new RpcError(ErrorCodes.EXISTS, `instance ${p.name} exists (${old.state}); remove it first or pass replace: true`);
    }
    const logdir = p.logdir ?? this.defaultLogdir;
    const inst: Instance = {
      name: p.name,
      tag: p.tag ?? null,
      argv: p.argv,
      netns: p.netns ?? null,
      env: p.env ?? {},
      cwd: p.cwd ?? logdir,
      logdir,
      // One file for both streams: read back in the order they were written.
      stdoutPath: join(logdir, `${p.name}.log`),
      stderrPath: join(logdir, `${p.name}.log`),
      restart: p.restart ?? 'never',
      backoff: { ...DEFAULT_BACKOFF, ...p.backoff },
      stopTimeoutMs: p.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      logMaxBytes: p.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
      state: 'running',
      pid: null,
      procStartTime: null,
      startedAt: null,
      exitedAt: null,
      exitCode: null,
      signal: null,
      restarts: 0,
      nextRestartAt: null,
      adopted: false,
      error: null,
      backoffStep: 0,
    };
    let over!: () => void;
    this.reserved.set(p.name, { tag: inst.tag, over: new Promise<void>((r) => (over = r)) });
    try {
      const rt: Runtime = { waiters: [] };
      await this.startProcess(inst, rt);
      inst.state = 'running';
      this.clearRuntime(p.name);
      this.instances.set(p.name, inst);
      this.runtime.set(p.name, rt);
    } finally {
      this.reserved.delete(p.name);
      over();
    }
    this.changed('started', inst);
    return publicInfo(inst);
  }

  /**
   * Resolves once the spawns of `tag` under way when called are over, so that
   * a stop by tag also reaches an instance whose start was asked for before
   * (by a controller that gave up waiting for the answer and rolls back).
   */
  async startsOver(tag: string): Promise<void> {
    await Promise.all([...this.reserved.values()].filter((r) => r.tag === tag).map((r) => r.over));
  }

  /** Stops one instance; resolves once its process is gone. */
  async stop(name: string, mode: 'graceful' | 'hard', timeoutMs?: number): Promise<void> {
    const inst = this.find(name);
    const rt = this.runtime.get(name)!;
    // A restart under way: let it finish (restart() sees it first), then stop what it started.
    if (rt.starting) await rt.starting.catch(() => {});
    if (inst.state === 'backoff') {
      clearTimeout(rt.restartTimer);
      inst.state = 'stopped';
      inst.nextRestartAt = null;
      this.changed('stopping', inst);
      return;
    }
    if (!LIVE.has(inst.state)) {
      // The leader ended, but processes it left in its session are part of the instance.
      if (!this.leftovers(inst).length) return;
      inst.state = 'running';
      rt.leaderGone = true;
    }
    if (inst.state === 'running' && mode === 'graceful') {
      inst.state = 'stopping';
      this.signal(inst, rt, 'SIGTERM');
      this.changed('stopping', inst);
      rt.killTimer = setTimeout(() => this.kill(inst, rt), timeoutMs ?? inst.stopTimeoutMs);
    } else if (mode === 'hard') {
      inst.state = 'stopping';
      this.kill(inst, rt);
    }
    return this.whenDown(inst, rt);
  }

  /** Forgets instances that are not running. */
  remove(names: string[]): string[] {
    const busy = names
      .map((n) => this.find(n))
      .filter((i) => LIVE.has(i.state) || i.state === 'backoff' || this.leftovers(i).length);
    if (busy.length) {
      throw new RpcError(ErrorCodes.EXISTS, `still running: ${busy.map((i) => i.name).join(', ')}; stop first`);
    }
    for (const n of names) {
      const inst = this.find(n);
      this.instances.delete(n);
      this.clearRuntime(n);
      this.changed('removed', inst);
    }
    return names;
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const i of this.instances.values()) c[i.state] = (c[i.state] ?? 0) + 1;
    return c;
  }

  /** Writes the state file now if anything changed. */
  flush(): void {
    if (this.dirty) this.save();
    for (const fn of this.afterSave.splice(0)) fn();
  }

  /**
   * Runs fn once the state file holds every change so far (before a client
   * hears of them). Saves are at least SAVE_GAP_MS apart (more when a save
   * takes long), so a burst of changes (a hundred spawns) is written a few
   * times, not a hundred.
   */
  whenSaved(fn: () => void): void {
    if (!this.dirty) return fn();
    this.afterSave.push(fn);
    this.scheduleSave();
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    const wait = Math.max(0, this.lastSaveAt + this.saveGapMs - Date.now());
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.flush();
    }, wait);
  }

  private find(name: string): Instance {
    const inst = this.instances.get(name);
    if (!inst) throw new RpcError(ErrorCodes.NOT_FOUND, `no instance named ${name}`);
    return inst;
  }

  private clearRuntime(name: string): void {
    const rt = this.runtime.get(name);
    if (!rt) return;
    clearTimeout(rt.killTimer);
    clearTimeout(rt.restartTimer);
    this.runtime.delete(name);
  }

  private async startProcess(inst: Instance, rt: Runtime): Promise<void> {
    const env: Record<string, string> = { PATH: process.env.PATH || FALLBACK_PATH };
    for (const k of ['LANG', 'HOME']) if (process.env[k]) env[k] = process.env[k]!;
    Object.assign(env, inst.env);
    const fail = (msg: string) => new RpcError(ErrorCodes.SPAWN, `cannot start ${inst.name}: ${msg}`);
    if (inst.netns && !existsSync(`/run/netns/${inst.netns}`)) {
      throw fail(`network namespace ${inst.netns} does not exist (create it first: ip netns add ${inst.netns})`);
    }
    if (!resolveProgram(inst.argv[0], env.PATH)) throw fail(`program ${inst.argv[0]} not found or not executable`);
    mkdirSync(inst.logdir, { recursive: true, mode: 0o750 });
    if (!existsSync(inst.cwd) || !statSync(inst.cwd).isDirectory()) throw fail(`working directory ${inst.cwd} does not exist`);
    const watch = (pid: number) => (status: { code: number | null; signal: NodeJS.Signals | null }) => {
      if (rt.watchedPid === pid) this.exited(inst, rt, status.code, status.signal);
    };
    let pid = 0;
    let startTime: number | null = null;
    const helper = await this.spawnHelper();
    if (helper) {
      // The exit callback runs on a later turn, after pid is set.
      ({ pid, startTime } = await helper
        .spawn({ netns: inst.netns, cwd: inst.cwd, stdoutPath: inst.stdoutPath, stderrPath: inst.stderrPath, env, argv: inst.argv }, (st) => watch(pid)(st))
        .catch((e: Error) => {
          throw fail(e.message);
        }));
    } else {
      pid = await this.spawnChild(inst, env, fail, (p) => watch(p));
    }
    rt.watchedPid = pid;
    inst.pid = pid;
    // Without it, what a leader that ended at once left in its session would not be the instance's.
    inst.procStartTime = startTime ?? readProcStat(pid)?.startTime ?? null;
    inst.startedAt = now();
    inst.exitedAt = null;
    inst.exitCode = null;
    inst.signal = null;
    inst.nextRestartAt = null;
    inst.adopted = false;
    inst.error = null;
    // Arguments may carry secrets: the log names the program only.
    this.log(`started ${inst.name} pid ${inst.pid}${inst.netns ? ` in netns ${inst.netns}` : ''}: ${inst.argv[0]} (+${inst.argv.length - 1} args)`);
  }

  /**
   * Starts the helpers without waiting for them. A run records its manifest
   * before it plumbs its namespaces: the helpers' starts (python3 ~0.1 s)
   * then overlap the plumbing instead of delaying the first configure and spawn.
   */
  warmHelpers(): void {
    void this.helper?.available();
    void this.spawner?.available();
  }

  private async spawnHelper(): Promise<NsHelper | undefined> {
    for (const h of [this.spawner, this.helper]) if (h && (await h.available())) return h;
    return undefined;
  }

  /** Starts the process from Node, through `ip netns exec` (without the helper). */
  private async spawnChild(
    inst: Instance,
    env: Record<string, string>,
    fail: (msg: string) => Error,
    onExit: (pid: number) => (s: { code: number | null; signal: NodeJS.Signals | null }) => void,
  ): Promise<number> {
    const argv = inst.netns ? ['ip', 'netns', 'exec', inst.netns, ...inst.argv] : inst.argv;
    // Files, not pipes: the child writes its logs itself and keeps doing so
    // while the daemon restarts. O_APPEND lets rotation truncate under it.
    const out = openSync(inst.stdoutPath, 'a', 0o640);
    const err = inst.stderrPath === inst.stdoutPath ? out : openSync(inst.stderrPath, 'a', 0o640);
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), { cwd: inst.cwd, env, stdio: ['ignore', out, err], detached: true });
    } finally {
      closeSync(out);
      if (err !== out) closeSync(err);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(fail(e.message)));
    });
    child.unref();
    const cb = onExit(child.pid!);
    child.once('exit', (code, signal) => cb({ code, signal }));
    return child.pid!;
  }

  /** The helper died: what it started is watched through /proc from now on. */
  private helperLost(pids: number[]): void {
    for (const inst of this.instances.values()) {
      const rt = this.runtime.get(inst.name);
      if (rt?.watchedPid !== undefined && pids.includes(rt.watchedPid)) {
        rt.watchedPid = undefined;
        inst.adopted = true;
        this.changed('adopted', inst);
      }
    }
  }

  private exited(inst: Instance, rt: Runtime, code: number | null, signal: NodeJS.Signals | null): void {
    rt.watchedPid = undefined;
    inst.exitedAt = now();
    inst.exitCode = code;
    inst.signal = signal;
    if (inst.state === 'stopping' && this.leftovers(inst).length) {
      rt.leaderGone = true; // the poll finishes the stop once the rest of its session is gone
      return;
    }
    this.finished(inst, rt);
  }

  /** The leader and (when stopping) its whole session are gone. */
  private finished(inst: Instance, rt: Runtime): void {
    clearTimeout(rt.killTimer);
    rt.leaderGone = false;
    const code = inst.exitCode;
    const signal = inst.signal;
    if (inst.state === 'stopping') inst.state = 'stopped';
    else if (shouldRestart(inst.restart, code, signal)) this.scheduleRestart(inst, rt);
    else inst.state = 'exited';
    this.log(`${inst.name} pid ${inst.pid} exited (${signal ?? `code ${code}`}), now ${inst.state}`);
    this.changed('exited', inst);
    for (const w of rt.waiters.splice(0)) w();
  }

  private scheduleRestart(inst: Instance, rt: Runtime, delayMs?: number): void {
    const ran = inst.startedAt ? Date.now() - Date.parse(inst.startedAt) : 0;
    if (ran >= inst.backoff.resetAfterMs) inst.backoffStep = 0;
    const delay = delayMs ?? Math.min(inst.backoff.maxMs, inst.backoff.initialMs * inst.backoff.factor ** inst.backoffStep);
    inst.backoffStep++;
    inst.state = 'backoff';
    inst.nextRestartAt = new Date(Date.now() + delay).toISOString();
    rt.restartTimer = setTimeout(() => void this.restart(inst, rt), delay);
  }

  private async restart(inst: Instance, rt: Runtime): Promise<void> {
    if (inst.state !== 'backoff' || this.instances.get(inst.name) !== inst) return;
    rt.starting = this.startProcess(inst, rt).finally(() => (rt.starting = undefined));
    try {
      await rt.starting;
    } catch (e) {
      inst.error = (e as Error).message;
      inst.exitedAt = now();
      this.scheduleRestart(inst, rt);
      this.changed('exited', inst);
      return;
    }
    inst.state = 'running';
    inst.restarts++;
    this.changed('restarted', inst);
  }

  /** Signals the instance's process group and every process left in its session. */
  private signal(inst: Instance, rt: Runtime, sig: NodeJS.Signals): void {
    if (!inst.pid) return;
    // A re-adopted pid is signalled only while it is still the same process.
    const leaderAlive = rt.watchedPid === inst.pid || (inst.procStartTime !== null && isSameLiveProcess(inst.pid, inst.procStartTime));
    const targets = leaderAlive ? [-inst.pid] : [];
    for (const pid of this.leftovers(inst)) if (pid !== inst.pid) targets.push(pid);
    for (const target of targets) {
      try {
        process.kill(target, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** Live processes of the instance's session, its leader included. */
  private leftovers(inst: Instance): number[] {
    return inst.pid && inst.procStartTime !== null ? sessionMembers(inst.pid, inst.procStartTime) : [];
  }

  private kill(inst: Instance, rt: Runtime): void {
    if (inst.state !== 'stopping') return;
    this.signal(inst, rt, 'SIGKILL');
    this.log(`${inst.name} pid ${inst.pid}: SIGKILL`);
    this.changed('killed', inst);
  }

  private whenDown(inst: Instance, rt: Runtime): Promise<void> {
    if (!LIVE.has(inst.state)) return Promise.resolve();
    return new Promise((resolve) => rt.waiters.push(resolve));
  }

  private readopt(inst: Instance): void {
    const rt = this.runtime.get(inst.name)!;
    if (LIVE.has(inst.state)) {
      const alive = inst.pid !== null && inst.procStartTime !== null && isSameLiveProcess(inst.pid, inst.procStartTime);
      if (alive) {
        inst.adopted = true;
        this.log(`re-adopted ${inst.name} pid ${inst.pid}`);
        this.changed('adopted', inst);
        if (inst.state === 'stopping') rt.killTimer = setTimeout(() => this.kill(inst, rt), inst.stopTimeoutMs);
        return;
      }
      inst.exitedAt = now();
      inst.exitCode = null;
      inst.signal = null;
      if (inst.state === 'stopping') {
        if (this.leftovers(inst).length) {
          rt.leaderGone = true; // finish stopping the rest of its session
          rt.killTimer = setTimeout(() => this.kill(inst, rt), inst.stopTimeoutMs);
          return;
        }
        inst.state = 'stopped';
        this.changed('exited', inst);
        return;
      }
      const st = inst.pid ? readProcStat(inst.pid) : null;
      inst.error = st && st.state !== 'Z' ? `pid ${inst.pid} now belongs to another process` : `process ${inst.pid} ended while the daemon was down`;
      inst.state = 'lost';
      this.log(`lost ${inst.name}: ${inst.error}`);
      if (inst.restart !== 'never') this.scheduleRestart(inst, rt); // keeps error saying it was lost
      this.changed('lost', inst);
    } else if (inst.state === 'backoff') {
      const due = inst.nextRestartAt ? Math.max(0, Date.parse(inst.nextRestartAt) - Date.now()) : 0;
      inst.backoffStep = Math.max(0, inst.backoffStep - 1);
      this.scheduleRestart(inst, rt, due);
    }
  }

  /** Watches what is not our child: re-adopted leaders, and sessions outliving their leader. */
  private poll(): void {
    for (const inst of this.instances.values()) {
      const rt = this.runtime.get(inst.name)!;
      if (rt.leaderGone) {
        if (!this.leftovers(inst).length) this.finished(inst, rt);
      } else if (inst.adopted && LIVE.has(inst.state) && !isSameLiveProcess(inst.pid!, inst.procStartTime!)) {
        this.exited(inst, rt, null, null); // not our child: its exit status is unknowable
      }
    }
  }

  private rotateLogs(): void {
    for (const inst of this.instances.values()) {
      if (!LIVE.has(inst.state)) continue;
      for (const path of new Set([inst.stdoutPath, inst.stderrPath])) {
        try {
          if (rotateIfOver(path, inst.logMaxBytes)) this.log(`rotated ${path}`);
        } catch (e) {
          this.log(`cannot rotate ${path}: ${(e as Error).message}`);
        }
      }
    }
  }

  private changed(event: InstanceEventName, inst: Instance): void {
    this.dirty = true;
    this.scheduleSave();
    this.emit('change', event, publicInfo(inst));
  }

  private save(): void {
    if (this.readOnly) return;
    this.dirty = false;
    const start = performance.now();
    const instances = [...this.instances.values()];
    // Not fsync'ed: it is written before every answer (hundreds per run), and it
    // matters only across a daemon restart, which the page cache survives. A
    // machine crash ends the instances too; re-adoption then finds them lost.
    writeFileAtomic(this.statePath, JSON.stringify({ version: 1, savedAt: now(), instances }) + '\n', 0o600, false);
    this.lastSaveAt = Date.now();
    this.saveGapMs = Math.max(SAVE_GAP_MS, (performance.now() - start) / SAVE_SHARE);
  }
}

function shouldRestart(policy: RestartPolicy, code: number | null, signal: string | null): boolean {
  if (policy === 'always') return true;
  return policy === 'on-failure' && code !== 0; // a signal or unknown status (null) is a failure
}

