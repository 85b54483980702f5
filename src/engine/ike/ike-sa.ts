// One IKE SA: message IDs (window of one), retransmission, encryption of the
// SK payload, timers (DPD, rekey, expiry) and a queue of exchanges to start.
// The exchanges themselves live in exchanges/*.ts. No I/O: everything goes
// through the IkeHost given by the engine.
import { Exchange, Flag, HEADER_LEN, Notify, notifyName, PayloadType, ProtocolId, exchangeName } from './constants.js';
import { decodeChain, encodeChain, encodeHeader, encodeMessage, payloadName, type IkeHeader, type IkeMessage } from './message.js';
import { ParseError, type AnyPayload, type NotifyPayload } from './payloads/codec.js';
import { openSk, sealedLength, sealSk, type SkKeys } from './crypto/sk-cipher.js';
import type { IkeKeys, IkeSuite } from './crypto/keys.js';
import type { DhKey } from './crypto/dh.js';
import type { ChildSaKeys, Endpoint, TsRange } from '../child-sa.js';
import type { EncrAlg, IntegAlg } from './crypto/algorithms.js';
import type { ChildPolicy, IdConf, IkeHost, IkePolicy, IkeState, ChildState } from './types.js';
import { own, ownAll } from './bytes.js';

const EMPTY = Buffer.alloc(0);

export class IkeNotifyError extends Error {
  constructor(readonly notifyType: number, readonly data: Buffer = Buffer.alloc(0), message?: string) {
    super(message ?? notifyName(notifyType));
  }
}

export interface ChildSa {
  id: string;
  spiIn: number;
  spiOut: number;
  encr: EncrAlg;
  integ?: IntegAlg;
  pfsGroup?: number;
  state: ChildState;
  keys: ChildSaKeys;
  createdAt: number;
  rekeyAt: number; // 0: never
  expireAt: number; // 0: never
  rekeys: number; // how many times this tunnel's child was rekeyed to reach this one
  rekeyQueued?: boolean; // a rekey waits in the IKE SA's queue
  policy: ChildPolicy; // what it was negotiated with (its rekeys use the same)
}

/** The engine as an IKE SA sees it (register SPIs, hand over on IKE rekey). */
export interface SaRegistry {
  host: IkeHost;
  register(sa: IkeSa): void;
  unregister(sa: IkeSa): void;
  /** Responder: the peer's AUTH verified (numbers the tunnel; INITIAL_CONTACT replaces the peer's older SAs). */
  authenticated(sa: IkeSa, initialContact: boolean): void;
  /** Initiator: another IKE SA with our ID to the same peer is up or authenticating. */
  hasContact(sa: IkeSa): boolean;
}

type ResponseHandler = (payloads: AnyPayload[], raw: Buffer, header: IkeHeader) => void;

interface PendingRequest {
  msgId: number;
  exchange: number;
  data: Buffer;
  sentAt: number;
  retries: number;
  onResponse: ResponseHandler;
  what: string;
}

interface Task {
  what: string;
  start: () => void; // sends one request (or nothing, if no longer needed)
}

/** One line per message for loglevel 5: payload types with their main fields (never key material). */
export function describePayloads(payloads: AnyPayload[]): string {
  if (!payloads.length) return '[ ]';
  return '[ ' + payloads.map((p) => {
    switch (p.type) {
      case PayloadType.NOTIFY: return `N(${notifyName((p as NotifyPayload).notifyType)})`;
      case PayloadType.SA: return `SA(${(p as { proposals: { protocol: number; transforms: { type: number; id: number; keyLength?: number }[] }[] }).proposals.map((x) => `${['', 'IKE', 'AH', 'ESP'][x.protocol] ?? x.protocol}:${x.transforms.map((t) => `${t.type}.${t.id}${t.keyLength ? '/' + t.keyLength : ''}`).join(',')}`).join(' | ')})`;
      case PayloadType.KE: return `KE(group ${(p as { group: number }).group})`;
      case PayloadType.TSi: case PayloadType.TSr: return `${p.type === PayloadType.TSi ? 'TSi' : 'TSr'}(${(p as { selectors: unknown[] }).selectors.length})`;
      case PayloadType.DELETE: return `D(${['', 'IKE', 'AH', 'ESP'][(p as { protocol: number }).protocol]} ${(p as { spis: Buffer[] }).spis.map((s) => s.toString('hex')).join(',')})`;
      default: return payloadName(p.type);
    }
  }).join(' ') + ' ]';
}

export function notifies(payloads: AnyPayload[]): NotifyPayload[] {
  return payloads.filter((p): p is NotifyPayload => p.type === PayloadType.NOTIFY);
}
export function findPayload<T extends AnyPayload>(payloads: AnyPayload[], type: number): T | undefined {
  return payloads.find((p) => p.type === type) as T | undefined;
}
/** The first error notify in a response (types below 16384), if any. */
export function errorNotify(payloads: AnyPayload[]): NotifyPayload | undefined {
  return notifies(payloads).find((n) => n.notifyType < 16384);
}

export function randomSpi4(host: IkeHost): number {
  for (;;) {
    const v = host.random(4).readUInt32BE(0);
    if (v >= 256) return v; // 1–255 are reserved (RFC 4303 §2.1)
  }
}

export type RequestHandler = (sa: IkeSa, payloads: AnyPayload[]) => AnyPayload[];

/** Handlers of requests by exchange type, filled in by the exchange modules. */
export const requestHandlers = new Map<number, RequestHandler>();

export class IkeSa {
  state: IkeState = 'connecting';
  spiR: Buffer;
  suite?: IkeSuite;
  keys?: IkeKeys;
  skIn?: SkKeys;
  skOut?: SkKeys;
  ni: Buffer = Buffer.alloc(0);
  nr: Buffer = Buffer.alloc(0);
  dh?: DhKey;
  dhGroup?: number;
  cookie?: Buffer;
  initRequest?: Buffer; // kept until IKE_AUTH is done (AUTH signs it)
  initResponse?: Buffer;
  encap = false;
  natLocal = false;
  natRemote = false;
  peerId?: IdConf;
  children: ChildSa[] = [];
  nextMsgId = 0;
  peerMsgId = 0;
  pending?: PendingRequest;
  lastResponse?: { msgId: number; data: Buffer };
  queue: Task[] = [];
  createdAt: number;
  establishedAt = 0;
  lastInbound: number;
  /** When we last sent the peer anything (an IKE message or a NAT keepalive). */
  lastOutbound: number;
  rekeyAt = 0;
  expireAt = 0;
  rekeys = 0;
  /** Set while our own rekey of this IKE SA is in flight (collision check). */
  rekeyingIke = false;
  closeAfterResponse?: string;
  /** Called once when IKE_AUTH completes (or fails) on the initiator. */
  onAuthDone?: (ok: boolean, reason?: string) => void;
  stats = { retransmits: 0, requestsIn: 0, requestsOut: 0, keepalivesOut: 0 };
  lastError?: string;

  readonly spiI: Buffer;

  constructor(
    readonly registry: SaRegistry,
    public policy: IkePolicy,
    readonly initiator: boolean,
    spiI: Buffer,
    spiR: Buffer,
    public local: Endpoint,
    public remote: Endpoint,
  ) {
    this.spiI = own(spiI);
    this.spiR = own(spiR);
    this.createdAt = this.lastInbound = this.lastOutbound = registry.host.now();
  }

  get host(): IkeHost {
    return this.registry.host;
  }
  get tunnelId(): number {
    return this.policy.tunnelId;
  }
  get localSpi(): Buffer {
    return this.initiator ? this.spiI : this.spiR;
  }
  get id(): string {
    return this.localSpi.toString('hex');
  }

  /** Whether debug lines are wanted (callers skip building them otherwise). */
  get debug(): boolean {
    return (this.host.logLevel ?? 5) >= 4;
  }

  /** loglevel 5: decoded payloads of every message. */
  get trace(): boolean {
    return (this.host.logLevel ?? 5) >= 5;
  }

  log(level: number, msg: string): void {
    this.host.log(level, `tunnel ${this.tunnelId || '-'} ike ${this.id}: ${msg}`); // '-': a gateway's SA not numbered yet
  }

  setState(state: IkeState, reason?: string): void {
    if (this.state === state) return;
    this.state = state;
    this.host.event({ kind: 'ike', id: this.id, tunnelId: this.tunnelId, state, reason, at: this.host.now() });
  }

  setChildState(c: ChildSa, state: ChildState, reason?: string): void {
    if (c.state === state) return;
    c.state = state;
    this.host.event({ kind: 'child', id: c.id, tunnelId: this.tunnelId, state, reason, at: this.host.now() });
  }

  addChild(c: ChildSa): void {
    this.children.push(c);
    this.host.childUp(c.keys);
    this.host.event({ kind: 'child', id: c.id, tunnelId: this.tunnelId, state: 'installed', at: this.host.now() });
  }

  removeChild(c: ChildSa, reason: string): void {
    const i = this.children.indexOf(c);
    if (i < 0) return;
    this.children.splice(i, 1);
    this.host.childDown(c.id);
    this.setChildState(c, 'closed', reason);
  }

  /** Derives the SK_e/SK_a directions from the key set (the SA's initiator sends with SK_ei/SK_ai). */
  installKeys(k: IkeKeys): void {
    const [skD, skAi, skAr, skEi, skEr, skPi, skPr] = ownAll([k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr]);
    const keys = { skD, skAi, skAr, skEi, skEr, skPi, skPr };
    this.keys = keys;
    const s = this.suite!;
    const i = { encr: s.encr, integ: s.integ, encKey: keys.skEi, integKey: keys.skAi };
    const r = { encr: s.encr, integ: s.integ, encKey: keys.skEr, integKey: keys.skAr };
    [this.skOut, this.skIn] = this.initiator ? [i, r] : [r, i];
  }

  markEstablished(): void {
    const now = this.host.now();
    this.establishedAt = now;
    this.initRequest = this.initResponse = undefined;
    this.ni = this.nr = EMPTY; // only AUTH and the first CHILD SA needed them
    if (this.peerId) this.peerId = { type: this.peerId.type, data: own(this.peerId.data) };
    const { rekeyAt, expireAt } = this.lifetimes(now, this.policy.ikeLifetimeMs);
    this.rekeyAt = rekeyAt;
    this.expireAt = expireAt;
    this.setState('established');
  }

  // ---- sending -------------------------------------------------------------

  private flags(response: boolean): number {
    return (this.initiator ? Flag.INITIATOR : 0) | (response ? Flag.RESPONSE : 0);
  }

  /** An encrypted message: header | SK header | IV | ciphertext | ICV. */
  seal(exchange: number, response: boolean, msgId: number, payloads: AnyPayload[]): Buffer {
    const sk = this.skOut!;
    const inner = encodeChain(payloads);
    const bodyLen = sealedLength(sk, inner.length);
    const total = HEADER_LEN + 4 + bodyLen;
    const header = encodeHeader({ spiI: this.spiI, spiR: this.spiR, exchange, flags: this.flags(response), messageId: msgId }, PayloadType.SK, total);
    const skHeader = Buffer.from([payloads[0]?.type ?? 0, 0, 0, 0]);
    skHeader.writeUInt16BE(4 + bodyLen, 2);
    const aad = Buffer.concat([header, skHeader]);
    return Buffer.concat([aad, sealSk(sk, inner, aad, this.host.random(sk.encr.ivLen))]);
  }

  plain(exchange: number, response: boolean, msgId: number, payloads: AnyPayload[]): Buffer {
    return encodeMessage({ spiI: this.spiI, spiR: this.spiR, exchange, flags: this.flags(response), messageId: msgId, payloads });
  }

  transmit(data: Buffer): void {
    this.lastOutbound = this.host.now();
    this.host.send(this.local, this.remote, data);
  }

  /** Sends a request now (the caller made sure none is pending). Returns its bytes. */
  request(exchange: number, payloads: AnyPayload[], onResponse: ResponseHandler, what: string): Buffer {
    const msgId = this.nextMsgId++;
    const data = exchange === Exchange.IKE_SA_INIT ? this.plain(exchange, false, msgId, payloads) : this.seal(exchange, false, msgId, payloads);
    this.pending = { msgId, exchange, data, sentAt: this.host.now(), retries: 0, onResponse, what };
    this.stats.requestsOut++;
    if (this.trace) this.log(5, `   ${describePayloads(payloads)}`);
    if (this.debug) this.log(4, `-> ${exchangeName(exchange)} request #${msgId} (${what})`);
    this.transmit(data);
    return data;
  }

  /** Queues an exchange; it starts when no other request of ours is outstanding. */
  enqueue(what: string, start: () => void): void {
    this.queue.push({ what, start });
    this.pump();
  }

  pump(): void {
    while (!this.pending && this.queue.length && (this.state === 'established' || this.state === 'rekeying' || this.state === 'deleting')) {
      this.queue.shift()!.start();
    }
  }

  // ---- receiving -----------------------------------------------------------

  /** A message for this SA (the engine routed it by SPI). */
  receive(raw: Buffer, header: IkeHeader, msg: IkeMessage, from: Endpoint, to: Endpoint): void {
    const isResponse = (header.flags & Flag.RESPONSE) !== 0;
    if (isResponse) return this.receiveResponse(raw, header, msg);
    return this.receiveRequest(raw, header, msg, from, to);
  }

  private open(raw: Buffer, msg: IkeMessage): AnyPayload[] | undefined {
    const sk = msg.payloads[msg.payloads.length - 1];
    if (!sk || sk.type !== PayloadType.SK || !this.skIn) return undefined;
    const body = (sk as { body: Buffer }).body;
    const aad = raw.subarray(0, raw.length - body.length);
    const plain = openSk(this.skIn, body, aad);
    if (!plain) return undefined;
    return decodeChain((sk as { firstInner: number }).firstInner, plain);
  }

  private receiveResponse(raw: Buffer, header: IkeHeader, msg: IkeMessage): void {
    const p = this.pending;
    if (!p || p.msgId !== header.messageId || p.exchange !== header.exchange) {
      if (this.debug) this.log(4, `dropped unexpected response #${header.messageId}`);
      return;
    }
    let payloads: AnyPayload[] | undefined;
    if (header.exchange === Exchange.IKE_SA_INIT) payloads = msg.payloads;
    else {
      try {
        payloads = this.open(raw, msg);
      } catch (err) {
        this.log(2, `response #${header.messageId} malformed inside SK: ${(err as Error).message}`);
        return;
      }
      if (!payloads) {
        this.log(3, `response #${header.messageId} failed the integrity check, dropped`);
        return;
      }
    }
    this.pending = undefined;
    this.lastInbound = this.host.now();
    if (this.trace) this.log(5, `   ${describePayloads(payloads)}`);
    if (this.debug) this.log(4, `<- ${exchangeName(header.exchange)} response #${header.messageId}`);
    try {
      p.onResponse(payloads, raw, header);
    } catch (err) {
      this.fail(`handling the ${p.what} response: ${(err as Error).message}`);
      return;
    }
    this.pump();
  }

  private receiveRequest(raw: Buffer, header: IkeHeader, msg: IkeMessage, from: Endpoint, to: Endpoint): void {
    if (this.lastResponse && header.messageId === this.lastResponse.msgId) {
      if (this.debug) this.log(4, `retransmitted request #${header.messageId}, resending our response`);
      this.stats.retransmits++;
      this.transmit(this.lastResponse.data);
      return;
    }
    if (header.messageId !== this.peerMsgId) {
      this.log(3, `request #${header.messageId} outside the window (expected #${this.peerMsgId}), dropped`);
      return;
    }
    let payloads: AnyPayload[] | undefined;
    let parseError: ParseError | undefined;
    try {
      payloads = this.open(raw, msg);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      parseError = err;
    }
    if (!payloads && !parseError) {
      this.log(3, `request #${header.messageId} failed the integrity check, dropped`);
      return;
    }
    this.lastInbound = this.host.now();
    this.stats.requestsIn++;
    // NAT-T (RFC 7296 §2.23): follow the peer to where its requests come from.
    if (this.encap && (from.addr !== this.remote.addr || from.port !== this.remote.port)) {
      this.remote = { ...from };
      this.local = { ...to };
    }
    if (this.debug) this.log(4, `<- ${exchangeName(header.exchange)} request #${header.messageId}`);
    if (this.trace && payloads) this.log(5, `   ${describePayloads(payloads)}`);
    let response: AnyPayload[];
    if (parseError) response = [notifyPayload(parseError.notify, parseError.notifyData)];
    else {
      const handler = requestHandlers.get(header.exchange);
      try {
        response = handler ? handler(this, payloads!) : [notifyPayload(Notify.INVALID_SYNTAX)];
      } catch (err) {
        if (err instanceof IkeNotifyError) {
          // the peer only sees the notify: say here why (a closing SA says it when it closes)
          if (!this.closeAfterResponse) this.log(err.notifyType === Notify.INVALID_KE_PAYLOAD || err.notifyType === Notify.TEMPORARY_FAILURE ? 3 : 2, `${exchangeName(header.exchange)} request refused: ${err.message}`);
          response = [notifyPayload(err.notifyType, err.data)];
        }
        else {
          this.log(1, `internal error handling ${exchangeName(header.exchange)}: ${(err as Error).stack}`);
          response = [notifyPayload(Notify.INVALID_SYNTAX)];
          this.closeAfterResponse ??= `internal error: ${(err as Error).message}`;
        }
      }
    }
    if (this.trace) this.log(5, `   response ${describePayloads(response)}`);
    const data = this.seal(header.exchange, true, header.messageId, response);
    this.lastResponse = { msgId: header.messageId, data: own(data) };
    this.peerMsgId++;
    this.transmit(data);
    if (this.closeAfterResponse) this.close(this.closeAfterResponse, this.state === 'connecting' ? 'failed' : 'closed');
    else this.pump();
  }

  // ---- time ----------------------------------------------------------------

  /** Retransmissions, DPD, rekeying and expiry; the program calls it periodically. */
  tick(now: number): void {
    const p = this.pending;
    if (p && now - p.sentAt >= this.policy.retransmitMs) {
      if (p.retries >= this.policy.maxRetransmit) {
        this.fail(`no response to ${p.what} after ${p.retries} retransmissions`);
        return;
      }
      p.retries++;
      p.sentAt = now;
      this.stats.retransmits++;
      this.log(3, `retransmitting ${p.what} #${p.msgId} (${p.retries}/${this.policy.maxRetransmit})`);
      this.transmit(p.data);
    }
    if (this.state === 'connecting' && !this.initiator && now - this.createdAt > this.policy.retransmitMs * (this.policy.maxRetransmit + 2)) {
      this.close('half-open SA timed out', 'failed');
      return;
    }
    if (this.state !== 'established') return;
    if (this.expireAt && now >= this.expireAt) {
      // tell the peer, so it does not keep an SA we no longer have
      this.expireAt = 0;
      if (this.registry.deleteIke) this.registry.deleteIke(this, 'IKE SA lifetime expired without a rekey');
      else this.close('IKE SA lifetime expired');
      return;
    }
    if (this.rekeyAt && now >= this.rekeyAt && !this.rekeyingIke) {
      this.rekeyAt = 0;
      this.registry.rekeyIke?.(this);
    }
    for (const c of this.children) {
      if (c.expireAt && now >= c.expireAt && c.state !== 'closed' && c.state !== 'deleting') {
        this.log(2, `CHILD SA ${c.id} expired without a rekey`);
        c.expireAt = 0;
        if (this.registry.deleteChild) this.registry.deleteChild(this, c, 'lifetime expired');
        else this.removeChild(c, 'lifetime expired');
        break;
      }
      // not while our IKE rekey is in flight: the CHILD SAs move to the new IKE SA
      if (c.rekeyAt && now >= c.rekeyAt && c.state === 'installed' && !c.rekeyQueued && !this.rekeyingIke) {
        c.rekeyQueued = true;
        this.registry.rekeyChild?.(this, c);
      }
    }
    if (this.policy.dpdMs && !this.pending && !this.queue.length && now - this.lastInbound >= this.policy.dpdMs) {
      this.registry.dpd?.(this);
    }
    this.keepNatMapping(now);
    this.pump();
  }

  /**
   * A NAT keepalive (RFC 3948 §4) when this side is behind a NAT, or says it
   * is (forceEncap), and sent the peer nothing for the interval. Only IKE
   * counts as sent: ESP is the data plane's, so a tunnel carrying traffic
   * still sends one a keepalive interval (a byte every 20 s by default).
   */
  private keepNatMapping(now: number): void {
    const every = this.policy.natKeepaliveMs ?? 0;
    if (!every || !this.encap || !(this.natLocal || this.policy.forceEncap) || now - this.lastOutbound < every || !this.host.keepalive) return;
    this.lastOutbound = now;
    this.stats.keepalivesOut++;
    this.host.keepalive(this.local, this.remote);
  }

  /** When the next tick() would do anything (for a scheduler). */
  lifetimes(now: number, lifetimeMs: number, ownRekey = true): { rekeyAt: number; expireAt: number } {
    if (!lifetimeMs) return { rekeyAt: 0, expireAt: 0 };
    const margin = Math.min(this.policy.marginMs, lifetimeMs / 2);
    const jitter = this.policy.jitter ? this.host.random(2).readUInt16BE(0) / 65536 * margin * 0.5 : 0;
    // The responder of the SA rekeys a little later than the initiator, so the two rarely collide.
    const later = ownRekey && !this.initiator ? margin * 0.25 : 0;
    return { rekeyAt: now + lifetimeMs - margin - jitter + later, expireAt: now + lifetimeMs + margin };
  }

  // ---- ending --------------------------------------------------------------

  close(reason: string, state: IkeState = 'closed'): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    for (const c of [...this.children]) this.removeChild(c, reason);
    this.pending = undefined;
    this.queue = [];
    this.lastError = state === 'failed' ? reason : this.lastError;
    this.registry.unregister(this);
    this.log(state === 'failed' ? 2 : 3, `${state}: ${reason}`);
    this.setState(state, reason);
    if (this.onAuthDone) {
      const cb = this.onAuthDone;
      this.onAuthDone = undefined;
      cb(false, reason);
    }
  }

  fail(reason: string): void {
    this.close(reason, 'failed');
  }
}

export interface SaRegistry {
  deleteIke?(sa: IkeSa, reason: string): void;
  deleteChild?(sa: IkeSa, c: ChildSa, reason: string): void;
  rekeyIke?(sa: IkeSa): void;
  rekeyChild?(sa: IkeSa, c: ChildSa): void;
  dpd?(sa: IkeSa): void;
}

export function notifyPayload(notifyType: number, data: Buffer = Buffer.alloc(0), protocol = 0, spi: Buffer = Buffer.alloc(0)): NotifyPayload {
  return { type: PayloadType.NOTIFY, protocol, spi, notifyType, data };
}

export const IKE_PROTOCOL = ProtocolId.IKE;
