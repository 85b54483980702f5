// `myikev2 daemon` in the foreground: lock, state, listeners, signals.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import { isReadableByOthers } from '../file-mode.js';
import { unixSocketAnswers } from '../unix-socket.js';
import { acquireLock, runningDaemon } from './lock.js';
import { Locks } from './locks.js';
import { ManifestStore } from './manifests.js';
import type { DaemonInfo } from './methods.js';
import { Connection } from './server.js';
import { reportReady } from './ready.js';
import { Supervisor } from './supervisor.js';
import { foreignProc } from './proc.js';

export interface DaemonOptions {
  socket: string;
  stateDir: string;
  /** ADDR:PORT of an optional TCP listener (needs tokenFile). */
  listen?: string;
  tokenFile?: string;
  logCheckMs?: number;
  adoptPollMs?: number;
  /** Written "ready" once listening, then closed (see ready.ts). */
  readyFd?: number;
  /** How often it checks that its socket and lock are still its own (default 2 s). */
  orphanCheckMs?: number;
}

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} daemon[${process.pid}] ${msg}\n`);
}

/** SHA-256 of the running script (the pushed bundle): tells builds apart. */
function buildId(): string {
  try {
    return 'sha256:' + createHash('sha256').update(readFileSync(process.argv[1])).digest('hex');
  } catch {
    return 'unknown';
  }
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new MyikeError('E_USAGE', `--listen ${listen} is not ADDR:PORT`, {
      hint: 'e.g. --listen 127.0.0.1:7070 or --listen [::1]:7070',
      exitCode: EXIT_USAGE,
    });
  }
  return { host: m[1], port };
}

export function readToken(tokenFile: string | undefined): string {
  if (!tokenFile) {
    throw new MyikeError('E_USAGE', '--listen needs --token-file: a TCP listener without a token would let anyone start processes as root', {
      hint: 'write a long random token to a file only root can read and pass --token-file FILE',
      exitCode: EXIT_USAGE,
    });
  }
  let token: string;
  try {
    // Anyone who can read the token can start processes as root through the listener.
    if (isReadableByOthers(tokenFile)) {
      throw new MyikeError('E_USAGE', `the token file ${tokenFile} is readable by group or others`, {
        hint: `run: chmod 600 ${tokenFile}`,
        exitCode: EXIT_USAGE,
      });
    }
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (e) {
    if (e instanceof MyikeError) throw e;
    throw new MyikeError('E_USAGE', `cannot read the token file ${tokenFile}: ${(e as NodeJS.ErrnoException).code}`, {
      hint: 'give a readable file holding the token',
      exitCode: EXIT_USAGE,
    });
  }
  if (token.length < 16) {
    throw new MyikeError('E_USAGE', `the token in ${tokenFile} is shorter than 16 characters`, {
      hint: 'use a long random token, e.g. openssl rand -hex 32',
      exitCode: EXIT_USAGE,
    });
  }
  return token;
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A path the daemon cannot use is for the user to fix, not a bug: say which path and why. */
export function unusablePath(code: string, what: string, e: unknown, hint: string): MyikeError {
  return new MyikeError(code, `cannot use ${what}: ${(e as Error).message}`, { hint, cause: e });
}

/**
 * Runs the daemon until `shutdown` or SIGTERM/SIGINT; resolves with the exit
 * code. Instances are left running when the daemon exits (the next one
 * re-adopts them).
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const token = opts.listen ? readToken(opts.tokenFile) : undefined;
  const tcp = opts.listen ? parseListen(opts.listen) : undefined;
  const proc = foreignProc();
  if (proc) {
    throw new MyikeError('E_DAEMON_PROC', `cannot supervise processes here: ${proc}`, {
      hint: 'start it where /proc is this PID namespace\'s own (e.g. unshare --pid --fork --mount-proc), or outside that PID namespace',
    });
  }
  try {
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw unusablePath('E_DAEMON_STATE', `state directory ${opts.stateDir}`, e, 'give a --state-dir this user can create and write');
  }
  const release = acquireLock(join(opts.stateDir, 'daemon.lock'), opts.socket);
  const servers: Server[] = [];
  const connections = new Set<Connection>();
  let closing = false;
  let closed = false;
  let listening = false;
  let sup: Supervisor | undefined;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));

  let orphanCheck: NodeJS.Timeout | undefined;
  const close = (reason: string, code = 0, save = true) => {
    if (closed) return;
    closed = closing = true;
    clearInterval(orphanCheck);
    log(`shutting down: ${reason}`);
    // Closing the Unix listener unlinks its path (libuv), which may be another daemon's socket by now.
    for (const s of servers) if (save || s !== servers[0]) s.close();
    if (save) sup?.flush(); // answers waiting for a state save go out before the connections end
    for (const c of connections) c.end();
    sup?.close(save);
    sup = undefined;
    if (listening && save) rmSync(opts.socket, { force: true });
    release();
    resolveExit(code);
  };

  try {
    const info: DaemonInfo = {
      pid: process.pid,
      build: buildId(),
      startedAt: new Date().toISOString(),
      socket: opts.socket,
      stateDir: opts.stateDir,
    };
    // MYIKEV2_NS_HELPER=perl|off: the slower ways of starting instances (tests of those paths).
    const nsHelper = (['perl', 'off'] as const).find((m) => m === process.env.MYIKEV2_NS_HELPER) ?? 'auto';
    sup = new Supervisor({ stateDir: opts.stateDir, logCheckMs: opts.logCheckMs, adoptPollMs: opts.adoptPollMs, nsHelper, log });
    const manifests = new ManifestStore(opts.stateDir, log);
    const locks = new Locks();
    const supervisor = sup;
    sup.start();
    const shared = {
      sup: supervisor,
      manifests,
      locks,
      info,
      log,
      shuttingDown: () => closing,
      shutdown: async (stopInstances: boolean) => {
        closing = true; // refuse new requests from now on
        if (stopInstances) {
          await Promise.all(supervisor.list().map((i) => supervisor.stop(i.name, 'graceful')));
        }
        setImmediate(() => close('shutdown requested'));
      },
      otherClients: (session: object) => [...connections].filter((c) => c !== session).length,
    };
    supervisor.on('change', (event, instance) => {
      for (const c of connections) c.instanceChanged(event, instance);
    });
    const accept = (authToken: string | undefined) => (socket: Socket) => {
      const c = new Connection(socket, shared, authToken, (gone) => connections.delete(gone));
      connections.add(c);
    };

    const sockDir = dirname(opts.socket);
    const socketHint = 'give a --socket in a directory this user can create and write (default /run/myikev2/daemon.sock)';
    try {
      if (!existsSync(sockDir)) mkdirSync(sockDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw unusablePath('E_DAEMON_SOCKET', `socket ${opts.socket}`, e, socketHint);
    }
    if (existsSync(opts.socket)) {
      if (await unixSocketAnswers(opts.socket, 1000)) {
        throw new MyikeError('E_DAEMON_SOCKET', `something already answers on ${opts.socket} (another daemon with another --state-dir?)`, {
          hint: 'stop it, or give this daemon another --socket',
          exitCode: EXIT_USAGE,
        });
      }
      if (!statSync(opts.socket).isSocket()) {
        throw new MyikeError('E_DAEMON_SOCKET', `${opts.socket} exists and is not a socket`, {
          hint: 'remove it or give another --socket',
          exitCode: EXIT_USAGE,
        });
      }
      rmSync(opts.socket); // left by a daemon that died
    }
    const unixServer = createServer(accept(undefined));
    servers.push(unixServer);
    const umask = process.umask(0o177); // the socket is born 0600: no window with wider access
    try {
      await listen(unixServer, opts.socket);
      listening = true;
    } catch (e) {
      throw unusablePath('E_DAEMON_SOCKET', `socket ${opts.socket}`, e, socketHint);
    } finally {
      process.umask(umask);
    }
    chmodSync(opts.socket, 0o600);
    if (tcp) {
      const tcpServer = createServer(accept(token));
      servers.push(tcpServer);
      await listen(tcpServer, tcp.port, tcp.host);
      log(`listening on tcp ${opts.listen} (token required)`);
    }
    log(`listening on ${opts.socket}, state in ${opts.stateDir}, build ${info.build.slice(0, 19)}, ${supervisor.list().length} instance(s) on record`);
    if (opts.readyFd !== undefined) reportReady(opts.readyFd, 'ready');
    // Its socket or lock removed (rm -rf /run/myikev2) or taken by a daemon started since: no controller can reach
    // it any more. Once no connection is left it goes, without touching the files (they may be the new daemon's);
    // its instances stay, as at any exit, and teardown finds them by their tag.
    const own = statSync(opts.socket);
    const lockPath = join(opts.stateDir, 'daemon.lock');
    orphanCheck = setInterval(() => {
      if (connections.size) return;
      const now = statSync(opts.socket, { throwIfNoEntry: false });
      if (now?.ino === own.ino && now.dev === own.dev && runningDaemon(lockPath)?.pid === process.pid) return;
      close(`its socket ${opts.socket} or lock ${lockPath} was removed or taken over: unreachable`, 0, false);
    }, opts.orphanCheckMs ?? 2000);
    orphanCheck.unref();
    process.on('SIGTERM', () => close('SIGTERM'));
    process.on('SIGINT', () => close('SIGINT'));
    process.on('SIGHUP', () => {}); // the SSH session that started us may go away
  } catch (e) {
    close(`failed to start: ${(e as Error).message}`, 1);
    throw e;
  }
  return exited;
}
