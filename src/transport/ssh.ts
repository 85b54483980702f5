// A server reached over SSH (ssh2): one connection reused for everything,
// exec channels capped and queued, host keys verified against known_hosts,
// a lost connection reported to whatever was in flight and re-established on
// the next use.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { MyikeError } from '../errors.js';
import type { HostKeyPolicy, ServerConf } from '../model/config-types.js';
import { ExecQueue } from './exec-queue.js';
import { ssh2 } from '../ssh2-lib.js';
import {
  addKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeOf,
  knownHostName,
  preferredHostKeyAlgorithms,
  readKnownHosts,
} from './known-hosts.js';
import { timeoutError } from './local.js';
import { shq, type ExecOptions, type ExecResult, type InteractiveResult, type Terminal, type Transport } from './transport.js';

export interface SshOptions {
  /** Exec/SFTP channels in flight at once (design.md §5: 6 under MaxSessions 10). */
  maxChannels?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  connectTimeoutMs?: number;
  /** Called with one line per connection event; never receives secrets. */
  log?: (line: string) => void;
}

type SshConf = Pick<
  ServerConf,
  'name' | 'sshaddr' | 'sshport' | 'sshuser' | 'sshpass' | 'sshkeypath' | 'knownhosts' | 'hostkeycheck'
>;

interface Conn {
  client: Client;
  ready: Promise<void>;
  closed: boolean;
  /** Rejecters of operations that need this connection; all called when it is lost. */
  inflight: Set<(e: MyikeError) => void>;
  lastError?: Error;
}

const SUPPORTED_HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** `~/x` → the controller user's home; other paths as given. */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

export function defaultKnownHostsFile(): string {
  return path.join(os.homedir(), '.ssh', 'known_hosts');
}

const PID_MARK = '@@myikev2-pid ';

const isChannelOpenFailure = (e: unknown): boolean =>
  e instanceof Error && e.message.startsWith('(SSH) Channel open failure');

export class SshTransport implements Transport {
  readonly server: string;
  readonly kind = 'ssh';
  private conn?: Conn;
  private readonly queue: ExecQueue;
  /** Number of SSH connections made so far (1 + reconnects); observable for tests. */
  connects = 0;
  /** close() was called: a lost connection is made again, a closed transport is not. */
  private shut = false;

  constructor(
    private readonly conf: SshConf,
    private readonly opts: SshOptions = {},
  ) {
    this.server = conf.name;
    this.queue = new ExecQueue({
      limit: opts.maxChannels ?? 6,
      retries: 8,
      baseDelayMs: 25,
      isTransient: (e) => isChannelOpenFailure(e) && this.conn?.closed === false,
    });
  }

  /** Channel retries so far, the most channels in flight at once, and the current cap. */
  get channelStats(): { retried: number; peak: number; limit: number } {
    return { retried: this.queue.retried, peak: this.queue.peak, limit: this.queue.limit };
  }

  /** Connect now (otherwise the first operation connects). */
  async connect(): Promise<void> {
    await this.connection();
  }

  private err(code: string, message: string, step: string, hint?: string, cause?: unknown): MyikeError {
    return new MyikeError(code, message, { server: this.server, step, hint, cause });
  }

  private where(): string {
    const host = this.conf.sshaddr.includes(':') ? `[${this.conf.sshaddr}]` : this.conf.sshaddr; // IPv6: its own colons
    return `${this.conf.sshuser}@${host}:${this.conf.sshport}`;
  }

  private async connection(): Promise<Conn> {
    if (this.shut) throw this.err('E_SSH_CLOSED', `the connection to ${this.where()} was closed by this program`, 'connect', 'this is a bug: an operation ran after its transport was closed');
    if (!this.conn || this.conn.closed) this.conn = this.open();
    const c = this.conn;
    await c.ready;
    if (c.closed) throw this.lostError('connect', c);
    return c;
  }

  private lostError(step: string, c: Conn): MyikeError {
    const why = c.lastError ? `: ${c.lastError.message}` : '';
    return this.err(
      'E_SSH_LOST',
      `SSH connection to ${this.where()} was lost${why}`,
      step,
      'the operation was not completed; the next operation reconnects. Check the server and the network if this repeats',
    );
  }

  private open(): Conn {
    const client = new (ssh2().Client)();
    const policy: HostKeyPolicy = this.conf.hostkeycheck ?? 'strict';
    const khFile = this.conf.knownhosts ? expandHome(this.conf.knownhosts) : defaultKnownHostsFile();
    const khName = knownHostName(this.conf.sshaddr, this.conf.sshport);
    let hostKeyError: MyikeError | undefined;
    const c: Conn = { client, ready: Promise.resolve(), closed: false, inflight: new Set() };
    this.connects++;

    c.ready = (async () => {
      const known = policy === 'off' ? [] : await readKnownHosts(khFile);
      const preferred = preferredHostKeyAlgorithms(known, khName).filter((a) => SUPPORTED_HOST_KEY_ALGOS.includes(a));
      const cfg: ConnectConfig = {
        username: this.conf.sshuser,
        readyTimeout: this.opts.connectTimeoutMs ?? 15_000,
        keepaliveInterval: this.opts.keepaliveIntervalMs ?? 5_000,
        keepaliveCountMax: this.opts.keepaliveCountMax ?? 3,
        ...(preferred.length ? { algorithms: { serverHostKey: { remove: preferred, prepend: preferred } as never } } : {}),
        hostVerifier: ((key: Buffer, verify: (ok: boolean) => void) => {
          if (policy === 'off') return verify(true);
          const verdict = checkHostKey(known, khName, key);
          const fp = fingerprint(key);
          if (verdict.status === 'match') return verify(true);
          if (verdict.status === 'mismatch') {
            const was = verdict.known.map((e) => `${fingerprint(e.key)} (${e.keyType}, ${khFile}:${e.lineNo})`).join(', ');
            hostKeyError = this.err(
              'E_HOSTKEY_MISMATCH',
              `host key of ${khName} does not match known_hosts: server presented ${fp} (${keyTypeOf(key)}), known_hosts has ${was}`,
              'host key check',
              `someone may be intercepting the connection, or the server was reinstalled. If you trust the new key, remove the old entry: ssh-keygen -R ${shq(khName)} -f ${shq(khFile)}`,
            );
            return verify(false);
          }
          if (verdict.status === 'revoked') {
            hostKeyError = this.err('E_HOSTKEY_REVOKED', `host key ${fp} of ${khName} is marked @revoked in ${khFile}`, 'host key check', 'replace the server\'s host key');
            return verify(false);
          }
          if (policy === 'accept-new') {
            addKnownHost(khFile, khName, key).then(
              (added) => {
                if (added) this.opts.log?.(`${this.server}: recorded host key ${fp} for ${khName} in ${khFile}`);
                verify(true);
              },
              (e: Error) => {
                hostKeyError = this.err('E_HOSTKEY_RECORD', `cannot record host key ${fp} for ${khName} in ${khFile}: ${e.message}`, 'host key check', 'check that the known_hosts file is writable, or add the key yourself');
                verify(false);
              },
            );
            return;
          }
          hostKeyError = this.err(
            'E_HOSTKEY_UNKNOWN',
            `host key of ${khName} (${fp}, ${keyTypeOf(key)}) is not in ${khFile}`,
            'host key check',
            `verify the fingerprint out of band and add it (ssh-keyscan -p ${this.conf.sshport} ${shq(this.conf.sshaddr)} >> ${shq(khFile)}), or set hostkeycheck: accept-new for this server`,
          );
          verify(false);
        }) as never,
      };
      const methods: string[] = [];
      if (this.conf.sshkeypath) {
        const keyPath = expandHome(this.conf.sshkeypath);
        try {
          cfg.privateKey = await fsp.readFile(keyPath);
        } catch (e) {
          throw this.err('E_SSH_KEY', `cannot read sshkeypath ${keyPath}: ${(e as Error).message}`, 'connect', 'fix sshkeypath in the controller config', e);
        }
        const parsed = ssh2().utils.parseKey(cfg.privateKey);
        const key = Array.isArray(parsed) ? parsed[0] : parsed;
        if (key instanceof Error || !key || key.getPrivatePEM() === null) {
          const why = key instanceof Error ? key.message : 'not a private key';
          const encrypted = /passphrase|encrypted/i.test(why);
          throw this.err(
            'E_SSH_KEY',
            `sshkeypath ${keyPath} cannot be used: ${encrypted ? 'the key is protected by a passphrase' : why}`,
            'connect',
            encrypted
              ? 'load it into an ssh-agent (ssh-add) and remove sshkeypath, or give an unencrypted key'
              : 'give the path of an OpenSSH/PEM private key (not the .pub file)',
          );
        }
        methods.push(`key ${keyPath}`);
      }
      if (process.env.SSH_AUTH_SOCK) {
        cfg.agent = process.env.SSH_AUTH_SOCK;
        methods.push('ssh-agent');
      }
      if (this.conf.sshpass !== undefined) {
        cfg.password = this.conf.sshpass;
        methods.push('password');
      }

      const sock = net.connect({ host: this.conf.sshaddr, port: this.conf.sshport });
      sock.setNoDelay(true); // one exec: ~55 ms → ~12 ms (design.md §5)
      cfg.sock = sock;

      await new Promise<void>((resolve, reject) => {
        let up = false;
        client.on('ready', () => {
          up = true;
          this.opts.log?.(`${this.server}: connected to ${this.where()}`);
          resolve();
        });
        let agentError: string | undefined;
        client.on('error', (e: Error & { level?: string }) => {
          c.lastError = e;
          if (up) return;
          if (hostKeyError) return reject(hostKeyError);
          // ssh2 reports an unusable agent and goes on with the other methods.
          if (e.level === 'agent') {
            agentError = e.message;
            return;
          }
          if (e.level === 'client-authentication') {
            const tried = methods.map((m) => (m === 'ssh-agent' && agentError ? `ssh-agent (SSH_AUTH_SOCK=${cfg.agent as string}: ${agentError})` : m));
            return reject(
              this.err(
                'E_SSH_AUTH',
                `authentication as ${this.conf.sshuser} failed on ${this.where()} (tried: ${tried.join(', ') || 'none'})`,
                'connect',
                agentError
                  ? 'start an ssh-agent and point SSH_AUTH_SOCK at it (or unset SSH_AUTH_SOCK), or configure sshkeypath or sshpass for this server'
                  : methods.length
                    ? 'check sshuser and the key/password for this server, and that sshd allows that method'
                    : 'configure sshkeypath or sshpass for this server, or start an ssh-agent (SSH_AUTH_SOCK)',
              ),
            );
          }
          reject(this.err('E_SSH_CONNECT', `cannot connect to ${this.where()}: ${e.message}`, 'connect', 'check sshaddr/sshport and that sshd runs on the server'));
        });
        client.on('close', () => {
          c.closed = true;
          if (up) this.opts.log?.(`${this.server}: connection lost${c.lastError ? `: ${c.lastError.message}` : ''}`);
          const lost = this.lostError('connection', c);
          for (const fail of [...c.inflight]) fail(lost);
          c.inflight.clear();
          if (!up) reject(hostKeyError ?? this.err('E_SSH_CONNECT', `connection to ${this.where()} closed during handshake`, 'connect', 'check sshaddr/sshport and the server\'s sshd log'));
        });
        try {
          client.connect(cfg);
        } catch (e) {
          reject(this.err('E_SSH_CONNECT', `cannot connect to ${this.where()}: ${(e as Error).message}`, 'connect', 'check the SSH settings of this server', e));
        }
      });
    })();
    c.ready.catch(() => {
      c.closed = true;
      client.end();
    });
    return c;
  }

  /**
   * Run `fn` on the current connection; it must call `track` with its reject
   * so a lost connection fails it instead of leaving it hanging.
   */
  private async withConn<T>(step: string, fn: (c: Conn, done: { resolve: (v: T) => void; reject: (e: unknown) => void }) => void): Promise<T> {
    const c = await this.connection();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        c.inflight.delete(fail);
        reject(e instanceof MyikeError && e.code === 'E_SSH_LOST' ? this.lostError(step, c) : e);
      };
      c.inflight.add(fail);
      try {
        fn(c, {
          resolve: (v) => {
            if (settled) return;
            settled = true;
            c.inflight.delete(fail);
            resolve(v);
          },
          reject: fail,
        });
      } catch (e) {
        // ssh2 throws "Not connected" synchronously when the socket just died.
        fail(c.closed ? this.lostError(step, c) : e);
      }
    });
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    try {
      return await this.queue.run(() => this.execOnce(command, opts));
    } catch (e) {
      if (e instanceof MyikeError) throw e;
      throw this.err('E_EXEC', `cannot run command on ${this.where()}: ${(e as Error).message}`, 'exec', 'check the server (MaxSessions, load) and retry', e);
    }
  }

  private execOnce(command: string, opts: ExecOptions): Promise<ExecResult> {
    // `sh -c` as on the local machine, whatever the login shell; the shell
    // first reports its pid (it leads its own process group: sshd calls
    // setsid) so a timeout can kill the command and its children — sshd
    // ignores channel signal requests.
    const wrapped = `echo "${PID_MARK}$$" >&2; exec sh -c ${shq(command)}`;
    return this.withConn<ExecResult>('exec', (c, done) => {
      c.client.exec(wrapped, (err, ch) => {
        if (err) return done.reject(err);
        let stdout = '';
        let stderr = '';
        let head: string | undefined = ''; // stderr until the pid line is seen
        let pid: number | undefined;
        let code: number | null = null;
        let signal: string | undefined;
        const timer =
          opts.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                if (pid) this.exec(`kill -9 -${pid} 2>/dev/null; true`).catch(() => undefined);
                ch.close();
                done.reject(timeoutError(this.server, command, opts.timeoutMs!));
              }, opts.timeoutMs);
        const onStderr = (s: string) => {
          stderr += s;
          opts.onStderr?.(s);
        };
        ch.setEncoding('utf8');
        ch.stderr.setEncoding('utf8');
        ch.on('data', (s: string) => {
          stdout += s;
          opts.onStdout?.(s);
        });
        ch.stderr.on('data', (s: string) => {
          if (head === undefined) return onStderr(s);
          head += s;
          const nl = head.indexOf('\n');
          if (nl < 0) return;
          const m = new RegExp(`^${PID_MARK}(\\d+)$`).exec(head.slice(0, nl));
          const rest = m ? head.slice(nl + 1) : head;
          if (m) pid = Number(m[1]);
          head = undefined;
          if (rest) onStderr(rest);
        });
        ch.on('exit', (exitCode: number | null, sig?: string) => {
          code = exitCode;
          if (sig) signal = sig.startsWith('SIG') ? sig : `SIG${sig}`;
        });
        ch.on('close', () => {
          clearTimeout(timer);
          if (c.closed) return done.reject(this.lostError('exec', c));
          if (head) onStderr(head);
          done.resolve({ code, ...(signal ? { signal } : {}), stdout, stderr });
        });
        ch.end(opts.stdin ?? '');
      });
    });
  }

  private sftp<T>(step: string, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      const sftp = await this.withConn<SFTPWrapper>(step, (c, done) =>
        c.client.sftp((err, s) => (err ? done.reject(err) : done.resolve(s))),
      );
      // A lost connection makes pending SFTP requests fail with an error, not hang.
      try {
        return await fn(sftp);
      } finally {
        sftp.end();
      }
    });
  }

  async push(localPath: string, remotePath: string): Promise<void> {
    try {
      const st = await fsp.stat(localPath);
      await this.sftp('push', async (sftp) => {
        if (st.isDirectory()) await pushDir(sftp, localPath, remotePath);
        else await pushFile(sftp, localPath, remotePath, st.mode);
      });
    } catch (e) {
      if (e instanceof MyikeError) throw e;
      if (this.conn?.closed) throw this.lostError('push', this.conn);
      throw this.err('E_PUSH', `cannot push ${localPath} to ${this.server}:${remotePath}: ${(e as Error).message}`, 'push', 'check that the source exists and the destination directory exists and is writable on the server', e);
    }
  }

  async openUnixStream(socketPath: string): Promise<Duplex> {
    try {
      return await this.withConn<ClientChannel>('open unix socket', (c, done) => {
        c.client.openssh_forwardOutStreamLocal(socketPath, (err, ch) => (err ? done.reject(err) : done.resolve(ch)));
      });
    } catch (e) {
      if (e instanceof MyikeError) throw e;
      const reason = (e as { reason?: number }).reason;
      throw this.err(
        'E_UNIX_SOCKET',
        `cannot open ${socketPath} on ${this.server} through SSH: ${(e as Error).message}`,
        'open unix socket',
        reason === 1
          ? 'sshd refuses stream-local forwarding: set AllowStreamLocalForwarding yes (and no PermitOpen/restrict limiting it) in the server\'s sshd_config'
          : 'nothing listens on that socket on the server (or sshd forbids stream-local forwarding: AllowStreamLocalForwarding, AllowTcpForwarding, PermitOpen, restrict)',
        e,
      );
    }
  }

  /** A PTY channel (not counted against the exec cap: it lives as long as the user wants). */
  async interactive(command: string, term: Terminal): Promise<InteractiveResult> {
    const { input, output } = term;
    const pty = { term: process.env.TERM || 'xterm-256color', rows: output.rows || 24, cols: output.columns || 80 };
    return this.withConn<InteractiveResult>('interactive', (c, done) => {
      c.client.exec(`exec sh -c ${shq(command)}`, { pty }, (err, ch) => {
        if (err) return done.reject(err);
        const wasRaw = input.isRaw;
        const wasPaused = input.isPaused();
        let code: number | null = null;
        let signal: string | undefined;
        const onKeys = (d: Buffer) => ch.write(d);
        const onResize = () => ch.setWindow(output.rows || 24, output.columns || 80, 0, 0);
        input.setRawMode?.(true);
        input.on('data', onKeys);
        input.resume();
        output.on('resize', onResize);
        ch.on('data', (d: Buffer) => output.write(d));
        ch.stderr.on('data', (d: Buffer) => output.write(d));
        ch.on('exit', (exitCode: number | null, sig?: string) => {
          code = exitCode;
          if (sig) signal = sig.startsWith('SIG') ? sig : `SIG${sig}`;
        });
        ch.on('close', () => {
          input.off('data', onKeys);
          output.off('resize', onResize);
          input.setRawMode?.(wasRaw);
          if (wasPaused) input.pause();
          if (c.closed) return done.reject(this.lostError('interactive', c));
          done.resolve({ code, ...(signal ? { signal } : {}) });
        });
      });
    });
  }

  async close(): Promise<void> {
    this.shut = true;
    const c = this.conn;
    this.conn = undefined;
    if (!c || c.closed) return;
    await c.ready.catch(() => undefined);
    if (c.closed) return;
    await new Promise<void>((resolve) => {
      c.client.once('close', () => resolve());
      c.client.end();
    });
  }
}

const sftpCall = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));

async function pushFile(sftp: SFTPWrapper, local: string, remote: string, mode: number): Promise<void> {
  const tmp = path.posix.join(path.posix.dirname(remote), `.${path.posix.basename(remote)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await sftpCall<void>((cb) => sftp.fastPut(local, tmp, { mode: mode & 0o7777 }, cb));
    await sftpCall<void>((cb) => sftp.chmod(tmp, mode & 0o7777, cb));
    // posix-rename replaces an existing file atomically (plain SFTP rename refuses to).
    await sftpCall<void>((cb) => sftp.ext_openssh_rename(tmp, remote, cb));
  } catch (e) {
    await sftpCall<void>((cb) => sftp.unlink(tmp, cb)).catch(() => undefined);
    throw e;
  }
}

async function pushDir(sftp: SFTPWrapper, local: string, remote: string): Promise<void> {
  const st = await fsp.stat(local);
  await sftpCall<void>((cb) => sftp.mkdir(remote, { mode: st.mode & 0o7777 }, cb)).catch(async (e) => {
    // Already there is fine (merge); anything else is not.
    const s = await sftpCall<{ isDirectory(): boolean }>((cb) => sftp.stat(remote, cb)).catch(() => undefined);
    if (!s?.isDirectory()) throw e;
  });
  for (const ent of await fsp.readdir(local, { withFileTypes: true })) {
    const l = path.join(local, ent.name);
    const r = path.posix.join(remote, ent.name);
    if (ent.isDirectory()) await pushDir(sftp, l, r);
    else if (ent.isFile()) await pushFile(sftp, l, r, (await fsp.stat(l)).mode);
  }
}
