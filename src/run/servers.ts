// Connections to the servers of a run: transport, the pushed bundle, and a
// daemon client each, set up in parallel.
import type { DaemonClient } from '../daemon/client.js';
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
      s.catch(() => this.sessions.delete(name));
      this.sessions.set(name, s);
    }
    return s;
  }

  /** The server's SSH (or local) transport, shared with its session. */
  transport(name: string): Promise<Transport> {
    return this.pool.get(name);
  }

  /** The daemon if one answers, without starting one (teardown of a server that has none). */
  async existingDaemon(name: string): Promise<{ transport: Transport; daemon: DaemonClient | undefined }> {
    const transport = await this.pool.get(name);
    return { transport, daemon: await connectDaemon(transport) };
  }

  /** Runs fn against a freshly ensured daemon (the session's one has exited), then closes it. */
  async withNewDaemon<T>(name: string, fn: (d: DaemonClient) => Promise<T>): Promise<T> {
    const d = await this.ensureDaemon(name, await this.pool.get(name));
    try {
      return await fn(d.client);
    } finally {
      await d.client.close();
    }
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
