import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcStat {
  /** One letter: R, S, D, Z (zombie), T, X, ... */
  state: string;
  /** Field 22: start time in clock ticks since boot. With the pid, names one process. */
  startTime: number;
}

/** Reads /proc/PID/stat; null when there is no such process. */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) is in parentheses and may contain spaces or ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], startTime: Number(fields[19]) };
}

/**
 * True when PID is still the process that started at startTime and is not a
 * zombie. `kill -0` is not enough: PID 1 here does not reap orphans, so a dead
 * re-parented process can stay a zombie, and a pid can be reused.
 */
export function isSameLiveProcess(pid: number, startTime: number): boolean {
  const st = readProcStat(pid);
  return st !== null && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

/**
 * Why /proc cannot tell this process's children apart, or null when it can:
 * a /proc of another PID namespace (e.g. `unshare --pid` without
 * `--mount-proc`) shows other processes under the pids the daemon knows.
 */
export function foreignProc(): string | null {
  let self: string;
  try {
    self = readlinkSync('/proc/self');
  } catch (e) {
    return `/proc/self cannot be read (${(e as Error).message})`;
  }
  return self === String(process.pid) ? null : `/proc belongs to another PID namespace (it shows this process as ${self}, not ${process.pid})`;
}

interface SessionProc {
  pid: number;
  session: number;
  startTime: number;
}

let sessionCache: SessionProc[] | undefined;

/** Every live (non-zombie) process with its session id; one /proc scan per event-loop turn. */
function liveProcesses(): SessionProc[] {
  if (sessionCache) return sessionCache;
  const out: SessionProc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z' || f[0] === 'X') continue;
    out.push({ pid: Number(name), session: Number(f[3]), startTime: Number(f[19]) });
  }
  sessionCache = out;
  setImmediate(() => (sessionCache = undefined));
  return out;
}

/**
 * Live processes of the session a supervised process led (it was started with
 * setsid, so session id = its pid), the leader included while alive. Only
 * processes started since the leader count: a session id is not reused while
 * any member lives, so these are the instance's own descendants.
 */
export function sessionMembers(leaderPid: number, leaderStartTime: number): number[] {
  return liveProcesses()
    .filter((p) => p.session === leaderPid && p.startTime >= leaderStartTime)
    .map((p) => p.pid);
}
