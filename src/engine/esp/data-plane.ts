// The engine's user-space data plane: ESP-in-UDP (RFC 4303 + RFC 3948) for
// every CHILD SA the control plane installs, plus the built-in ping test.
// Pure: no sockets and no timers of its own. UDP payloads come in through
// receive(), datagrams go out through the send callback, time comes from the
// injected clock and tick().
import { randomFillSync } from 'node:crypto';
import type { ChildSaKeys, Endpoint, OutboundDatagram } from '../child-sa.js';
import type { PingConf, Role } from '../../model/setup-types.js';
import { addrBytes, addrInTs, compileTs, textInTs, type CompiledTs } from './addr.js';
import { DROP_REASONS, InboundSa, OutboundSa, type DropReason } from './esp-sa.js';
import { PingTest, type PingLossEvent, type PingSummary } from '../ping/ping-test.js';
import { makeEchoReply, parseEcho } from '../ping/icmp.js';

export type { DropReason } from './esp-sa.js';
export type { PingSummary, PingTunnelStats } from '../ping/ping-test.js';

const NH_IPV4 = 4;
const NH_IPV6 = 41;
const NH_NONE = 59; // dummy packet (RFC 4303 §2.6): discarded silently

export type DropCounters = Record<DropReason, number>;

/** Emitted on drops (first of each reason per SA, then at most once a second) and on ping loss. */
export type DataPlaneEvent =
  | PingLossEvent
  | { type: 'drop'; reason: DropReason; childId?: string; spi: number; count: number }
  | { type: 'seq-exhausted'; childId: string; tunnelId: number };

export interface ChildSaStats {
  childId: string;
  tunnelId: number;
  spiIn: number;
  spiOut: number;
  inPackets: number;
  inBytes: number;
  outPackets: number;
  outBytes: number;
  lastSeqOut: number;
  highestSeqIn: number;
  drops: DropCounters;
}

export interface DataPlaneOptions {
  role: Role;
  send: (d: OutboundDatagram) => void;
  onEvent?: (e: DataPlaneEvent) => void;
  /** Inner packets not consumed by the ping test (for a TUN device, later); dropped if absent. */
  deliver?: (tunnelId: number, packet: Buffer) => void;
  ping?: PingConf;
  /** Gateway: numberoftunnels, one configured ping target per client tunnel (see ping/targets.ts). */
  pingTargets?: number;
  /** Answer echo requests to addresses inside our own traffic selectors (default: true). */
  answerEcho?: boolean;
  now: () => number;
  random?: (b: Buffer) => void;
}

function zeroDrops(): DropCounters {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as DropCounters;
}

interface Child {
  keys: ChildSaKeys;
  inbound: InboundSa;
  outbound: OutboundSa;
  localTs: CompiledTs[];
  remoteTs: CompiledTs[];
  drops: DropCounters;
  lastDropEvent: Partial<Record<DropReason, number>>;
}

/** A pool of random bytes for CBC IVs, refilled in blocks (one RNG call per 256 packets). */
function pooledRandom(): (b: Buffer) => void {
  const pool = Buffer.alloc(4096);
  let pos = pool.length;
  return (b) => {
    if (pos + b.length > pool.length) {
      randomFillSync(pool);
      pos = 0;
    }
    pool.copy(b, 0, pos, pos + b.length);
    pos += b.length;
  };
}

export class DataPlane {
  private readonly byChild = new Map<string, Child>();
  private readonly bySpiIn = new Map<number, Child>();
  /** CHILD SAs per tunnel, oldest first; outbound traffic uses the newest that fits. */
  private readonly byTunnel = new Map<number, Child[]>();
  private readonly drops = zeroDrops();
  private readonly random: (b: Buffer) => void;
  private readonly ping?: PingTest;
  /** A ping test runs: it wants a tick every ≤ 100 ms. */
  get pinging(): boolean {
    return this.ping !== undefined;
  }
  private readonly answerEcho: boolean;
  private readonly onEvent: (e: DataPlaneEvent) => void;
  private answered = 0; // echo requests answered (any role, ping test or not)

  constructor(private readonly opts: DataPlaneOptions) {
    this.random = opts.random ?? pooledRandom();
    this.onEvent = opts.onEvent ?? (() => {});
    this.answerEcho = opts.answerEcho ?? true;
    if (opts.ping) {
      const ping = new PingTest(
        opts.ping,
        (tunnelId, pkt) => (!this.byTunnel.has(tunnelId) ? 'down' : this.sendPacket(tunnelId, pkt) ? 'sent' : 'no-route'),
        (e) => this.onEvent(e),
        opts.role === 'gateway' ? opts.pingTargets ?? 0 : 0,
      );
      if (ping.enabled) this.ping = ping;
    }
  }

  /** Starts a CHILD SA (new, or the successor of a rekeyed one). Throws on inconsistent keys. */
  install(keys: ChildSaKeys): void {
    if (this.byChild.has(keys.childId)) throw new Error(`CHILD SA ${keys.childId} is already installed`);
    if (this.bySpiIn.has(keys.spiIn)) throw new Error(`inbound SPI 0x${keys.spiIn.toString(16)} is already in use`);
    const child: Child = {
      keys,
      inbound: new InboundSa(keys),
      outbound: new OutboundSa(keys, this.random),
      localTs: compileTs(keys.localTs),
      remoteTs: compileTs(keys.remoteTs),
      drops: zeroDrops(),
      lastDropEvent: {},
    };
    this.byChild.set(keys.childId, child);
    this.bySpiIn.set(keys.spiIn, child);
    const list = this.byTunnel.get(keys.tunnelId);
    if (list) list.push(child);
    else {
      this.byTunnel.set(keys.tunnelId, [child]);
      this.ping?.tunnelUp(
        {
          tunnelId: keys.tunnelId,
          firstLocalTs: keys.localTs[0]?.startAddr,
          firstRemoteTs: keys.remoteTs[0]?.startAddr,
          remoteTs: keys.remoteTs,
          localOuter: keys.local.addr,
          remoteOuter: keys.remote.addr,
          tunnelMode: keys.tunnelMode,
        },
        this.opts.now(),
      );
    }
  }

  /** Stops a CHILD SA (deleted, or replaced by a rekey). Unknown ids are ignored. */
  remove(childId: string): void {
    const child = this.byChild.get(childId);
    if (!child) return;
    this.byChild.delete(childId);
    this.bySpiIn.delete(child.keys.spiIn);
    const list = this.byTunnel.get(child.keys.tunnelId)!;
    list.splice(list.indexOf(child), 1);
    if (list.length === 0) this.byTunnel.delete(child.keys.tunnelId);
  }

  hasChild(childId: string): boolean {
    return this.byChild.has(childId);
  }

  /** One UDP payload from port 4500 that is ESP (the I/O layer strips nothing: it starts with the SPI). */
  receive(_from: Endpoint, _to: Endpoint, esp: Buffer): void {
    if (esp.length < 8) return this.drop(undefined, 'malformed', esp.length >= 4 ? esp.readUInt32BE(0) : 0);
    const spi = esp.readUInt32BE(0);
    const child = this.bySpiIn.get(spi);
    if (!child) return this.drop(undefined, 'unknown-spi', spi);
    const r = child.inbound.unprotect(esp);
    if (typeof r === 'string') return this.drop(child, r, spi);
    if (r.nextHeader === NH_NONE) return;
    let packet: Buffer;
    if (child.keys.tunnelMode) {
      if (r.nextHeader !== NH_IPV4 && r.nextHeader !== NH_IPV6) return this.drop(child, 'malformed', spi);
      packet = r.payload;
      const version = packet.length >= 20 ? packet[0] >> 4 : 0;
      if (version !== (r.nextHeader === NH_IPV4 ? 4 : 6)) return this.drop(child, 'malformed', spi);
      const total = version === 4 ? packet.readUInt16BE(2) : 40 + packet.readUInt16BE(4);
      if (total > packet.length) return this.drop(child, 'malformed', spi);
      if (total < packet.length) packet = packet.subarray(0, total); // TFC padding (RFC 4303 §2.7)
      const [fam, srcOff, dstOff] = version === 4 ? ([4, 12, 16] as const) : ([6, 8, 24] as const);
      // Inbound policy check (RFC 4303 §3.4.4.1 via RFC 4301 §5.2): the inner addresses must fit the SA's selectors.
      if (!addrInTs(child.remoteTs, fam, packet, srcOff) || !addrInTs(child.localTs, fam, packet, dstOff))
        return this.drop(child, 'ts-mismatch', spi);
    } else {
      packet = transportToIp(child.keys.remote.addr, child.keys.local.addr, r.nextHeader, r.payload);
    }
    this.handleInner(child, packet);
  }

  private handleInner(child: Child, packet: Buffer): void {
    const echo = parseEcho(packet);
    if (echo) {
      if (!echo.isRequest) {
        if (this.ping?.onReply(echo, this.opts.now())) return;
      } else if (this.answerEcho && this.isOurs(child, packet, echo.family)) {
        const reply = makeEchoReply(packet, echo);
        if (this.sendPacket(child.keys.tunnelId, reply)) this.answered++;
        return;
      }
    }
    this.opts.deliver?.(child.keys.tunnelId, packet);
  }

  /** Echo requests to addresses inside our own selectors (tunnel mode) or to our outer address (transport). */
  private isOurs(child: Child, packet: Buffer, family: 4 | 6): boolean {
    if (!child.keys.tunnelMode) return true;
    return addrInTs(child.localTs, family, packet, family === 4 ? 16 : 24);
  }

  /**
   * Protects one inner IP packet and sends it through the tunnel's newest
   * CHILD SA whose selectors fit the destination. False if none can carry it.
   */
  sendPacket(tunnelId: number, packet: Buffer): boolean {
    const list = this.byTunnel.get(tunnelId);
    if (!list) {
      this.drops['no-sa']++;
      return false;
    }
    const version = packet[0] >> 4;
    const family: 4 | 6 = version === 4 ? 4 : 6;
    let child = list[list.length - 1];
    if (list.length > 1 || child.keys.tunnelMode) {
      const dstOff = family === 4 ? 16 : 24;
      let found: Child | undefined;
      for (let i = list.length - 1; i >= 0 && !found; i--) {
        const c = list[i];
        if (!c.keys.tunnelMode || addrInTs(c.remoteTs, family, packet, dstOff)) found = c;
      }
      if (!found) {
        this.drops['no-sa']++;
        return false;
      }
      child = found;
    }
    let esp: Buffer | undefined;
    if (child.keys.tunnelMode) {
      esp = child.outbound.protect(packet, family === 4 ? NH_IPV4 : NH_IPV6);
    } else {
      const [hdr, proto] = family === 4 ? [(packet[0] & 0x0f) * 4, packet[9]] : [40, packet[6]];
      esp = child.outbound.protect(packet.subarray(hdr), proto);
    }
    if (!esp) {
      this.drop(child, 'seq-exhausted', child.keys.spiOut);
      this.onEvent({ type: 'seq-exhausted', childId: child.keys.childId, tunnelId: tunnelId });
      return false;
    }
    this.opts.send({ from: child.keys.local, to: child.keys.remote, payload: esp });
    return true;
  }

  private drop(child: Child | undefined, reason: DropReason, spi: number): void {
    this.drops[reason]++;
    let count = this.drops[reason];
    let last: Partial<Record<DropReason, number>> = this.globalLastDrop;
    if (child) {
      count = ++child.drops[reason];
      last = child.lastDropEvent;
    }
    const now = this.opts.now();
    const prev = last[reason];
    if (prev === undefined || now - prev >= 1000) {
      last[reason] = now;
      this.onEvent({ type: 'drop', reason, childId: child?.keys.childId, spi, count });
    }
  }
  private readonly globalLastDrop: Partial<Record<DropReason, number>> = {};

  /** Drives timers (ping sends and reply timeouts). Call at least every 100 ms, or at nextTimerAt(). */
  tick(now: number = this.opts.now()): void {
    this.ping?.tick(now);
  }

  /** Starts the ping test's hold time (client: all tunnels up; gateway: at start). */
  startPing(now: number = this.opts.now()): void {
    this.ping?.arm(now);
  }

  pingSummary(): PingSummary {
    const s = this.ping?.summary();
    if (s) return { ...s, answered: this.answered };
    return {
        enabled: false,
        intervalMs: this.opts.ping?.intervalMs ?? 0,
        pktlen: this.opts.ping?.pktlen ?? 0,
        maxlossrate: this.opts.ping?.maxlossrate ?? 0,
        tunnels: [],
        total: { tunnels: 0, sent: 0, received: 0, lost: 0, inFlight: 0, lossPct: 0, tunnelsOverMaxLoss: 0 },
        answered: this.answered,
      };
  }

  clearPing(): void {
    this.answered = 0;
    this.ping?.clear();
  }

  childStats(childId: string): ChildSaStats | undefined {
    const c = this.byChild.get(childId);
    if (!c) return undefined;
    return {
      childId,
      tunnelId: c.keys.tunnelId,
      spiIn: c.keys.spiIn,
      spiOut: c.keys.spiOut,
      inPackets: c.inbound.packets,
      inBytes: c.inbound.bytes,
      outPackets: c.outbound.packets,
      outBytes: c.outbound.bytes,
      lastSeqOut: c.outbound.seq,
      highestSeqIn: c.inbound.window.top,
      drops: { ...c.drops },
    };
  }

  /** Totals over the life of the data plane (removed SAs included for drops). */
  stats(): { children: number; tunnels: number; drops: DropCounters } {
    return { children: this.byChild.size, tunnels: this.byTunnel.size, drops: { ...this.drops } };
  }

  /** Whether an address lies inside the local selectors of one of the tunnel's SAs. */
  coversLocal(tunnelId: number, addr: string): boolean {
    return (this.byTunnel.get(tunnelId) ?? []).some((c) => textInTs(c.localTs, addr));
  }
}

/** Rebuilds an IP packet around a transport-mode payload (outer addresses as its addresses). */
function transportToIp(src: string, dst: string, proto: number, payload: Buffer): Buffer {
  const s = addrBytes(src);
  const d = addrBytes(dst);
  if (s.length === 4) {
    const p = Buffer.alloc(20 + payload.length);
    p[0] = 0x45;
    p.writeUInt16BE(p.length, 2);
    p[8] = 64;
    p[9] = proto;
    s.copy(p, 12);
    d.copy(p, 16);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += p.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    p.writeUInt16BE(~sum & 0xffff, 10);
    payload.copy(p, 20);
    return p;
  }
  const p = Buffer.alloc(40 + payload.length);
  p[0] = 0x60;
  p.writeUInt16BE(payload.length, 4);
  p[6] = proto;
  p[7] = 64;
  s.copy(p, 8);
  d.copy(p, 24);
  payload.copy(p, 40);
  return p;
}
