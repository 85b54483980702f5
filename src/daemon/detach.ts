// `myikev2 daemon --detach`: starts the daemon in its own session with its
// output in STATE_DIR/daemon.log, and returns once its socket answers.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import { DaemonClient } from './client.js';
import { unusablePath } from './daemon.js';
import { alreadyRunningError, runningDaemon } from './lock.js';
import { rotateIfOver } from './logs.js';

const START_TIMEOUT_MS = 15_000;
const POLL_MS = 15;
export const DAEMON_LOG_MAX_BYTES = 10 * 1024 * 1024;

function readFrom(path: string, offset: number): string {
  const fd = openSync(path, 'r');
  try {
    const len = Math.max(0, Math.min(statSync(path).size - offset, 64 * 1024));
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, offset);
    return buf.toString('utf8').trim();
  } finally {
    closeSync(fd);
  }
}

/** Resolves with the daemon's pid once it answers on its socket; rejects with what went wrong. */
export async function startDetached(socket: string, stateDir: string, daemonArgs: string[]): Promise<number> {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw unusablePath('E_DAEMON_STATE', `state directory ${stateDir}`, e, 'give a --state-dir this user can create and write');
  }
  const lockPath = join(stateDir, 'daemon.lock');
  const holder = runningDaemon(lockPath);
  if (holder) throw alreadyRunningError(holder, lockPath);
  const logPath = join(stateDir, 'daemon.log');
  const fd = openSync(logPath, 'a', 0o600);
  try {
    rotateIfOver(logPath, DAEMON_LOG_MAX_BYTES);
  } catch {
    /* keep the big log rather than fail the start */
  }
  const logStart = statSync(logPath).size;
  const script = process.argv[1];
  const child = spawn(process.execPath, [...process.execArgv, script, 'daemon', ...daemonArgs], {
    detached: true, // setsid: survives the SSH session that started it
    stdio: ['ignore', fd, fd],
    cwd: '/',
  });
  closeSync(fd);
  let exit: { code: number | null; signal: string | null } | undefined;
  child.once('exit', (code, signal) => (exit = { code, signal }));
  child.once('error', (e) => (exit = { code: null, signal: e.message }));
  child.unref();

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exit) {
      const said = readFrom(logPath, logStart) || `exited with ${exit.signal ?? `code ${exit.code}`}`;
      throw new MyikeError('E_DAEMON_START', `the daemon did not start: ${said}`, {
        hint: `see ${logPath}`,
        exitCode: exit.code === EXIT_USAGE ? EXIT_USAGE : 1,
      });
    }
    try {
      const c = await DaemonClient.connectUnix(socket, { timeoutMs: 2000, clientName: 'daemon --detach' });
      const pid = c.server.pid;
      await c.close();
      if (pid === child.pid) return pid;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  child.kill('SIGTERM');
  throw new MyikeError('E_DAEMON_START', `the daemon (pid ${child.pid}) did not answer on ${socket} within ${START_TIMEOUT_MS / 1000} s`, {
    hint: `see ${logPath}`,
  });
}
