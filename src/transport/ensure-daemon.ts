// Make sure the server's daemon runs our bundle (or a compatible one) and
// hand back a connected client; reconnect after a lost connection.
import { EventEmitter } from 'node:events';
import { DaemonClient } from '../daemon/client.js';
import { DAEMON_LOG_MAX_BYTES } from '../daemon/detach.js';
import { DEFAULT_SOCKET, DEFAULT_STATE_DIR, type InstanceEvent, type InstanceInfo } from '../daemon/protocol.js';
import { MyikeError } from '../errors.js';
import { preflight } from './preflight.js';
import { daemonFile, DEFAULT_BUNDLES_DIR, pushBundle, remoteBundlePath, remoteDaemonPath, type Bundle } from './bundle.js';
import { shq, type Transport } from './transport.js';

export interface EnsureDaemonOptions {
  /** The daemon's socket on the server (default /run/myikev2/daemon.sock). */
  socketPath?: string;
  /** Passed as --state-dir when we start the daemon (servers sharing a file system need one each). */
  stateDir?: string;
  bundlesDir?: string;
  /** Handshake and request timeout (default 15 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface DaemonSession {
  client: DaemonClient;
  /** Where our bundle is on the server, and whether this call uploaded it. */
  bundle: { uploaded: boolean; remotePath: string };
  /** We started a daemon (none answered, or we replaced an older one). */
  started: boolean;
  /** An older daemon was shut down and replaced by ours. */
  replaced: boolean;
  /** The running daemon's build differs from ours and was kept (it runs instances). */
  olderKept: boolean;
}

/** Hello with the daemon behind `socketPath`, or undefined if nothing answers there. */
export async function connectDaemon(t: Transport, opts: EnsureDaemonOptions = {}): Promise<DaemonClient | undefined> {
  const socketPath = opts.socketPath ?? DEFAULT_SOCKET;
  let stream;
  try {
    stream = await t.openUnixStream(socketPath);
  } catch (e) {
    if (e instanceof MyikeError && e.code === 'E_UNIX_SOCKET') return undefined;
    throw e; // SSH itself failed: not a reason to start a daemon
  }
  try {
    const client = await DaemonClient.connect(stream, {
      label: `daemon on ${t.server}`,
      clientName: 'myikev2 controller',
      timeoutMs: opts.timeoutMs,
    });
    // When the daemon ends the connection, close our side too: a half-open
    // forwarded channel would keep the daemon's socket (and process) alive.
    client.once('close', () => stream.destroy());
    return client;
  } catch (e) {
    if (e instanceof MyikeError && e.code === 'E_DAEMON_CLOSED') return undefined; // socket file left by a dead daemon
    throw e;
  }
}

/**
 * The shell command that starts the daemon in its own session and returns
 * once it listens: the daemon writes "ready" (or "fail CODE") on a pipe whose
 * other end `head` waits on, so nothing polls, and no second Node process
 * starts it (as `myikev2 daemon --detach` does: ~0.3 s of CPU per server).
 * Exits 0 when ready, else with the daemon's exit code (2: another daemon
 * holds the lock) and its last log lines on stderr.
 */
export function daemonStartCommand(remoteDaemon: string, opts: Pick<EnsureDaemonOptions, 'socketPath' | 'stateDir'>): string {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const args = ['daemon', '--state-dir', stateDir, ...(opts.socketPath ? ['--socket', opts.socketPath] : []), '--ready-fd', '3'];
  return [
    `d=${shq(stateDir)}; log="$d/daemon.log"; mkdir -p -m 0700 "$d"`,
    `if [ -f "$log" ] && [ "$(stat -c %s "$log")" -gt ${DAEMON_LOG_MAX_BYTES} ]; then mv -f "$log" "$log.prev"; fi`,
    'seen=$(cat "$log" 2>/dev/null | wc -l)',
    'cd /',
    `r=$({ setsid node ${shq(remoteDaemon)} ${args.map(shq).join(' ')} 3>&1 >>"$log" 2>&1 </dev/null & } | head -n 1)`,
    '[ "$r" = ready ] && exit 0',
    'tail -n +$((seen + 1)) "$log" | tail -n 5 >&2',
    'case "$r" in "fail "*) exit "${r#fail }" ;; *) exit 1 ;; esac',
  ].join('\n');
}

/** Exit code of the start command when the bundle is not on the server yet. */
const NO_BUNDLE = 97;

/** Starts the daemon from its file; false when the file is not there (nothing started). */
async function startDaemon(t: Transport, remoteDaemon: string, opts: EnsureDaemonOptions): Promise<boolean> {
  const cmd = `[ -f ${shq(remoteDaemon)} ] || exit ${NO_BUNDLE}\n${daemonStartCommand(remoteDaemon, opts)}`;
  // Exit 2 = another daemon holds the lock (a parallel start, or an old one still exiting).
  for (let attempt = 0; ; attempt++) {
    const r = await t.exec(cmd, { timeoutMs: 30_000 });
    if (r.code === 0) return true;
    if (r.code === NO_BUNDLE) return false;
    if (r.code === 2 && attempt < 10) {
      if (await connectDaemon(t, opts).then((c) => (c ? (c.close(), true) : false))) return true;
      await new Promise((res) => setTimeout(res, 200));
      continue;
    }
    // One runs (it holds the lock) but never answered: the same as above.
    if (r.code === 2 && t.kind === 'ssh') await preflight(t);
    throw new MyikeError('E_DAEMON_START', `cannot start the daemon: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`, {
      server: t.server,
      step: 'start daemon',
      hint: `run \`node ${remoteDaemon} daemon --detach${opts.stateDir ? ` --state-dir ${opts.stateDir}` : ''}\` on ${t.server} by hand to see why`,
    });
  }
}

/** What the daemon still has: its instances, and the keys of the manifests it keeps (one write, one round trip). */
export async function holdings(client: DaemonClient): Promise<{ instances: InstanceInfo[]; keys: string[] }> {
  const [{ instances }, { keys }] = await Promise.all([client.request('list', {}), client.request('manifest.list', {})]);
  return { instances, keys };
}

/**
 * Shuts the daemon down if nothing would be lost: no instance, no run
 * manifest, and no other client (a controller bringing a run up is connected
 * before it records anything); the daemon checks and stops in one step.
 * A daemon of an older build without `shutdown.ifIdle` is checked from here,
 * without the clients. Returns what keeps it, or null when it is going.
 */
export async function shutdownIfIdle(client: DaemonClient): Promise<string | null> {
  if (client.server.features.includes('shutdown.ifIdle')) return (await client.request('shutdown.ifIdle', {})).busy ?? null;
  const { instances, keys } = await holdings(client);
  if (instances.length || keys.length) return [instances.length && `${instances.length} instance(s)`, keys.length && `${keys.length} run manifest(s)`].filter(Boolean).join(', ');
  await client.request('shutdown', {});
  return null;
}

/**
 * Connect to the daemon; start it if nothing answers, pushing our bundle
 * first if it is not on the server (one exec when it is). A daemon of
 * another build is replaced only when it is idle (see shutdownIfIdle);
 * otherwise it is kept and spoken to in the newest protocol version both
 * understand.
 */
export async function ensureDaemon(t: Transport, bundle: Bundle, opts: EnsureDaemonOptions = {}): Promise<DaemonSession> {
  const ours = `sha256:${daemonFile(bundle).sha256}`;
  const baseDir = opts.bundlesDir ?? DEFAULT_BUNDLES_DIR;
  let pushed = { uploaded: false, remotePath: remoteBundlePath(bundle, baseDir) };
  let replaced = false;
  let client = await connectDaemon(t, opts);
  if (client && client.server.build !== ours) {
    const busy = await shutdownIfIdle(client);
    if (busy) {
      opts.log?.(`${t.server}: daemon build ${client.server.build} differs from ours; kept (${busy}), protocol v${client.session.version}`);
      // Instances it starts run our engine: our bundle must be there too.
      return { client, bundle: await pushBundle(t, bundle, baseDir), started: false, replaced: false, olderKept: true };
    }
    opts.log?.(`${t.server}: replaced idle daemon build ${client.server.build} with ${ours}`);
    await new Promise<void>((r) => (client!.closed ? r() : client!.once('close', () => r())));
    client = undefined;
    replaced = true;
  }
  // Our build: its daemon file names our engine bundle, which is beside it (pushed first).
  if (client) return { client, bundle: pushed, started: false, replaced: false, olderKept: false };
  // Twice: another controller's teardown may find the new daemon idle and stop it before we connect.
  for (let attempt = 1; !client && attempt <= 2; attempt++) {
    try {
      if (!(await startDaemon(t, remoteDaemonPath(bundle, baseDir), opts))) {
        pushed = await pushBundle(t, bundle, baseDir);
        await startDaemon(t, remoteDaemonPath(bundle, baseDir), opts);
      }
    } catch (e) {
      throw notAllowed(t, e);
    }
    client = await connectDaemon(t, opts);
    // Started, yet its socket does not answer: over SSH, sshd may refuse to forward to it; preflight says which setting.
    if (!client && t.kind === 'ssh') await preflight(t);
  }
  if (!client) {
    throw new MyikeError('E_DAEMON_UNREACHABLE', `the daemon started but its socket ${opts.socketPath ?? DEFAULT_SOCKET} does not answer`, {
      server: t.server,
      step: 'start daemon',
      hint: 'look at daemon.log in the daemon state directory on that server',
    });
  }
  return { client, bundle: pushed, started: true, replaced, olderKept: false };
}

/**
 * A user that may not write where myikev2 keeps its files on the server (not
 * root) meets "Permission denied" in whatever shell command comes first: say
 * what is needed rather than that command.
 */
function notAllowed(t: Transport, e: unknown): unknown {
  const denied = e instanceof MyikeError && /^.*(Permission denied|Operation not permitted).*$/m.exec(e.message);
  if (!denied) return e;
  return new MyikeError('E_PERMISSION', `the user myikev2 runs as on ${t.server} may not set it up there: ${denied[0].trim()}`, {
    server: t.server,
    step: (e as MyikeError).step,
    cause: e,
    hint:
      t.kind === 'local'
        ? 'run myikev2 as root (sudo myikev2 …): it creates network namespaces and keeps its files in /var/lib/myikev2 and /run/myikev2'
        : `myikev2 needs root on its servers (network namespaces, /var/lib/myikev2, /run/myikev2): set sshuser: root for ${t.server} in the controller config`,
  });
}

export type WatchUpdate = { kind: 'snapshot'; instances: InstanceInfo[] } | { kind: 'event'; event: InstanceEvent };

/**
 * A daemon connection that survives lost connections: `client()` returns the
 * open client or reconnects (SSH and daemon); watches re-subscribe on each
 * reconnect and receive the fresh snapshot first, so a watcher resynchronises
 * without gaps. Emits 'lost' (error) when the connection drops.
 */
export class DaemonLink extends EventEmitter {
  private current?: DaemonClient;
  private connecting?: Promise<DaemonClient>;
  private readonly watches = new Set<{ tag?: string; onUpdate: (u: WatchUpdate) => void }>();
  /** Reconnections so far (observable for tests). */
  reconnects = 0;
  session?: DaemonSession;
  private closed = false;

  constructor(
    readonly transport: Transport,
    private readonly bundle: Bundle,
    private readonly opts: EnsureDaemonOptions = {},
  ) {
    super();
  }

  async client(): Promise<DaemonClient> {
    if (this.closed) throw new MyikeError('E_DAEMON_CLOSED', `the link to the daemon on ${this.transport.server} is closed`);
    if (this.current && !this.current.closed) return this.current;
    this.connecting ??= this.reconnect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async reconnect(): Promise<DaemonClient> {
    const first = this.session === undefined;
    let c = first ? undefined : await connectDaemon(this.transport, this.opts);
    if (!c) {
      this.session = await ensureDaemon(this.transport, this.bundle, this.opts);
      c = this.session.client;
    }
    if (this.closed) {
      // Closed while connecting: what the connection opened is closed too.
      await c.close();
      throw new MyikeError('E_DAEMON_CLOSED', `the link to the daemon on ${this.transport.server} is closed`);
    }
    if (!first) this.reconnects++;
    c.once('close', (e: Error) => {
      if (this.current === c) this.emit('lost', e);
    });
    this.current = c;
    for (const w of this.watches) await this.subscribeWatch(c, w);
    return c;
  }

  private async subscribeWatch(c: DaemonClient, w: { tag?: string; onUpdate: (u: WatchUpdate) => void }): Promise<void> {
    const sub = await c.subscribe(w.tag === undefined ? {} : { tag: w.tag });
    w.onUpdate({ kind: 'snapshot', instances: sub.initial });
    sub.on('event', (event) => this.watches.has(w) && w.onUpdate({ kind: 'event', event }));
  }

  /** Snapshot now and after every reconnect, events in between. Returns an unwatch function. */
  async watch(onUpdate: (u: WatchUpdate) => void, tag?: string): Promise<() => void> {
    const w = { tag, onUpdate };
    this.watches.add(w);
    if (this.current && !this.current.closed) await this.subscribeWatch(this.current, w);
    else await this.client(); // subscribes every watch once connected
    return () => this.watches.delete(w);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watches.clear();
    const c = this.current;
    this.current = undefined;
    await c?.close();
    await this.connecting?.catch(() => undefined);
  }
}
