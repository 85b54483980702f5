import { readFileSync } from 'node:fs';

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
