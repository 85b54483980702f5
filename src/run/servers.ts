// Connections to the servers of a run: transport, the pushed bundle, and a
// daemon client each, set up in parallel.
import { hostname } from 'node:os';
import type { DaemonClient } from '../daemon/client.js';
import { EXIT_FAILED, MyikeError } from '../errors.js';
import type { ControllerConf, ServerConf } from '../model/config-types.js';
import { loadBundle, remoteBundlePath, type Bundle } from '../transport/bundle.js';
import { ConnectionPool } from '../transport/connect.js';
import { connectDaemon, ensureDaemon, type DaemonSession } from '../transport/ensure-daemon.js';
import type { Transport } from '../transport/transport.js';
import { timing } from './progress.js';

export interface ServerSession {
  conf: ServerConf;
  transport: Transport;
  daemon: DaemonClient;
  bundlePath: string; // the bundle on the server
  daemonStarted: boolean; // this session started the daemon (none answered, or an older idle one was replaced)
}

export class Servers {
  private readonly pool: ConnectionPool;
  private readonly sessions = new Map<string, Promise<ServerSession>>();
  private bundle?: Promise<Bundle>;

  constructor(readonly config: ControllerConf) {
    this.pool = new ConnectionPool(config.servers);
  }

  /**
   * Connect, push the bundle if needed and make sure the daemon runs. With
   * anyRunningDaemon, a daemon that answers is used whatever its build, and
   * the bundle is neither checked nor pushed (teardown: it only talks to it).
   */
  session(name: string, opts: { anyRunningDaemon?: boolean } = {}): Promise<ServerSession> {
    let s = this.sessions.get(name);
    if (!s) {
      s = (async () => {
        const transport = await timing(`${name} ssh`, () => this.pool.get(name));
        const conf = this.config.servers[name];
        const running = opts.anyRunningDaemon ? await timing(`${name} daemon`, () => connectDaemon(transport)) : undefined;
        if (running) return { conf, transport, daemon: running, bundlePath: remoteBundlePath(await this.loadBundle()), daemonStarted: false };
        const d = await timing(`${name} daemon`, () => this.ensureDaemon(name, transport));
        return { conf, transport, daemon: d.client, bundlePath: d.bundle.remotePath, daemonStarted: d.started };
      })();
      const own = s;
      const forget = () => this.sessions.get(name) === own && this.sessions.delete(name);
      // A daemon connection that closed (the daemon killed, SSH lost) is not the session any more: the next asks anew.
      s.then((x) => (x.daemon.closed ? forget() : x.daemon.once('close', forget)), forget);
      this.sessions.set(name, s);
    }
    return s;
  }

  /** The server's SSH (or local) transport, shared with its session. */
  transport(name: string): Promise<Transport> {
    return this.pool.get(name);
  }

  /**
   * The daemon if one answers, without starting one (teardown of a server
   * that has none); it becomes the server's session, so this controller
   * speaks to a daemon over one connection (a daemon with another client
   * connected is not idle).
   */
  async existingDaemon(name: string): Promise<{ transport: Transport; daemon: DaemonClient | undefined; bundlePath: string }> {
    const known = this.sessions.get(name);
    if (known) return known;
    const transport = await this.pool.get(name);
    const daemon = await connectDaemon(transport);
    const bundlePath = remoteBundlePath(await this.loadBundle());
    if (daemon) this.sessions.set(name, Promise.resolve({ conf: this.config.servers[name], transport, daemon, bundlePath, daemonStarted: false }));
    return { transport, daemon, bundlePath };
  }

  private loadBundle(): Promise<Bundle> {
    return (this.bundle ??= loadBundle());
  }

  private async ensureDaemon(name: string, transport: Transport): Promise<DaemonSession> {
    return ensureDaemon(transport, await this.loadBundle(), { stateDir: this.config.servers[name].statedir });
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled([...this.sessions.values()]);
    for (const r of all) if (r.status === 'fulfilled') await r.value.daemon.close().catch(() => {});
    await this.pool.closeAll();
  }
}

/**
 * Holds the run's lock on a server's daemon for as long as this session's
 * connection lasts, so two controllers (or two commands of one) cannot bring
 * up or tear down the same run at once; a daemon without locks is let be.
 */
/**
 * Runs one step per server in a fixed order (by server name), whatever order
 * their connections come up in. Two commands locking the same run at the
 * same moment then meet on the first server and one of them gets every lock;
 * taken as each server came up, each could hold some and both be refused.
 */
export class InTurn {
  private readonly order: string[];
  private readonly turns = new Map<string, { over: Promise<void>; done: () => void; failed: () => void }>();
  /** Every server's step done; rejects (E_SKIPPED, naming the server) once one failed. */
  readonly all: Promise<void>;

  constructor(names: string[]) {
    this.order = [...names].sort();
    for (const name of this.order) {
      let done!: () => void;
      let failed!: () => void;
      const over = new Promise<void>((resolve, reject) => {
        done = resolve;
        failed = () => reject(new MyikeError('E_SKIPPED', `not done: ${name} failed before its turn`, { server: name }));
      });
      over.catch(() => undefined); // told by the server's own task
      this.turns.set(name, { over, done, failed });
    }
    this.all = Promise.all([...this.turns.values()].map((t) => t.over)).then(() => undefined);
    this.all.catch(() => undefined);
  }

  /** Runs step once the servers before this one have done theirs; rejects (E_SKIPPED) if one of them failed. */
  async take<T>(name: string, step: () => Promise<T>): Promise<T> {
    const turn = this.turns.get(name)!;
    try {
      await Promise.all(this.order.slice(0, this.order.indexOf(name)).map((n) => this.turns.get(n)!.over));
      const result = await step();
      turn.done();
      return result;
    } catch (e) {
      turn.failed();
      throw e;
    }
  }

  /** This server will not take its turn (it could not be reached): the servers after it stop waiting. */
  fail(name: string): void {
    this.turns.get(name)?.failed();
  }
}

export async function holdRun(s: ServerSession, tag: string, command: 'run' | 'teardown'): Promise<void> {
  if (!s.daemon.server.features.includes('lock')) return;
  await s.daemon.request('lock', { key: `run:${tag}`, owner: `myikev2 ${command} on ${hostname()} (pid ${process.pid})` }).catch((e: MyikeError) => {
    if (e.code !== 'E_LOCKED') throw e;
    throw new MyikeError('E_RUN_BUSY', `run ${tag} is busy: ${e.message.match(/held by .*$/)?.[0] ?? e.message}`, {
      server: s.conf.name,
      step: 'lock the run',
      hint: 'another myikev2 is bringing this run up or tearing it down; wait until it is done, then try again',
      exitCode: EXIT_FAILED,
    });
  });
}
