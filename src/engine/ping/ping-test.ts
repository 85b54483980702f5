// The built-in ping test (setup file `pingconf`): per tunnel, echo requests
// every `interval` after `holdtime`, replies matched by id/seq, loss counted.
// Pure: the data plane hands it time and replies, it hands back packets.
import type { PingConf } from '../../model/setup-types.js';
import type { TsRange } from '../child-sa.js';
import { addToAddr, addrBytes, addrFamily } from '../esp/addr.js';
import { buildEcho, setEchoSeq, type EchoInfo } from './icmp.js';
import { targetIndexInTs } from './targets.js';

export interface PingTunnelStats {
  tunnelId: number;
  src: string;
  dst: string;
  sent: number;
  received: number;
  lost: number; // no reply within the reply timeout, or no CHILD SA of the live tunnel covers the destination
  inFlight: number; // sent, still within the reply timeout
  late: number; // replies that came after the reply timeout (counted as received, no longer as lost)
  duplicates: number;
  unroutable: number; // not sent: no CHILD SA covers the destination (counted as sent and lost), or the tunnel was down (not counted)
  lossPct: number; // lost / (received + lost)
  rttAvgMs: number;
  rttMaxMs: number;
  error?: string; // why this tunnel cannot ping (e.g. no usable address)
}

export interface PingSummary {
  enabled: boolean;
  intervalMs: number;
  pktlen: number;
  maxlossrate: number;
  tunnels: PingTunnelStats[];
  total: { tunnels: number; sent: number; received: number; lost: number; inFlight: number; lossPct: number; tunnelsOverMaxLoss: number };
  answered: number; // echo requests this engine answered (filled in by the data plane)
}

export interface PingLossEvent {
  type: 'ping-loss';
  tunnelId: number;
  lossPct: number;
  maxlossrate: number;
}

/** What the ping test needs to know about a tunnel to choose its addresses. */
export interface PingTunnelInfo {
  tunnelId: number;
  firstLocalTs?: string; // first address of the first own traffic selector
  firstRemoteTs?: string;
  remoteTs?: readonly TsRange[]; // the peer's negotiated selectors (a gateway finds the tunnel's target in them)
  localOuter: string; // transport mode pings between the outer addresses
  remoteOuter: string;
  tunnelMode: boolean;
}

/** Fewer answered-or-lost requests than this never raise a loss event (one early loss is not a trend). */
const MIN_SAMPLES_FOR_EVENT = 10;

const SLOT_EXPIRED = 0;
const SLOT_PENDING = 1;
const SLOT_ANSWERED = 2;
const SLOT_CLEARED = 3; // replies to requests sent before clearPing are ignored

class PingTunnel {
  /** The SA's tunnel it pings through: a gateway moves the row to the tunnel that took its target over. */
  tunnelId: number;
  sent = 0;
  received = 0;
  lost = 0;
  late = 0;
  duplicates = 0;
  unroutable = 0;
  rttSum = 0;
  rttMax = 0;
  flagged = false;
  nextAt = Infinity;
  seq = 0;
  /** Send time by seq (ring); NaN = answered or expired. */
  readonly sentAt: Float64Array;
  /** Per ring slot: the seq it last held and what became of it. */
  readonly slotSeq: Uint16Array;
  readonly slotState: Uint8Array;
  packet?: Buffer;
  constructor(
    tunnelId: number,
    readonly src: string,
    readonly dst: string,
    readonly error: string | undefined,
    ring: number,
  ) {
    this.tunnelId = tunnelId;
    this.sentAt = new Float64Array(ring).fill(NaN);
    this.slotSeq = new Uint16Array(ring);
    this.slotState = new Uint8Array(ring);
  }
}

function isUnspecified(addr: string): boolean {
  return addrBytes(addr).every((b) => b === 0);
}

export class PingTest {
  private readonly tunnels = new Map<number, PingTunnel>();
  private readonly byId = new Map<number, PingTunnel>();
  /** Gateway: rows by the index k of their configured target. */
  private readonly byTarget = new Map<number, PingTunnel>();
  private startAt = Infinity;
  readonly enabled: boolean;
  readonly replyTimeoutMs: number;
  private readonly ring: number;

  constructor(
    private readonly conf: PingConf,
    /** 'down': the tunnel has no CHILD SA at all; 'no-route': none of its SAs covers the destination. */
    private readonly send: (tunnelId: number, packet: Buffer) => 'sent' | 'down' | 'no-route',
    private readonly onLoss: (e: PingLossEvent) => void,
    /** Gateway: numberoftunnels, the count of configured targets; 0 (client): tunnel n pings target n. */
    private readonly targets = 0,
  ) {
    this.enabled = conf.destaddr !== '' || conf.autoaddr;
    const interval = Math.max(conf.intervalMs, 1);
    this.replyTimeoutMs = Math.min(Math.max(2 * interval, 2000), 5000);
    let ring = 8;
    while (ring < Math.ceil(this.replyTimeoutMs / interval) + 2) ring *= 2;
    this.ring = ring;
  }

  /** Starts the clock: pings begin `holdtime` after `now`. */
  arm(now: number): void {
    if (this.startAt !== Infinity) return;
    this.startAt = now + this.conf.holdtimeMs;
    for (const t of this.tunnels.values()) t.nextAt = this.firstSendAt(t.tunnelId, now);
  }

  private firstSendAt(tunnelId: number, now: number): number {
    // Spread tunnels over one interval so 1,000 tunnels do not burst together.
    const offset = Math.imul(tunnelId, 2654435761) >>> 0;
    return Math.max(this.startAt, now) + (offset % Math.max(this.conf.intervalMs, 1));
  }

  /**
   * Tunnel n pings destaddr + (n-1) × deststep, from srcaddr + (n-1) × srcstep.
   * A gateway numbers tunnels as they arrive, so there the pair is the k-th
   * whose target lies inside the client's selectors; arrival order only when
   * none or several do.
   */
  private addresses(info: PingTunnelInfo): { src: string; dst: string; k?: number } {
    if (!info.tunnelMode) return { src: info.localOuter, dst: info.remoteOuter };
    if (this.conf.autoaddr) return { src: info.firstLocalTs ?? '', dst: info.firstRemoteTs ?? '' };
    const k = this.targets ? targetIndexInTs(this.conf.destaddr, this.conf.deststep, this.targets, info.remoteTs ?? []) : undefined;
    const n = k ?? info.tunnelId - 1;
    const src = this.conf.srcaddr ? addToAddr(this.conf.srcaddr, n * this.conf.srcstep) : info.firstLocalTs ?? '';
    return { src, dst: addToAddr(this.conf.destaddr, n * this.conf.deststep), k };
  }

  /** A tunnel came up (first CHILD SA installed). Rekeys keep the same tunnel and its counters. */
  tunnelUp(info: PingTunnelInfo, now: number): void {
    if (!this.enabled || this.tunnels.has(info.tunnelId)) return;
    const { src, dst, k } = this.addresses(info);
    const prev = k === undefined ? undefined : this.byTarget.get(k);
    if (prev) {
      // The client of this target is back on a new tunnel (its old SA may live on until DPD gives up):
      // the row goes on through the new one, with its counters; the old tunnel is no longer pinged.
      this.tunnels.delete(prev.tunnelId);
      prev.tunnelId = info.tunnelId;
      this.tunnels.set(info.tunnelId, prev);
      return;
    }
    let error: string | undefined;
    if (!src || !dst) error = 'no ping address (set pingconf.srcaddr/destaddr or use autoaddr with narrowed traffic selectors)';
    else if (addrFamily(src) !== addrFamily(dst)) error = `ping source ${src} and destination ${dst} differ in address family`;
    else if (isUnspecified(src) || isUnspecified(dst)) error = `ping address ${isUnspecified(src) ? src : dst} is unspecified (traffic selector starts at it); set pingconf.srcaddr/destaddr`;
    const t = new PingTunnel(info.tunnelId, src, dst, error, this.ring);
    if (!error) {
      t.packet = buildEcho(addrBytes(src), addrBytes(dst), true, info.tunnelId & 0xffff, 0, this.conf.pktlen);
      this.byId.set(info.tunnelId & 0xffff, t);
      if (this.startAt !== Infinity) t.nextAt = this.firstSendAt(info.tunnelId, now);
    }
    this.tunnels.set(info.tunnelId, t);
    if (k !== undefined) this.byTarget.set(k, t);
  }

  tick(now: number): void {
    if (now < this.startAt) return;
    const interval = Math.max(this.conf.intervalMs, 1);
    for (const t of this.tunnels.values()) {
      this.expire(t, now);
      if (t.nextAt > now || !t.packet) continue;
      t.nextAt = t.nextAt + interval > now ? t.nextAt + interval : now + interval; // no catch-up bursts
      const seq = (t.seq = (t.seq + 1) & 0xffff);
      setEchoSeq(t.packet, seq);
      const outcome = this.send(t.tunnelId, t.packet);
      if (outcome !== 'sent') {
        t.unroutable++;
        if (outcome === 'no-route') {
          // The tunnel is up but cannot carry the ping (selectors do not cover it): that is loss.
          t.sent++;
          t.lost++;
          this.checkLoss(t);
        }
        continue;
      }
      t.sent++;
      const slot = seq % this.ring;
      if (!Number.isNaN(t.sentAt[slot])) t.lost++; // ring reuse before timeout (cannot happen with the sizing above)
      t.sentAt[slot] = now;
      t.slotSeq[slot] = seq;
      t.slotState[slot] = SLOT_PENDING;
    }
  }

  private expire(t: PingTunnel, now: number): void {
    let changed = false;
    for (let i = 0; i < this.ring; i++) {
      const at = t.sentAt[i];
      if (!Number.isNaN(at) && now - at > this.replyTimeoutMs) {
        t.sentAt[i] = NaN;
        t.slotState[i] = SLOT_EXPIRED;
        t.lost++;
        changed = true;
      }
    }
    if (changed) this.checkLoss(t);
  }

  private checkLoss(t: PingTunnel): void {
    if (!t.flagged && t.lost + t.received >= MIN_SAMPLES_FOR_EVENT) {
      const lossPct = (100 * t.lost) / (t.lost + t.received);
      if (lossPct > this.conf.maxlossrate) {
        t.flagged = true;
        this.onLoss({ type: 'ping-loss', tunnelId: t.tunnelId, lossPct, maxlossrate: this.conf.maxlossrate });
      }
    }
  }

  /** An echo reply arrived (already parsed and checksum-checked); returns whether it was ours. */
  onReply(info: EchoInfo, now: number): boolean {
    const t = this.byId.get(info.id);
    if (!t) return false;
    const slot = info.seq % this.ring;
    const state = t.slotSeq[slot] === info.seq ? t.slotState[slot] : SLOT_EXPIRED;
    if (state === SLOT_ANSWERED) t.duplicates++;
    if (state === SLOT_EXPIRED && t.slotSeq[slot] === info.seq) {
      // Slow, not lost (a loaded machine): ping(8) would count it too.
      t.slotState[slot] = SLOT_ANSWERED;
      t.late++;
      t.lost--;
      t.received++;
      return true;
    }
    if (state !== SLOT_PENDING) return true;
    const at = t.sentAt[slot];
    t.sentAt[slot] = NaN;
    t.slotState[slot] = SLOT_ANSWERED;
    t.received++;
    const rtt = now - at;
    t.rttSum += rtt;
    if (rtt > t.rttMax) t.rttMax = rtt;
    return true;
  }

  /** Zeroes every counter (sequence numbers go on, so late replies to old requests are not miscounted). */
  clear(): void {
    for (const t of this.tunnels.values()) {
      t.sent = t.received = t.lost = t.late = t.duplicates = t.unroutable = t.rttSum = t.rttMax = 0;
      t.flagged = false;
      t.sentAt.fill(NaN);
      t.slotState.fill(SLOT_CLEARED);
    }
  }

  summary(): PingSummary {
    const tunnels: PingTunnelStats[] = [];
    const total = { tunnels: 0, sent: 0, received: 0, lost: 0, inFlight: 0, lossPct: 0, tunnelsOverMaxLoss: 0 };
    for (const t of [...this.tunnels.values()].sort((a, b) => a.tunnelId - b.tunnelId)) {
      let inFlight = 0;
      for (let i = 0; i < this.ring; i++) if (!Number.isNaN(t.sentAt[i])) inFlight++;
      const lossPct = t.lost + t.received > 0 ? (100 * t.lost) / (t.lost + t.received) : 0;
      tunnels.push({
        tunnelId: t.tunnelId,
        src: t.src,
        dst: t.dst,
        sent: t.sent,
        received: t.received,
        lost: t.lost,
        inFlight,
        late: t.late,
        duplicates: t.duplicates,
        unroutable: t.unroutable,
        lossPct,
        rttAvgMs: t.received ? t.rttSum / t.received : 0,
        rttMaxMs: t.rttMax,
        ...(t.error ? { error: t.error } : {}),
      });
      total.tunnels++;
      total.sent += t.sent;
      total.received += t.received;
      total.lost += t.lost;
      total.inFlight += inFlight;
      if (lossPct > this.conf.maxlossrate) total.tunnelsOverMaxLoss++;
    }
    total.lossPct = total.lost + total.received > 0 ? (100 * total.lost) / (total.lost + total.received) : 0;
    return { enabled: this.enabled, intervalMs: this.conf.intervalMs, pktlen: this.conf.pktlen, maxlossrate: this.conf.maxlossrate, tunnels, total, answered: 0 };
  }
}
