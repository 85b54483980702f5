// Shared pieces of the payload codecs: the payload union, the codec shape of
// the table in message.ts, and bounds-checked reading that throws ParseError
// (caught by the message parser, so malformed input never escapes as a crash).

export class ParseError extends Error {
  /** Notify type to answer with, when the RFC says to answer. */
  constructor(message: string, readonly notify = 7 /* INVALID_SYNTAX */, readonly notifyData?: Buffer) {
    super(message);
    this.name = 'ParseError';
  }
}

export function need(buf: Buffer, len: number, what: string): void {
  if (buf.length < len) throw new ParseError(`${what}: ${buf.length} bytes, need ${len}`);
}

export interface PayloadCodec<P> {
  type: number | number[];
  name: string;
  decode(body: Buffer, type: number): P;
  encode(p: P): Buffer;
}

export interface Transform {
  type: number;
  id: number;
  keyLength?: number;
  /** Attributes other than the key length, kept so encode(decode(x)) is identical. */
  otherAttrs?: { type: number; value: Buffer; tv: boolean }[];
}

export interface Proposal {
  num: number;
  protocol: number;
  spi: Buffer;
  transforms: Transform[];
}

export interface TrafficSelector {
  tsType: number; // 7 IPv4, 8 IPv6
  protocol: number;
  startPort: number;
  endPort: number;
  startAddr: Buffer;
  endAddr: Buffer;
}

export interface CpAttribute {
  type: number;
  value: Buffer;
}

interface Base {
  critical?: boolean;
}

export type SaPayload = Base & { type: 33; proposals: Proposal[] };
export type KePayload = Base & { type: 34; group: number; data: Buffer };
export type IdPayload = Base & { type: 35 | 36; idType: number; data: Buffer };
export type AuthPayload = Base & { type: 39; method: number; data: Buffer };
export type NoncePayload = Base & { type: 40; data: Buffer };
export type NotifyPayload = Base & { type: 41; protocol: number; spi: Buffer; notifyType: number; data: Buffer };
export type DeletePayload = Base & { type: 42; protocol: number; spiSize: number; spis: Buffer[] };
export type VendorPayload = Base & { type: 43; data: Buffer };
export type TsPayload = Base & { type: 44 | 45; selectors: TrafficSelector[] };
/** The encrypted payload as it is on the wire; crypto/sk.ts opens and seals it. */
export type SkPayload = Base & { type: 46; firstInner: number; body: Buffer };
export type CpPayload = Base & { type: 47; cfgType: number; attrs: CpAttribute[] };
/** A payload type we do not handle, kept raw (skipped unless critical). */
export type UnknownPayload = Base & { type: number; unknown: true; body: Buffer };

export type Payload =
  | SaPayload
  | KePayload
  | IdPayload
  | AuthPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorPayload
  | TsPayload
  | SkPayload
  | CpPayload;

export type AnyPayload = Payload | UnknownPayload;
