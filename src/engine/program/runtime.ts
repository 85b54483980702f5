// One running engine instance (`myikev2 exec`): sockets, the IKE core, the
// data plane, client tunnel pacing and retries, events for the API, and the
// summary at the end. All protocol work is in the pure cores (../ike,
// ../esp); this file is the I/O around them.
import { randomFillSync } from 'node:crypto';
import type { EngineSetup } from '../../model/setup-types.js';
import type { ChildSaKeys, Endpoint } from '../child-sa.js';
import { IkeEngine } from '../ike/engine.js';
import type { IkeSa } from '../ike/ike-sa.js';
import { IKE_PORT, type IkeHost, type IkePolicy, type SaEvent } from '../ike/types.js';
import { DataPlane, type DataPlaneEvent } from '../esp/data-plane.js';
import { KernelFastPath } from '../fastpath/fast-path.js';
import { assertFastPathUsable } from '../fastpath/kernel-esp.js';
import { clientPolicy, engineAddresses, gatewayPolicy, splitCidr, tunnelAddr } from './policy.js';
import { UdpIo } from './udp-io.js';
import { addAddresses, addStaticRoute, removeAddresses } from './netconf.js';
import { buildSummary, type EngineSummary } from './summary.js';
import { describeChild, describeIke, type ChildInfo, type IkeInfo } from './describe.js';

export type TunnelState = 'waiting' | 'connecting' | 'up' | 'down' | 'failed';

export interface Tunnel {
  n: number;
  addr: string;
  state: TunnelState;
  attempts: number;
  reconnects: number;
  ikeId?: string;
  startedAt?: number;
  upAt?: number;
  retryAt?: number;
  lastError?: string;
}

export type EngineEvent =
  | (SaEvent & { event: 'sa' })
  | { event: 'tunnel'; tunnelId: number; state: TunnelState; reason?: string; at: number }
  | { event: 'dataplane'; detail: DataPlaneEvent; at: number }
  | { event: 'stopping'; mode: 'graceful' | 'hard'; at: number };

export interface RuntimeOptions {
  setup: EngineSetup;
  log?: (line: string) => void; // default: stderr
  /** Override ports (tests run several engines in one namespace); default 500/4500. */
  ports?: { ike: number; natt: number };
  /** Do not touch interfaces (addresses already there). */
  skipNetconf?: boolean;
}

const TICK_MS = 50;
/**
 * With nothing to time for 2 s (no SA, no ping test, no tunnel to retry) the
 * engine looks once a second instead: an idle gateway waiting for clients
 * then costs next to nothing (at 50 ms, ~0.5 % of a core each). Anything it
 * needs to time starts with a packet or a tunnel start, and the tick after
 * it (within a second; IKE timers are seconds) is fast again.
 */
const IDLE_TICK_MS = 1000;
const IDLE_AFTER_TICKS = 40;
/** At most this many tunnels negotiating at once (setupinterval paces below that). */
const MAX_IN_FLIGHT = 64;

/** Random bytes cut from a 16 KB block refilled at once (the core copies what it keeps). */
function pooledRandom(): (n: number) => Buffer {
  let pool = Buffer.allocUnsafeSlow(16384);
  let pos = pool.length;
  return (n) => {
    if (n > 1024) return randomFillSync(Buffer.allocUnsafe(n));
    if (pos + n > pool.length) {
      pool = randomFillSync(Buffer.allocUnsafeSlow(16384));
      pos = 0;
    }
    return pool.subarray(pos, (pos += n));
  };
}

/**
 * A graceful stop waits for the peers to answer its DELETEs (and for
 * handshakes under way to finish, then be deleted) while SAs keep going: it
 * gives up after STOP_IDLE_MS without one going, and after STOP_WAIT_MAX_MS in
 * all, below its supervisor's 10 s before SIGKILL (no summary then). A peer
 * stopped at the same moment (a teardown stops every instance at once) may
 * have dropped an SA it never saw established, and will not answer.
 */
const STOP_IDLE_MS = 1000;
const STOP_WAIT_MAX_MS = 8000;

export class EngineRuntime {
  readonly setup: EngineSetup;
  readonly engine: IkeEngine;
  readonly io: UdpIo;
  dp?: DataPlane;
  fastPath?: KernelFastPath;
  readonly tunnels: Tunnel[] = [];
  readonly startedAt = Date.now();
  firstStartAt = 0;
  lastFirstUpAt = 0;
  created = 0;
  readonly gatewayCreated = new Set<number>();
  gatewayFirstAt = 0;
  gatewayLastUpAt = 0;
  readonly errors: { at: number; tunnelId?: number; message: string }[] = [];
  errorCount = 0;
  stopping?: 'graceful' | 'hard';
  private addedAddrs: string[] = [];
  private timer?: NodeJS.Timeout;
  private starter?: NodeJS.Timeout;
  private runTimer?: NodeJS.Timeout;
  private pingStarted = false;
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private readonly logLine: (line: string) => void;
  private stoppedResolve!: () => void;
  readonly stopped = new Promise<void>((r) => (this.stoppedResolve = r));

  constructor(readonly opts: RuntimeOptions) {
    this.setup = opts.setup;
    this.logLine = opts.log ?? ((l) => process.stderr.write(l + '\n'));
    const host: IkeHost = {
      now: () => Date.now(),
      random: pooledRandom(),
      send: (from, to, data) => this.io.sendIke(from, to, data),
      keepalive: (from, to) => this.io.sendKeepalive(from, to),
      childUp: (keys) => this.childUp(keys),
      childDown: (id) => this.childDown(id),
      event: (e) => this.onSaEvent(e),
      log: (level, msg) => this.log(level, msg),
      logLevel: this.setup.loglevel,
    };
    this.engine = new IkeEngine(host, {
      responder: this.setup.role === 'gateway' ? this.withPorts(gatewayPolicy(this.setup)) : undefined,
      cookieThreshold: this.setup.ikeconf.cookiethreshold,
    });
    this.io = new UdpIo(
      {
        ike: (d, from, to) => this.engine.receive(d, from, to),
        esp: (d, from, to) => this.dp?.receive(from, to, d),
        error: (err, local) => this.error(`socket ${local.addr}:${local.port}: ${err.message}`),
      },
      opts.ports,
    );
  }

  private get ikePort(): number {
    return this.opts.ports?.ike ?? IKE_PORT;
  }

  private withPorts(p: IkePolicy): IkePolicy {
    return this.opts.ports ? { ...p, nattPort: this.opts.ports.natt } : p;
  }

  // ---- logging and events --------------------------------------------------

  log(level: number, msg: string): void {
    if (level > this.setup.loglevel) return;
    const tag = ['', 'CRIT', 'ERROR', 'INFO', 'DEBUG', 'TRACE'][level] ?? String(level);
    this.logLine(`${new Date().toISOString()} ${tag} ${msg}`);
  }

  error(message: string, tunnelId?: number): void {
    this.errorCount++;
    this.errors.push({ at: Date.now(), tunnelId, message });
    if (this.errors.length > 100) this.errors.shift();
    this.log(2, tunnelId ? `tunnel ${tunnelId}: ${message}` : message);
    if (this.setup.abortonerr && !this.stopping) void this.stop('graceful', 'abortonerr: stopping at the first error');
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: EngineEvent): void {
    for (const l of this.listeners) l(e);
  }

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  // ---- data plane ------------------------------------------------------------

  private childUp(keys: ChildSaKeys): void {
    if (this.fastPath) {
      this.fastPath.install(keys).catch((err) => this.error(`fast path install ${keys.childId}: ${(err as Error).message}`, keys.tunnelId));
      return;
    }
    try {
      this.dp?.install(keys);
    } catch (err) {
      this.error(`data plane install ${keys.childId}: ${(err as Error).message}`, keys.tunnelId);
    }
  }

  private childDown(childId: string): void {
    if (this.fastPath) {
      this.fastPath.remove(childId).catch((err) => this.error(`fast path remove ${childId}: ${(err as Error).message}`));
      return;
    }
    this.dp?.remove(childId);
  }

  // ---- SA events and client tunnels -----------------------------------------------

  private onSaEvent(e: SaEvent): void {
    if (this.listeners.size) this.emit({ ...e, event: 'sa' });
    if (this.setup.role === 'gateway') {
      if (e.kind === 'ike' && e.state === 'connecting') this.gatewayFirstAt ||= e.at;
      if (e.kind === 'child' && e.state === 'installed' && !this.gatewayCreated.has(e.tunnelId)) {
        this.gatewayCreated.add(e.tunnelId);
        this.gatewayLastUpAt = e.at;
      }
      return;
    }
    const t = this.tunnels[e.tunnelId - 1];
    if (!t) return;
    if (e.kind === 'child') {
      // The tunnel's last CHILD SA is gone (deleted by the peer, expired without a rekey): the
      // IKE SA carries nothing any more, so delete it and reconnect, as after a Delete of the IKE SA.
      // Later: a closing IKE SA removes its CHILD SAs first.
      if (e.state === 'closed' && t.state === 'up' && !this.stopping) queueMicrotask(() => this.dropIfChildless(t, e.reason ?? 'closed'));
      return;
    }
    if (e.state === 'established') t.ikeId = e.id;
    else if ((e.state === 'failed' || e.state === 'closed') && e.id === t.ikeId && t.state === 'up' && !this.stopping) {
      t.ikeId = undefined;
      this.tunnelDown(t, e.reason ?? e.state);
    }
  }

  private dropIfChildless(t: Tunnel, reason: string): void {
    const sa = t.ikeId === undefined ? undefined : this.engine.find(t.ikeId);
    if (!sa || sa.state !== 'established' || sa.children.length || t.state !== 'up' || this.stopping) return;
    this.engine.deleteIkeSa(sa, `its last CHILD SA is gone (${reason})`);
  }

  private setTunnel(t: Tunnel, state: TunnelState, reason?: string): void {
    t.state = state;
    if (this.listeners.size) this.emit({ event: 'tunnel', tunnelId: t.n, state, reason, at: Date.now() });
  }

  /** Tunnels in IKE_SA_INIT/IKE_AUTH right now: a window keeps a burst from overrunning the gateway's socket buffer. */
  private inFlight = 0;

  private connect(t: Tunnel): void {
    if (!this.io.isBound(t.addr, this.ikePort)) {
      // its port-500 socket was closed after floating to 4500: reopen first
      void this.io.bind(t.addr).then(
        () => this.connect(t),
        (err) => this.tunnelDown(t, `cannot bind ${t.addr}: ${(err as Error).message}`),
      );
      return;
    }
    this.inFlight++;
    if (this.tickMs !== TICK_MS) this.setTick(TICK_MS); // its retransmissions are timed by the tick
    const now = Date.now();
    t.attempts++;
    t.startedAt ??= now;
    t.retryAt = undefined;
    this.firstStartAt ||= now;
    this.setTunnel(t, 'connecting');
    const local: Endpoint = { addr: t.addr, port: this.ikePort };
    const remote: Endpoint = { addr: this.setup.peeraddr, port: this.ikePort };
    let sa: IkeSa | undefined = undefined;
    sa = this.engine.initiate(this.withPorts(clientPolicy(this.setup, t.n)), local, remote, (ok, reason) => {
      this.inFlight--;
      if (this.stopping) return;
      if (ok) {
        const first = !t.upAt;
        t.upAt = Date.now();
        t.ikeId = sa?.id;
        if (first) {
          this.created++;
          this.lastFirstUpAt = t.upAt;
        }
        this.setTunnel(t, 'up');
        if (sa) this.engine.createExtraChildren(sa);
        // IKE and ESP now run on the NAT-T port: the port-500 socket is 6 KB we do not need
        if (sa && sa.local.port !== this.ikePort) this.io.unbind(t.addr, this.ikePort);
        this.log(3, `tunnel ${t.n} up (${t.addr} → ${this.setup.peeraddr}, attempt ${t.attempts})`);
        this.maybeStartPing();
      } else {
        if (sa && sa.state === 'established') this.engine.deleteIkeSa(sa, 'CHILD SA refused');
        this.tunnelDown(t, reason ?? 'failed');
      }
    });
  }

  private tunnelDown(t: Tunnel, reason: string): void {
    t.lastError = reason;
    const retriesLeft = t.upAt ? true : t.attempts <= this.setup.tunnelmaxretry;
    if (retriesLeft) {
      t.retryAt = Date.now() + this.setup.tunnelretryintervalMs;
      if (t.upAt) t.reconnects++;
      this.setTunnel(t, 'down', reason);
      this.log(2, `tunnel ${t.n} down (${reason}); retrying in ${this.setup.tunnelretryintervalMs} ms`);
    } else {
      this.setTunnel(t, 'failed', reason);
      this.error(`failed after ${t.attempts} attempt(s): ${reason}`, t.n);
    }
  }

  private maybeStartPing(): void {
    if (this.pingStarted || !this.dp) return;
    if (this.setup.role === 'client' && this.created < this.tunnels.length) return;
    this.pingStarted = true;
    this.dp.startPing(Date.now());
  }

  // ---- life cycle ------------------------------------------------------------------

  /** Sets up addresses, sockets and timers, and starts the tunnels (client). */
  async start(): Promise<void> {
    const s = this.setup;
    this.log(3, `engine ${s.role} starting${s.desc ? `: ${s.desc}` : ''} (${s.numberoftunnels} tunnel(s))`);
    if (s.ikeconf.installfastpath) {
      await assertFastPathUsable();
      this.fastPath = new KernelFastPath({});
    } else {
      this.dp = new DataPlane({
        role: s.role,
        send: (d) => this.io.sendEsp(d.from, d.to, d.payload),
        onEvent: (e) => this.onDataPlaneEvent(e),
        ping: s.pingconf,
        pingTargets: s.numberoftunnels,
        now: () => Date.now(),
      });
    }
    if (s.role === 'client') for (let n = 1; n <= s.numberoftunnels; n++) this.tunnels.push({ n, addr: tunnelAddr(s, n), state: 'waiting', attempts: 0, reconnects: 0 });
    if (!this.opts.skipNetconf) {
      this.addedAddrs = await addAddresses(s.bindifname, engineAddresses(s));
      if (s.staticroute) await addStaticRoute(s.staticroute);
    }
    try {
      if (s.role === 'gateway') await this.io.bind(splitCidr(s.bindifaddr).addr);
      else {
        // bind in slices: thousands of sockets at once would only queue in libuv
        for (let i = 0; i < this.tunnels.length; i += 64) await Promise.all(this.tunnels.slice(i, i + 64).map((t) => this.io.bind(t.addr)));
      }
    } catch (err) {
      await this.cleanup();
      throw err;
    }
    this.setTick(TICK_MS);
    if (s.runningtimeMs > 0) this.runTimer = setTimeout(() => void this.stop('graceful', 'running time over'), s.runningtimeMs);
    if (s.role === 'gateway') this.maybeStartPing();
    else this.startTunnels();
  }

  /** Starts tunnel n at (n-1) × setupinterval after the first (several per timer tick when the interval is short). */
  private startTunnels(): void {
    const t0 = Date.now();
    let next = 0;
    const step = () => {
      if (this.stopping) return;
      const now = Date.now();
      while (next < this.tunnels.length && t0 + next * this.setup.setupintervalMs <= now && this.inFlight < MAX_IN_FLIGHT) this.connect(this.tunnels[next++]);
      if (next < this.tunnels.length) this.starter = setTimeout(step, this.inFlight >= MAX_IN_FLIGHT ? 2 : Math.max(1, t0 + next * this.setup.setupintervalMs - Date.now()));
    };
    step();
  }

  private ticks = 0;
  private tickMs = 0;
  private idleTicks = 0;

  /** How often it looks at its timers now: TICK_MS, or IDLE_TICK_MS when it has had nothing to time for a while. */
  get tickIntervalMs(): number {
    return this.tickMs;
  }

  private setTick(ms: number): void {
    if (this.timer) clearInterval(this.timer);
    this.tickMs = ms;
    this.idleTicks = 0;
    this.timer = setInterval(() => this.tick(), ms);
  }

  private tick(): void {
    const now = Date.now();
    // the data plane wants ≤ 100 ms; IKE timers (seconds) are fine with every other tick
    if (++this.ticks % 2 === 0 || this.tickMs === IDLE_TICK_MS) this.engine.tick(now);
    this.dp?.tick(now);
    const retrying = this.tunnels.some((t) => t.state === 'down' && t.retryAt !== undefined);
    const idle = !this.stopping && !retrying && this.engine.sas.size === 0 && !this.dp?.pinging;
    if (!idle) {
      if (this.tickMs !== TICK_MS) this.setTick(TICK_MS);
      else this.idleTicks = 0;
    } else if (this.tickMs === TICK_MS && ++this.idleTicks >= IDLE_AFTER_TICKS) this.setTick(IDLE_TICK_MS);
    if (this.stopping) return;
    for (const t of this.tunnels) if (t.state === 'down' && t.retryAt !== undefined && now >= t.retryAt) this.connect(t);
  }

  private onDataPlaneEvent(e: DataPlaneEvent): void {
    this.emit({ event: 'dataplane', detail: e, at: Date.now() });
    if (e.type === 'ping-loss') this.error(`ping loss ${e.lossPct.toFixed(1)}% above ${e.maxlossrate}%`, e.tunnelId);
    else if (e.type === 'seq-exhausted') this.engine.rekeyChildById(e.childId);
    else this.log(4, `data plane drop: ${e.reason} spi 0x${e.spi.toString(16)} (${e.count})`);
  }

  /** Graceful: DELETE every SA with the peer first (bounded wait); hard: just close. */
  async stop(mode: 'graceful' | 'hard', reason = 'stopped'): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = mode;
    this.emit({ event: 'stopping', mode, at: Date.now() });
    this.log(3, `stopping (${mode}): ${reason}`);
    if (this.starter) clearTimeout(this.starter);
    if (this.runTimer) clearTimeout(this.runTimer);
    const before = buildSummary(this);
    this.atStop = { live: before.tunnels.live, ike: { sas: before.ike.sas, established: before.ike.established, childSas: before.ike.childSas } };
    if (mode === 'graceful') {
      this.engine.deleteAll(reason);
      const limit = Date.now() + Math.min(STOP_WAIT_MAX_MS, this.setup.ikeconf.retranintervalMs * (this.setup.ikeconf.maxretran + 1));
      let left = this.engine.sas.size;
      let lastGone = Date.now();
      while (this.engine.sas.size && Date.now() < limit && Date.now() - lastGone < STOP_IDLE_MS) {
        await new Promise((r) => setTimeout(r, 20));
        if (this.engine.sas.size < left) [left, lastGone] = [this.engine.sas.size, Date.now()];
      }
      if (this.engine.sas.size) this.log(3, `${this.engine.sas.size} IKE SA(s) still waiting for the peer when it stopped answering: closed without a DELETE answer`);
    }
    this.summaryAtStop = this.summary();
    this.engine.closeAll(reason);
    await this.cleanup();
    this.stoppedResolve();
  }

  summaryAtStop?: EngineSummary;
  /** Live tunnels and SA counts when the stop began (the summary reports these, not the zeros after deleting). */
  atStop?: { live: number; ike: { sas: number; established: number; childSas: number } };

  private async cleanup(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.io.close();
    if (!this.opts.skipNetconf) {
      try {
        await removeAddresses(this.setup.bindifname, this.addedAddrs);
      } catch (err) {
        this.log(2, (err as Error).message);
      }
    }
  }

  // ---- views for the API ----------------------------------------------------------------

  summary(): EngineSummary {
    return this.summaryAtStop ?? buildSummary(this);
  }

  ikeList(): IkeInfo[] {
    return [...this.engine.sas.values()].map((sa) => describeIke(sa));
  }

  childList(withKeys: boolean): ChildInfo[] {
    return [...this.engine.sas.values()].flatMap((sa) => sa.children.map((c) => describeChild(sa, c, withKeys, this.dp)));
  }
}
