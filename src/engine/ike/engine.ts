// The protocol core of one engine instance: routes datagrams to IKE SAs by
// SPI, creates responder SAs for new IKE_SA_INIT requests, starts initiator
// SAs, and runs timers. Bytes and time in, bytes and callbacks out (IkeHost):
// two engines can be wired together in a unit test without any socket.
import { Exchange, Flag, HEADER_LEN, Notify, PayloadType } from './constants.js';
import { decodeHeader, decodeMessage, encodeMessage } from './message.js';
import { IkeSa, type ChildSa, type SaRegistry } from './ike-sa.js';
import { respondIkeSaInit, startIkeSaInit, type ResponderContext } from './exchanges/ike-sa-init.js';
import './exchanges/ike-auth.js';
import { startCreateChild, startRekeyIke } from './exchanges/create-child-sa.js';
import { startDeleteChildren, startDeleteIke, startDpd } from './exchanges/informational.js';
import type { Endpoint } from '../child-sa.js';
import type { IkeHost, IkePolicy } from './types.js';

export interface EngineOptions {
  /** Responder policy (gateway); undefined: new IKE_SA_INIT requests are ignored. */
  responder?: IkePolicy;
  /** Half-open SAs above which IKE_SA_INIT must carry a COOKIE (0: always, Infinity: never). */
  cookieThreshold?: number;
}

const key = (spi: Buffer) => spi.toString('hex');
/**
 * Peer identity and address: INITIAL_CONTACT replaces the SAs of the same
 * peer. The address too, not the identity alone (RFC 7296 §3.10.1, and
 * strongSwan, go by identities): a client's tunnels may all share one myid,
 * each from its own address, and each tunnel's INITIAL_CONTACT speaks for its
 * own address only.
 */
const peerKey = (sa: IkeSa) => `${sa.peerId!.type}:${sa.peerId!.data.toString('hex')}|${sa.remote.addr}`;

export class IkeEngine implements SaRegistry, ResponderContext {
  readonly sas = new Map<string, IkeSa>(); // by our SPI
  private readonly halfOpen = new Map<string, IkeSa>(); // by peer SPIi + address, responder only
  private readonly byPeer = new Map<string, Set<IkeSa>>(); // authenticated SAs by peer ID + address
  private tunnelCounter = 0;
  /** Set by deleteAll (graceful stop). */
  private stopReason?: string;
  readonly cookieSecret: Buffer;
  /** retransmitsClosed: those of SAs gone by now, so the summary's count only grows. */
  readonly stats = { received: 0, dropped: 0, malformed: 0, retransmitsClosed: 0 };

  constructor(readonly host: IkeHost, readonly opts: EngineOptions = {}) {
    this.cookieSecret = host.random(32);
  }

  get policy(): IkePolicy {
    return this.opts.responder!;
  }

  cookiesRequired(): boolean {
    return this.halfOpen.size >= (this.opts.cookieThreshold ?? Infinity);
  }

  register(sa: IkeSa): void {
    this.sas.set(key(sa.localSpi), sa);
    if (sa.peerId) this.addPeer(sa);
  }

  unregister(sa: IkeSa): void {
    if (this.sas.get(key(sa.localSpi)) === sa) {
      this.sas.delete(key(sa.localSpi));
      this.stats.retransmitsClosed += sa.stats.retransmits;
    }
    if (sa.peerId) {
      const set = this.byPeer.get(peerKey(sa));
      if (set?.delete(sa) && !set.size) this.byPeer.delete(peerKey(sa));
    }
    this.halfOpen.delete(key(sa.spiI) + sa.remote.addr);
  }

  private addPeer(sa: IkeSa): void {
    const k = peerKey(sa);
    const set = this.byPeer.get(k);
    if (set) set.add(sa);
    else this.byPeer.set(k, new Set([sa]));
  }

  /**
   * Responder, IKE_AUTH verified, before the SA counts as established: the
   * tunnel gets its number now, so handshakes that fail or are abandoned use
   * none (numbers stay 1..N for N tunnels). With INITIAL_CONTACT, every older
   * IKE SA of the peer goes (with its CHILD SAs; no Delete: the peer has
   * forgotten them), whether or not they were set up with it, and the new SA
   * takes over the first tunnel number among them: a client that restarts
   * keeps its tunnel numbers, its count of tunnels created and its ping rows.
   */
  authenticated(sa: IkeSa, initialContact: boolean): void {
    const older = initialContact ? [...(this.byPeer.get(peerKey(sa)) ?? [])].filter((o) => o !== sa) : [];
    const numbers = older.map((o) => o.tunnelId).filter((n) => n > 0);
    for (const o of older) o.close('replaced (INITIAL_CONTACT)');
    if (numbers.length) {
      const n = Math.min(...numbers);
      sa.log(3, `INITIAL_CONTACT: replaces IKE SA(s) ${older.map((o) => o.id).join(', ')}, takes over tunnel ${n}`);
      sa.policy = { ...sa.policy, tunnelId: n };
    } else if (!sa.tunnelId) sa.policy = { ...sa.policy, tunnelId: ++this.tunnelCounter };
    this.addPeer(sa);
  }

  hasContact(sa: IkeSa): boolean {
    const id = sa.policy.localId;
    for (const o of this.sas.values()) {
      if (o === sa || !o.keys || o.remote.addr !== sa.remote.addr || (o.state !== 'connecting' && o.state !== 'established' && o.state !== 'rekeying')) continue;
      if (o.policy.localId === id || (o.policy.localId.type === id.type && o.policy.localId.data.equals(id.data))) return true;
    }
    return false;
  }

  rekeyIke(sa: IkeSa): void {
    startRekeyIke(sa);
  }
  rekeyChild(sa: IkeSa, c: ChildSa): void {
    startCreateChild(sa, c);
  }
  dpd(sa: IkeSa): void {
    startDpd(sa);
  }
  deleteIke(sa: IkeSa, reason: string): void {
    startDeleteIke(sa, reason);
  }
  deleteChild(sa: IkeSa, c: ChildSa, reason: string): void {
    startDeleteChildren(sa, [c], reason);
  }

  /** Starts an initiator IKE SA; `onDone` reports once whether IKE and the first CHILD SA came up. */
  initiate(policy: IkePolicy, local: Endpoint, remote: Endpoint, onDone?: (ok: boolean, reason?: string) => void): IkeSa {
    const sa = new IkeSa(this, policy, true, this.host.random(8), Buffer.alloc(8), local, remote);
    sa.onAuthDone = onDone;
    this.register(sa);
    this.host.event({ kind: 'ike', id: sa.id, tunnelId: policy.tunnelId, state: 'connecting', at: this.host.now() });
    startIkeSaInit(sa);
    return sa;
  }

  /** One IKE message (non-ESP marker already removed) received on `to` from `from`. Never throws. */
  receive(data: Buffer, from: Endpoint, to: Endpoint): void {
    this.stats.received++;
    try {
      this.dispatch(data, from, to);
    } catch (err) {
      this.stats.dropped++;
      this.host.log(1, `internal error on a message from ${from.addr}:${from.port}: ${(err as Error).stack}`);
    }
  }

  private dispatch(data: Buffer, from: Endpoint, to: Endpoint): void {
    const header = decodeHeader(data);
    if (!header || data.length < HEADER_LEN) {
      this.stats.malformed++;
      return;
    }
    const response = (header.flags & Flag.RESPONSE) !== 0;
    const fromInitiator = (header.flags & Flag.INITIATOR) !== 0;
    if (header.exchange === Exchange.IKE_SA_INIT && !response) {
      const hk = key(header.spiI) + from.addr;
      const known = this.halfOpen.get(hk);
      if (known) {
        if (known.lastResponse) this.host.send(known.local, known.remote, known.lastResponse.data);
        return;
      }
      if (!this.opts.responder || this.stopReason !== undefined || header.messageId !== 0) return void this.stats.dropped++;
      const decoded = decodeMessage(data);
      if (!decoded.ok) {
        this.stats.malformed++;
        this.host.log(3, `malformed IKE_SA_INIT from ${from.addr}: ${decoded.error}`);
        // RFC 7296 §2.5/§1.5: tell the sender about a critical payload or version we do not know
        if (decoded.notify === Notify.UNSUPPORTED_CRITICAL_PAYLOAD || decoded.notify === Notify.INVALID_MAJOR_VERSION) {
          const n = { type: PayloadType.NOTIFY, protocol: 0, spi: Buffer.alloc(0), notifyType: decoded.notify, data: decoded.notifyData ?? Buffer.alloc(0) } as const;
          this.host.send(to, from, encodeMessage({ spiI: Buffer.from(header.spiI), spiR: Buffer.alloc(8), exchange: Exchange.IKE_SA_INIT, flags: Flag.RESPONSE, messageId: 0, payloads: [n] }));
        }
        return;
      }
      const { sa, response: out } = respondIkeSaInit(this, data, decoded.msg, from, to);
      if (sa) {
        this.register(sa);
        this.halfOpen.set(hk, sa);
        this.host.event({ kind: 'ike', id: sa.id, tunnelId: sa.tunnelId, state: 'connecting', at: this.host.now() });
      }
      this.host.send(to, from, out);
      return;
    }
    const ourSpi = fromInitiator ? header.spiR : header.spiI;
    const sa = this.sas.get(key(ourSpi));
    if (!sa || (sa.initiator === fromInitiator)) {
      this.stats.dropped++;
      this.host.log(4, `message for unknown IKE SA ${key(ourSpi)} from ${from.addr}:${from.port}, dropped`);
      return;
    }
    const decoded = decodeMessage(data);
    if (!decoded.ok) {
      this.stats.malformed++;
      this.host.log(3, `malformed message from ${from.addr}: ${decoded.error}`);
      return;
    }
    sa.receive(data, header, decoded.msg, from, to);
    if (sa.state !== 'connecting') this.halfOpen.delete(key(sa.spiI) + sa.remote.addr);
    // Stopping: a handshake that just finished is deleted at once (deleteAll).
    if (this.stopReason !== undefined && sa.state === 'established') startDeleteIke(sa, this.stopReason);
  }

  tick(now: number): void {
    for (const sa of [...this.sas.values()]) sa.tick(now);
  }

  find(id: string): IkeSa | undefined {
    return this.sas.get(id);
  }

  findChild(childId: string): { sa: IkeSa; child: ChildSa } | undefined {
    for (const sa of this.sas.values()) {
      const child = sa.children.find((c) => c.id === childId);
      if (child) return { sa, child };
    }
    return undefined;
  }

  /** Extra CHILD SAs of the policy (setup childlist[1..]) on an established IKE SA. */
  createExtraChildren(sa: IkeSa): number {
    const extra = sa.policy.extraChildren ?? [];
    for (const cp of extra) startCreateChild(sa, undefined, undefined, cp);
    return extra.length;
  }

  rekeyChildById(childId: string): boolean {
    const f = this.findChild(childId);
    if (!f || f.child.state !== 'installed') return false;
    startCreateChild(f.sa, f.child);
    return true;
  }

  rekeyIkeById(id: string): boolean {
    const sa = this.sas.get(id);
    if (!sa || sa.state !== 'established') return false;
    startRekeyIke(sa);
    return true;
  }

  deleteChildById(childId: string): boolean {
    const f = this.findChild(childId);
    if (!f) return false;
    startDeleteChildren(f.sa, [f.child], 'deleted by request');
    return true;
  }

  deleteIkeSa(sa: IkeSa, reason: string): void {
    startDeleteIke(sa, reason);
  }

  /**
   * Graceful stop: sends a Delete for every established IKE SA; one in the
   * middle of its handshake finishes it and is deleted then (the peer may
   * count it up already, and would wait for an answer to its own Delete);
   * no new IKE_SA_INIT is answered. The promise-free caller polls `sas.size`.
   */
  deleteAll(reason: string): void {
    this.stopReason = reason;
    for (const sa of [...this.sas.values()]) if (sa.state === 'established') startDeleteIke(sa, reason);
  }

  closeAll(reason: string): void {
    for (const sa of [...this.sas.values()]) sa.close(reason);
  }
}
