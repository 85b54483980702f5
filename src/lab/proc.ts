// Processes and namespaces seen through /proc. PID 1 on these machines does
// not reap orphans, so liveness is read from /proc/PID/stat (a zombie is dead),
// never from kill(pid, 0).
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

export type NsKind = 'net' | 'mnt' | 'pid';

/** Process state letter from /proc/PID/stat, or undefined if gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  const st = procState(pid);
  return st !== undefined && st !== 'Z' && st !== 'X';
}

/** Namespace identity ('net:[4026532248]' -> 4026532248), undefined if unreadable. */
export function nsOf(pid: number | 'self', kind: NsKind | 'pid_for_children'): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Identity of a namespace bind-mounted at a path (e.g. /run/netns/NAME). */
export function nsOfPath(path: string): number | undefined {
  try {
    const st = statSync(path);
    // An nsfs mount shows the namespace inode; a plain (unmounted) file is on another fs.
    return st.dev === statSync('/proc/self/ns/net').dev ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface NsSet {
  net: Set<number>;
  mnt: Set<number>;
  pid: Set<number>;
}

/** Live processes in any of the given namespaces (excluding this process). */
export function processesIn(ns: NsSet): number[] {
  const out: number[] = [];
  for (const pid of allPids()) {
    if (pid === process.pid || !isAlive(pid)) continue;
    const hit =
      (ns.net.size && ns.net.has(nsOf(pid, 'net') ?? -1)) ||
      (ns.mnt.size && ns.mnt.has(nsOf(pid, 'mnt') ?? -1)) ||
      (ns.pid.size && ns.pid.has(nsOf(pid, 'pid') ?? -1));
    if (hit) out.push(pid);
  }
  return out;
}

export function killPids(pids: number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
