// Client of the daemon protocol over any Duplex stream: a local Unix socket,
// a TCP connection, or an SSH-forwarded channel.
import { EventEmitter } from 'node:events';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { MyikeError } from '../errors.js';
import { encodeLine, LineSplitter } from './lines.js';
import {
  PROTOCOL_VERSIONS,
  negotiateVersion,
  type DaemonEvent,
  type HelloResult,
  type InstanceInfo,
  type LogEvent,
  type LogLine,
  type LogsParams,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  type ServerHello,
} from './protocol.js';

export interface DaemonClientOptions {
  /** Token for a daemon that requires one (TCP listener). */
  token?: string;
  /** Default timeout of each request and of the handshake (default 15 s). */
  timeoutMs?: number;
  /** Sent in hello, shows in the daemon log. */
  clientName?: string;
  /** Protocol versions this client offers (default all it knows). */
  versions?: readonly number[];
  /** Used in error messages (e.g. the server's name). */
  label?: string;
}

export interface RequestOptions {
  timeoutMs?: number;
}

/** An error answered by the daemon (code from the protocol, e.g. E_NOT_FOUND). */
export class DaemonError extends MyikeError {
  constructor(
    readonly remoteCode: string,
    message: string,
    hint?: string,
    server?: string,
  ) {
    super(remoteCode, message, { hint, server });
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  method: string;
}

/**
 * A stream of daemon events with the initial answer (snapshot, log tail).
 * Events that arrive before anyone listens are kept and delivered, in order,
 * to the first 'event' listener, so nothing between snapshot and events is lost.
 * Emits 'event' (E) and 'close' (when unsubscribed or the connection ends).
 */
export class Subscription<I, E extends DaemonEvent = DaemonEvent> extends EventEmitter {
  private queue: E[] = [];
  closed = false;

  constructor(
    private readonly client: DaemonClient,
    readonly id: number,
    readonly initial: I,
  ) {
    super();
    this.on('newListener', (name) => {
      if (name === 'event' && this.queue.length) queueMicrotask(() => this.flush());
    });
  }

  /** @internal */
  deliver(ev: E): void {
    if (this.listenerCount('event') > 0 && !this.queue.length) this.emit('event', ev);
    else this.queue.push(ev);
  }

  private flush(): void {
    const q = this.queue;
    this.queue = [];
    for (const ev of q) this.emit('event', ev);
  }

  /** @internal */
  ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  /** Stops the events (unsubscribe on the daemon side). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.client.forget(this.id);
    this.ended();
    if (!this.client.closed) await this.client.request('unsubscribe', { subscription: this.id }).catch(() => {});
  }

  /** Resolves with the first event that satisfies pred (rejects on timeout or close). */
  waitFor(pred: (ev: E) => boolean, timeoutMs = 15_000): Promise<E> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no matching daemon event within ${timeoutMs} ms`)), timeoutMs);
      const onEvent = (ev: E) => {
        if (pred(ev)) done(undefined, ev);
      };
      const onClose = () => done(new Error('subscription closed before the awaited event'));
      const done = (err?: Error, ev?: E) => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
        if (err) reject(err);
        else resolve(ev!);
      };
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }
}

export type InstanceSubscription = Subscription<InstanceInfo[], Exclude<DaemonEvent, LogEvent>>;
export type LogSubscription = Subscription<LogLine[], LogEvent>;

/**
 * One connection to a daemon. Use DaemonClient.connect(stream) (or
 * connectUnix(path)): it waits for the daemon's hello, agrees on a protocol
 * version (the newest both speak) and authenticates. Emits 'close' once.
 */
export class DaemonClient extends EventEmitter {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly outbox: string[] = [];
  private readonly subs = new Map<number, Subscription<unknown, DaemonEvent>>();
  private readonly timeoutMs: number;
  private readonly label: string;
  private serverHelloWaiter?: { resolve: (h: ServerHello) => void; reject: (e: Error) => void };
  closed = false;
  /** Why it closed: later requests fail with it. */
  private closedBy?: MyikeError;
  /** The daemon's unsolicited hello (versions, build, features, pid). */
  server!: ServerHello;
  /** Result of our hello: the version both speak, build id, features. */
  session!: HelloResult;

  private constructor(
    private readonly stream: Duplex,
    opts: DaemonClientOptions,
  ) {
    super();
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.label = opts.label ?? 'daemon';
    const splitter = new LineSplitter(
      (msg) => this.onMessage(msg),
      () => this.fail(this.err('E_DAEMON_PROTOCOL', 'the daemon sent a line that is not JSON')),
      () => this.fail(this.err('E_DAEMON_PROTOCOL', 'the daemon sent an over-long line')),
    );
    stream.on('data', (chunk: Buffer) => splitter.push(chunk));
    stream.on('error', (e) => this.fail(this.err('E_DAEMON_CLOSED', `connection to the ${this.label} failed: ${e.message}`)));
    stream.on('close', () => this.fail(this.lost()));
    stream.on('end', () => this.fail(this.lost()));
  }

  /** Handshake over an open stream; rejects (and destroys the stream) on failure. */
  static async connect(stream: Duplex, opts: DaemonClientOptions = {}): Promise<DaemonClient> {
    const c = new DaemonClient(stream, opts);
    try {
      const timeoutMs = opts.timeoutMs ?? 15_000;
      c.server = await new Promise<ServerHello>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(c.err('E_DAEMON_TIMEOUT', `the ${c.label} did not say hello within ${timeoutMs} ms`)),
          timeoutMs,
        );
        c.serverHelloWaiter = {
          resolve: (h) => (clearTimeout(timer), resolve(h)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        };
      });
      const ours = opts.versions ?? PROTOCOL_VERSIONS;
      const version = negotiateVersion(ours, c.server.versions ?? []);
      if (version === null) {
        throw c.err(
          'E_DAEMON_VERSION',
          `the ${c.label} speaks protocol version(s) ${JSON.stringify(c.server.versions)}, this client ${JSON.stringify(ours)}`,
          'restart the daemon with the matching bundle (myikev2 pushes its own bundle) once it runs no instances',
        );
      }
      c.session = await c.request('hello', { versions: [version], client: opts.clientName, token: opts.token });
      return c;
    } catch (e) {
      c.destroy();
      throw e;
    }
  }

  /** Connects to a daemon's Unix socket on this machine. */
  static connectUnix(path: string, opts: DaemonClientOptions = {}): Promise<DaemonClient> {
    return new Promise((resolve, reject) => {
      const sock = netConnect(path);
      sock.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new MyikeError('E_DAEMON_UNREACHABLE', `cannot connect to the daemon socket ${path}: ${e.code ?? e.message}`, {
            hint: 'start it with `myikev2 daemon --detach` (as root), or pass the right --socket',
            cause: e,
          }),
        ),
      );
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        DaemonClient.connect(sock, { label: `daemon at ${path}`, ...opts }).then(resolve, reject);
      });
    });
  }

  /** Sends one request; resolves with its result or rejects with DaemonError. */
  request<M extends MethodName>(method: M, params: ParamsOf<M>, opts: RequestOptions = {}): Promise<ResultOf<M>> {
    if (this.closed) return Promise.reject(this.closedBy ?? this.err('E_DAEMON_CLOSED', `connection to the ${this.label} is closed`));
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.err('E_DAEMON_TIMEOUT', `the ${this.label} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, method });
      this.send(encodeLine({ id, method, params }));
    });
  }

  /**
   * Requests made in one turn of the event loop leave in one write: over SSH
   * each write is a packet to encrypt, forward and decrypt, so the hundred
   * spawns of a run cost a few packets, not a hundred.
   */
  private send(line: string): void {
    this.outbox.push(line);
    if (this.outbox.length === 1) process.nextTick(() => this.flushOutbox());
  }

  private flushOutbox(): void {
    const lines = this.outbox.splice(0);
    if (lines.length && !this.stream.destroyed) this.stream.write(lines.join(''));
  }

  /** Snapshot of all instances (or those with a tag), then every change as an 'event'. */
  async subscribe(params: ParamsOf<'subscribe'> = {}, opts: RequestOptions = {}): Promise<InstanceSubscription> {
    // The daemon writes the snapshot response before any event of this
    // subscription; the subscription is registered while that line is handled.
    const res = await this.request('subscribe', params, opts);
    return this.subs.get(res.subscription) as InstanceSubscription;
  }

  /** Tail of an instance's logs; with follow, new output arrives as 'log' events. */
  async logs(params: LogsParams, opts: RequestOptions = {}): Promise<LogSubscription> {
    const res = await this.request('logs', params, opts);
    if (res.subscription === undefined) {
      const s = new Subscription<LogLine[], LogEvent>(this, -1, res.lines);
      s.ended();
      return s;
    }
    return this.subs.get(res.subscription) as unknown as LogSubscription;
  }

  /** Ends the connection: pending requests reject, subscriptions close. */
  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.stream.once('close', () => resolve());
      this.flushOutbox();
      this.stream.end();
      setTimeout(() => resolve(), 1000).unref();
    });
    this.destroy();
  }

  /** @internal */
  forget(subscription: number): void {
    this.subs.delete(subscription);
  }

  private destroy(): void {
    this.fail(this.err('E_DAEMON_CLOSED', `connection to the ${this.label} closed`));
    this.stream.destroy();
  }

  private onMessage(msg: Record<string, unknown>): void {
    if (msg.type === 'hello') {
      this.serverHelloWaiter?.resolve(msg as unknown as ServerHello);
      this.serverHelloWaiter = undefined;
    } else if (msg.type === 'response') {
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) return; // timed out already, or not ours
      this.pending.delete(msg.id as number);
      clearTimeout(p.timer);
      const error = msg.error as { code?: string; message?: string } | undefined;
      if (error) {
        p.reject(new DaemonError(error.code ?? 'E_DAEMON', `${this.label}: ${p.method}: ${error.message ?? 'failed'}`));
        return;
      }
      const result = msg.result as Record<string, unknown>;
      if ((p.method === 'subscribe' || p.method === 'logs') && typeof result?.subscription === 'number') {
        const initial = p.method === 'subscribe' ? result.instances : result.lines;
        this.subs.set(result.subscription, new Subscription(this, result.subscription, initial));
      }
      p.resolve(result);
    } else if (msg.type === 'event') {
      this.subs.get(msg.subscription as number)?.deliver(msg as unknown as DaemonEvent);
    }
  }

  private fail(e: MyikeError): void {
    if (this.closed) return;
    this.closed = true;
    this.closedBy = e;
    this.serverHelloWaiter?.reject(e);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    for (const s of this.subs.values()) s.ended();
    this.subs.clear();
    this.emit('close', e);
  }

  /** The connection ended without close(): the daemon exited, or the SSH connection it went through was lost. */
  private lost(): MyikeError {
    return this.err('E_DAEMON_CLOSED', `connection to the ${this.label} closed`, 'the daemon was stopped (or killed), or the connection to its server was lost; check that the server answers and run the same command again');
  }

  private err(code: string, message: string, hint?: string): MyikeError {
    return new MyikeError(code, message, { hint });
  }
}
