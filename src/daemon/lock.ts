import { linkSync, readFileSync, rmSync, statSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import { isSameLiveProcess, readProcStat } from './proc.js';

export interface LockHolder {
  pid: number;
  procStartTime: number;
  socket: string;
  startedAt: string;
}

const BREAKER_STALE_MS = 10_000;

function readHolder(path: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
  } catch {
    return null;
  }
}

export function lockHolderAlive(h: LockHolder | null): h is LockHolder {
  return !!h && typeof h.pid === 'number' && isSameLiveProcess(h.pid, h.procStartTime);
}

/** The running daemon named by a lock file, if it is alive. */
export function runningDaemon(lockPath: string): LockHolder | null {
  const h = readHolder(lockPath);
  return lockHolderAlive(h) ? h : null;
}

export function alreadyRunningError(h: LockHolder, lockPath: string): MyikeError {
  return new MyikeError('E_DAEMON_RUNNING', `a daemon is already running (pid ${h.pid}, socket ${h.socket}, lock ${lockPath})`, {
    hint: `use the running daemon, or stop it first (kill ${h.pid}); give another --state-dir to run a second one`,
    exitCode: EXIT_USAGE,
  });
}

/**
 * Takes the one-daemon-per-state-dir lock. The lock file appears complete
 * (hard link of a written temp file) with our pid and start time. A lock of a
 * dead daemon is broken under a short-lived second lock, so two starters
 * cannot both break it and both win. Returns the release function.
 */
export function acquireLock(lockPath: string, socket: string): () => void {
  const me: LockHolder = {
    pid: process.pid,
    procStartTime: readProcStat(process.pid)!.startTime,
    socket,
    startedAt: new Date().toISOString(),
  };
  const tmp = `${lockPath}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(me) + '\n', { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        linkSync(tmp, lockPath);
        return () => {
          if (readHolder(lockPath)?.pid === process.pid) rmSync(lockPath, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = readHolder(lockPath);
      if (lockHolderAlive(holder)) throw alreadyRunningError(holder, lockPath);
      breakStaleLock(lockPath);
    }
    throw new MyikeError('E_DAEMON_LOCK', `could not take the daemon lock ${lockPath}`, {
      hint: 'another daemon is starting at the same time; try again',
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

function breakStaleLock(lockPath: string): void {
  const breaker = `${lockPath}.break`;
  let fd: number;
  try {
    fd = openSync(breaker, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Someone else is breaking it; a breaker left by a crash expires.
    try {
      if (Date.now() - statSync(breaker).mtimeMs > BREAKER_STALE_MS) rmSync(breaker, { force: true });
    } catch {
      /* gone meanwhile */
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    return;
  }
  try {
    if (!lockHolderAlive(readHolder(lockPath))) rmSync(lockPath, { force: true });
  } finally {
    closeSync(fd);
    rmSync(breaker, { force: true });
  }
}
