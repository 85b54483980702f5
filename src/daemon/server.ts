// One client connection: hello and authentication, dispatch to the method
// table, and the connection's subscriptions (instance events, followed logs).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { encodeLine, LineSplitter } from './lines.js';
import { LogFollower } from './logs.js';
import { FEATURES, methods, type MethodContext, type Session } from './methods.js';
import { optString, type Params } from './params.js';
import {
  ErrorCodes,
  PROTOCOL_VERSIONS,
  negotiateVersion,
  type HelloResult,
  type InstanceEventName,
  type InstanceInfo,
  type LogStream,
  type MethodName,
  type ServerHello,
} from './protocol.js';
import { RpcError } from './rpc-error.js';

const LOG_FOLLOW_MS = 250;
/** A client that stops reading is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

interface Sub {
  /** Events wait here until the subscribe response is on the wire. */
  queued: unknown[] | null;
  tag?: string;
  timer?: NodeJS.Timeout;
}

export type SharedContext = Omit<MethodContext, 'session'> & { shuttingDown(): boolean; log(msg: string): void };

let nextSubscription = 1;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class Connection implements Session {
  version = 0;
  private readonly outbox: unknown[] = [];
  private readonly subs = new Map<number, Sub>();
  private readonly ctx: MethodContext;

  constructor(
    private readonly socket: Duplex,
    private readonly shared: SharedContext,
    private readonly token: string | undefined,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.ctx = { ...shared, session: this };
    const split = new LineSplitter(
      (msg) => this.handle(msg),
      (_line, err) => this.send({ type: 'response', id: null, error: { code: ErrorCodes.PARSE, message: err.message } }),
      () => socket.destroy(),
    );
    socket.on('data', (c: Buffer) => split.push(c));
    socket.on('error', () => {});
    socket.on('close', () => this.gone());
    const hello: ServerHello = {
      type: 'hello',
      versions: [...PROTOCOL_VERSIONS],
      build: shared.info.build,
      features: FEATURES,
      pid: shared.info.pid,
      startedAt: shared.info.startedAt,
      auth: token === undefined ? 'none' : 'token',
    };
    this.send(hello);
  }

  /** Pushes an instance change to the subscriptions that want it. */
  instanceChanged(event: InstanceEventName, instance: InstanceInfo): void {
    const at = new Date().toISOString();
    for (const [id, sub] of this.subs) {
      if (sub.timer || (sub.tag !== undefined && sub.tag !== instance.tag)) continue;
      this.push(sub, { type: 'event', subscription: id, event, at, instance });
    }
  }

  end(): void {
    this.socket.end();
  }

  closesWithin(ms: number): Promise<boolean> {
    if (this.socket.destroyed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const closed = () => (clearTimeout(timer), resolve(true));
      const timer = setTimeout(() => (this.socket.off('close', closed), resolve(false)), ms);
      this.socket.once('close', closed);
      this.socket.write('\n'); // a blank line: every client skips it
    });
  }

  hello(p: Params): HelloResult {
    const offered = Array.isArray(p.versions) ? p.versions.filter((v): v is number => typeof v === 'number') : [];
    const version = negotiateVersion(PROTOCOL_VERSIONS, offered);
    if (version === null) {
      throw new RpcError(ErrorCodes.VERSION, `protocol versions ${JSON.stringify(offered)} not spoken here; this daemon speaks ${JSON.stringify(PROTOCOL_VERSIONS)}`);
    }
    if (this.token !== undefined) {
      const given = optString(p, 'token') ?? '';
      if (!timingSafeEqual(digest(given), digest(this.token))) {
        setImmediate(() => this.socket.end());
        throw new RpcError(ErrorCodes.AUTH, 'wrong or missing token');
      }
    }
    this.version = version;
    const client = optString(p, 'client');
    if (client) this.shared.log(`client ${JSON.stringify(client.slice(0, 80))} speaks version ${version}`);
    const { build, pid, startedAt } = this.shared.info;
    return { version, build, features: FEATURES, pid, startedAt };
  }

  subscribe(tag: string | undefined): number {
    const id = nextSubscription++;
    this.subs.set(id, { queued: [], tag });
    return id;
  }

  followLogs(name: string, files: { stream: LogStream; path: string }[]): number {
    const id = nextSubscription++;
    const followers = files.map((f) => ({ stream: f.stream, follower: new LogFollower(f.path) }));
    const sub: Sub = { queued: [] };
    sub.timer = setInterval(() => {
      for (const { stream, follower } of followers) {
        const data = follower.poll();
        if (data) this.push(sub, { type: 'event', subscription: id, event: 'log', at: new Date().toISOString(), name, stream, data });
      }
    }, LOG_FOLLOW_MS);
    this.subs.set(id, sub);
    return id;
  }

  unsubscribe(id: number): void {
    clearInterval(this.subs.get(id)?.timer);
    this.subs.delete(id);
  }

  private handle(msg: Record<string, unknown>): void {
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    const method = msg.method;
    const params = msg.params ?? {};
    const fail = (code: string, message: string) => this.send({ type: 'response', id, error: { code, message } });
    if (typeof method !== 'string') return fail(ErrorCodes.BAD_REQUEST, 'a request needs a "method" string');
    if (typeof params !== 'object' || params === null || Array.isArray(params)) return fail(ErrorCodes.BAD_REQUEST, 'params must be an object');
    if (!Object.hasOwn(methods, method)) return fail(ErrorCodes.UNKNOWN_METHOD, `no method ${method}; this daemon has: ${FEATURES.join(', ')}`);
    if (method !== 'hello' && !this.version) return fail(ErrorCodes.HELLO_REQUIRED, 'send hello first');
    if (this.shared.shuttingDown()) return fail(ErrorCodes.SHUTTING_DOWN, 'the daemon is shutting down');
    const handler = methods[method as MethodName] as (p: Params, ctx: MethodContext) => unknown;
    Promise.resolve()
      .then(() => handler(params as Params, this.ctx))
      .then(
        (result) => {
          this.send({ type: 'response', id, result });
          this.activate(result);
        },
        (err) => {
          if (err instanceof RpcError) return fail(err.code, err.message);
          this.shared.log(`internal error in ${method}: ${(err as Error)?.stack ?? err}`);
          fail(ErrorCodes.INTERNAL, `internal error: ${(err as Error)?.message ?? err}`);
        },
      );
  }

  /** Releases the events held back while a subscribe/logs response was pending. */
  private activate(result: unknown): void {
    const id = (result as { subscription?: unknown } | null)?.subscription;
    const sub = typeof id === 'number' ? this.subs.get(id) : undefined;
    if (!sub?.queued) return;
    const queued = sub.queued;
    sub.queued = null;
    for (const ev of queued) this.send(ev);
  }

  private push(sub: Sub, ev: unknown): void {
    if (sub.queued) sub.queued.push(ev);
    else this.send(ev);
  }

  /** Messages in order; each waits until the state it reports is on disk (see Supervisor.whenSaved). */
  private send(msg: unknown): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.outbox.push(msg);
    if (this.outbox.length === 1) this.shared.sup.whenSaved(() => this.drain());
  }

  private drain(): void {
    const msgs = this.outbox.splice(0);
    if (!msgs.length || this.socket.destroyed || !this.socket.writable) return;
    // One write for all: each write to a client over SSH becomes a packet.
    this.socket.write(msgs.map(encodeLine).join(''));
    if (this.socket.writableLength > MAX_BUFFERED_BYTES) {
      this.shared.log('dropping a client that does not read its events');
      this.socket.destroy();
    }
  }

  private gone(): void {
    for (const id of [...this.subs.keys()]) this.unsubscribe(id);
    this.shared.locks.releaseAll(this);
    this.onGone(this);
  }
}
