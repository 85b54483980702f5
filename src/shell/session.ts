// The shell's connections: one transport and one watched daemon link per
// server that carries a known run. Daemon events (and lost/regained
// connections) are turned into lines for the shell to print.
import type { DaemonClient } from '../daemon/client.js';
import { DEFAULT_STATE_DIR, type InstanceInfo } from '../daemon/protocol.js';
import { asMyikeError } from '../errors.js';
import type { ControllerConf } from '../model/config-types.js';
import { manifestKeysIn, manifestsFile } from '../daemon/manifests.js';
import { onServers, type RunManifest } from '../run/manifest.js';
import { manifestKey } from '../run/names.js';
import type { ServerSession } from '../run/servers.js';
import { deleteManifest, listManifests, readManifest, writeManifest } from '../run/store.js';
import { loadBundle, type Bundle } from '../transport/bundle.js';
import { ConnectionPool } from '../transport/connect.js';
import { connectDaemon, DaemonLink, type WatchUpdate } from '../transport/ensure-daemon.js';
import { shq, type Transport } from '../transport/transport.js';
import { eventText, knownInstances, snapshotChanges, type Known } from './format.js';

interface Watched {
  link: DaemonLink;
  watching: boolean;
  instances: Map<string, InstanceInfo>;
  closing: boolean;
  reconnecting: boolean;
}

export class ShellSession {
  private readonly pool: ConnectionPool;
  private readonly links = new Map<string, Promise<Watched>>();
  private readonly checks = new Map<string, Promise<void>>();
  private closing = false;
  /** The run `def` brought up last in this shell: `teardown` without a name means it. */
  current: { name: string; tag: string; recipeFile: string } | null = null;

  private constructor(
    readonly config: ControllerConf,
    readonly configFile: string | undefined,
    private readonly bundle: Bundle,
    /** Where event lines go. */
    private readonly notify: (line: string, level: 'info' | 'warn') => void,
  ) {
    this.pool = new ConnectionPool(config.servers);
  }

  static async open(config: ControllerConf, configFile: string | undefined, notify: (line: string, level: 'info' | 'warn') => void): Promise<ShellSession> {
    return new ShellSession(config, configFile, await loadBundle(), notify);
  }

  /** Runs known on this controller whose servers are all in this config. */
  runs(): RunManifest[] {
    return listManifests().filter((m) => m.servers.every((s) => Object.hasOwn(this.config.servers, s)));
  }

  known(): Known[] {
    return knownInstances(this.runs());
  }

  transport(server: string): Promise<Transport> {
    return this.pool.get(server);
  }

  private link(server: string): Promise<Watched> {
    let p = this.links.get(server);
    if (!p) {
      p = (async () => {
        const t = await this.pool.get(server);
        const w: Watched = { link: new DaemonLink(t, this.bundle, { stateDir: this.config.servers[server].statedir }), instances: new Map(), closing: false, reconnecting: false, watching: false };
        w.link.on('lost', (e: Error) => {
          if (w.closing) return;
          this.notify(`server ${server}: connection to the daemon lost (${e?.message ?? 'closed'}); reconnecting`, 'warn');
          void this.reconnect(server, w);
        });
        return w;
      })();
      p.catch(() => this.links.get(server) === p && this.links.delete(server));
      this.links.set(server, p);
    }
    return p;
  }

  /** Daemon session of a server (connects, starts the daemon if needed), in the shape the run core takes. */
  async server(name: string): Promise<ServerSession> {
    const w = await this.link(name);
    const daemon: DaemonClient = await w.link.client();
    return { conf: this.config.servers[name], transport: w.link.transport, daemon, bundlePath: w.link.session!.bundle.remotePath, daemonStarted: w.link.session!.started };
  }

  /** Watches every server of the known runs (in the background: failures become event lines). */
  watchKnown(): void {
    void this.forgetGone().then(() => {
      if (this.closing) return;
      for (const s of new Set(this.runs().flatMap((m) => m.servers))) void this.watch(s);
    });
  }

  /**
   * Forgets the known runs a server has no record of any more (torn down
   * from another controller), saying so: no daemon is started there to show
   * them as stopped, and none is left running idle. A server that cannot be
   * asked keeps its runs.
   */
  async forgetGone(servers: string[] = [...new Set(this.runs().flatMap((m) => m.servers))]): Promise<void> {
    await Promise.all(
      servers.map((server) => {
        let p = this.checks.get(server);
        if (!p) {
          p = this.forgetGoneOn(server).finally(() => this.checks.delete(server));
          this.checks.set(server, p);
        }
        return p;
      }),
    );
  }

  private async forgetGoneOn(server: string): Promise<void> {
    if (this.closing || !this.runs().some((m) => m.servers.includes(server))) return;
    const keys = await this.recordsOn(server).catch(() => null);
    if (!keys) return;
    for (const { tag } of this.runs()) {
      const m = readManifest(tag); // read again: another server's check may have just written it
      if (!m || !m.servers.includes(server) || keys.includes(manifestKey(tag))) continue;
      const rest = onServers(m, (s) => s !== server);
      if (rest.servers.length) writeManifest(rest);
      else deleteManifest(tag);
      const what = rest.servers.length ? 'its part there is forgotten here' : 'none of its servers has it: the run is forgotten here';
      this.notify(`run "${m.name}" (tag ${tag}): server ${server} has no record of it any more (torn down from another controller?); ${what}`, 'warn');
      if (this.current?.tag === tag && !rest.servers.length) this.current = null;
    }
  }

  /** The run records a server's daemon holds, asked without starting one (from its state directory when none answers); null if unreadable. */
  private async recordsOn(server: string): Promise<string[] | null> {
    const t = await this.pool.get(server);
    const stateDir = this.config.servers[server].statedir;
    const d = await connectDaemon(t, { stateDir });
    if (d) {
      try {
        return (await d.request('manifest.list', {})).keys;
      } finally {
        await d.close();
      }
    }
    const file = manifestsFile(stateDir ?? DEFAULT_STATE_DIR);
    const r = await t.exec(`if [ -e ${shq(file)} ]; then cat ${shq(file)}; else echo none; fi`);
    if (r.code !== 0) return null;
    return r.stdout === 'none\n' ? [] : manifestKeysIn(r.stdout);
  }

  async watch(server: string): Promise<void> {
    let w: Watched | undefined;
    try {
      w = await this.link(server);
      if (w.watching) return;
      w.watching = true;
      // The link keeps the watch across reconnects (a fresh snapshot each time), even when this first try fails.
      const ww = w;
      await w.link.watch((u) => this.onUpdate(server, ww, u));
    } catch (e) {
      if (w?.closing) return; // the shell is leaving: nothing to report
      this.notify(`server ${server}: cannot watch its daemon: ${asMyikeError(e).message}`, 'warn');
      if (w) void this.reconnect(server, w);
    }
  }

  private onUpdate(server: string, w: Watched, u: WatchUpdate): void {
    const known = this.known();
    if (u.kind === 'snapshot') {
      for (const ev of snapshotChanges(w.instances, u.instances)) {
        const line = eventText(server, ev, known);
        if (line) this.notify(`${line} (while disconnected)`, 'warn');
      }
      w.instances = new Map(u.instances.map((i) => [i.name, i]));
      return;
    }
    const ev = u.event;
    if (ev.event === 'removed') w.instances.delete(ev.instance.name);
    else w.instances.set(ev.instance.name, ev.instance);
    const line = eventText(server, ev, known);
    if (line) this.notify(line, ev.event === 'adopted' ? 'info' : 'warn');
  }

  /**
   * Reconnects with back-off while the server still carries a run. A daemon
   * that stays away (shut down by a teardown elsewhere) is not restarted at
   * once: only after 10 s without one while runs remain.
   */
  private async reconnect(server: string, w: Watched): Promise<void> {
    if (w.reconnecting) return;
    w.reconnecting = true;
    const started = Date.now();
    try {
      for (let delay = 500; !w.closing; delay = Math.min(delay * 2, 10_000)) {
        await new Promise((r) => setTimeout(r, delay).unref());
        if (w.closing) return;
        await this.forgetGone([server]);
        if (!this.runs().some((m) => m.servers.includes(server))) {
          this.notify(`server ${server}: no run left there; no longer watched`, 'info');
          await this.unwatch(server);
          return;
        }
        try {
          const t = await this.pool.get(server);
          const probe = await connectDaemon(t, { stateDir: this.config.servers[server].statedir });
          if (!probe && Date.now() - started < 10_000) continue;
          await probe?.close();
          await w.link.client(); // re-subscribes the watch: its snapshot shows what changed meanwhile
          this.notify(`server ${server}: connection regained`, 'info');
          return;
        } catch {
          // Still away: try again later.
        }
      }
    } finally {
      w.reconnecting = false;
    }
  }

  /** Stops watching a server and closes its daemon connection (before a teardown shuts its daemon down). */
  async unwatch(server: string): Promise<void> {
    const p = this.links.get(server);
    if (!p) return;
    this.links.delete(server);
    const w = await p.catch(() => undefined);
    if (!w) return;
    w.closing = true;
    await w.link.close().catch(() => undefined);
  }

  /** Servers currently watched (for completion and tests). */
  watchedServers(): string[] {
    return [...this.links.keys()];
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.checks.values()]); // before the connections they use close
    await Promise.all([...this.links.keys()].map((s) => this.unwatch(s)));
    await this.pool.closeAll();
  }
}

