// IKEv2 message codec (RFC 7296 §3.1–3.2): header plus a chain of payloads,
// each decoded by the codec registered for its type in the table below.
// Unknown payloads are kept raw (skipped by the exchanges) unless critical.
import { HEADER_LEN, IKE_VERSION, Notify, PayloadType } from './constants.js';
import { ParseError, type AnyPayload, type PayloadCodec, type Payload } from './payloads/codec.js';
import { saCodec } from './payloads/sa.js';
import { keCodec } from './payloads/ke.js';
import { idCodec } from './payloads/id.js';
import { authCodec } from './payloads/auth.js';
import { nonceCodec } from './payloads/nonce.js';
import { notifyCodec } from './payloads/notify.js';
import { deleteCodec } from './payloads/delete.js';
import { vendorCodec } from './payloads/vendor.js';
import { tsCodec } from './payloads/ts.js';
import { skCodec } from './payloads/sk.js';
import { cpCodec } from './payloads/cp.js';

const CODECS = new Map<number, PayloadCodec<Payload>>();
for (const c of [saCodec, keCodec, idCodec, authCodec, nonceCodec, notifyCodec, deleteCodec, vendorCodec, tsCodec, skCodec, cpCodec] as PayloadCodec<Payload>[]) {
  for (const t of Array.isArray(c.type) ? c.type : [c.type]) CODECS.set(t, c);
}

export function payloadName(type: number): string {
  if (type === PayloadType.IDi) return 'IDi';
  if (type === PayloadType.IDr) return 'IDr';
  if (type === PayloadType.TSi) return 'TSi';
  if (type === PayloadType.TSr) return 'TSr';
  return CODECS.get(type)?.name ?? `PAYLOAD_${type}`;
}

export interface IkeHeader {
  spiI: Buffer; // 8 bytes
  spiR: Buffer; // 8 bytes
  firstPayload: number;
  exchange: number;
  flags: number;
  messageId: number;
  length: number;
}

export interface IkeMessage {
  spiI: Buffer;
  spiR: Buffer;
  exchange: number;
  flags: number;
  messageId: number;
  payloads: AnyPayload[];
}

export type DecodeResult =
  | { ok: true; msg: IkeMessage }
  | { ok: false; header?: IkeHeader; error: string; notify: number; notifyData?: Buffer };

export function decodeHeader(buf: Buffer): IkeHeader | undefined {
  if (buf.length < HEADER_LEN) return undefined;
  return {
    spiI: buf.subarray(0, 8),
    spiR: buf.subarray(8, 16),
    firstPayload: buf[16],
    exchange: buf[18],
    flags: buf[19],
    messageId: buf.readUInt32BE(20),
    length: buf.readUInt32BE(24),
  };
}

/** Decodes a payload chain; an SK payload must be last and ends the chain. */
export function decodeChain(first: number, buf: Buffer): AnyPayload[] {
  const out: AnyPayload[] = [];
  let type = first;
  let off = 0;
  while (type !== PayloadType.NONE) {
    if (buf.length - off < 4) throw new ParseError(`truncated ${payloadName(type)} payload header`);
    const next = buf[off];
    const critical = (buf[off + 1] & 0x80) !== 0;
    const len = buf.readUInt16BE(off + 2);
    if (len < 4 || off + len > buf.length) throw new ParseError(`${payloadName(type)} payload length ${len} out of range`);
    const body = buf.subarray(off + 4, off + len);
    const codec = CODECS.get(type);
    if (!codec) {
      if (critical) throw new ParseError(`unsupported critical payload ${type}`, Notify.UNSUPPORTED_CRITICAL_PAYLOAD, Buffer.from([type]));
      out.push({ type, unknown: true, critical, body: Buffer.from(body) });
    } else {
      const p = codec.decode(body, type) as AnyPayload;
      if (critical) p.critical = true;
      if (type === PayloadType.SK) {
        (p as { firstInner: number }).firstInner = next;
        out.push(p);
        if (off + len !== buf.length) throw new ParseError('bytes after the SK payload');
        return out;
      }
      out.push(p);
    }
    off += len;
    type = next;
  }
  if (off !== buf.length) throw new ParseError(`${buf.length - off} bytes after the last payload`);
  return out;
}

export function encodeChain(payloads: AnyPayload[]): Buffer {
  const parts: Buffer[] = [];
  payloads.forEach((p, i) => {
    const body = 'unknown' in p ? p.body : CODECS.get(p.type)!.encode(p as Payload);
    const h = Buffer.alloc(4);
    h[0] = p.type === PayloadType.SK ? (p as { firstInner: number }).firstInner : (payloads[i + 1]?.type ?? 0);
    h[1] = p.critical ? 0x80 : 0;
    h.writeUInt16BE(4 + body.length, 2);
    parts.push(h, body);
  });
  return Buffer.concat(parts);
}

export function encodeHeader(m: Omit<IkeMessage, 'payloads'>, firstPayload: number, totalLength: number): Buffer {
  const h = Buffer.alloc(HEADER_LEN);
  m.spiI.copy(h, 0);
  m.spiR.copy(h, 8);
  h[16] = firstPayload;
  h[17] = IKE_VERSION;
  h[18] = m.exchange;
  h[19] = m.flags;
  h.writeUInt32BE(m.messageId >>> 0, 20);
  h.writeUInt32BE(totalLength, 24);
  return h;
}

export function encodeMessage(m: IkeMessage): Buffer {
  const chain = encodeChain(m.payloads);
  return Buffer.concat([encodeHeader(m, m.payloads[0]?.type ?? 0, HEADER_LEN + chain.length), chain]);
}

/** Never throws: malformed input comes back as { ok: false } with the notify to answer with. */
export function decodeMessage(buf: Buffer): DecodeResult {
  const header = decodeHeader(buf);
  if (!header) return { ok: false, error: `datagram of ${buf.length} bytes is shorter than an IKE header`, notify: Notify.INVALID_SYNTAX };
  if (buf[17] >> 4 !== 2) return { ok: false, header, error: `IKE major version ${buf[17] >> 4}`, notify: Notify.INVALID_MAJOR_VERSION };
  if (header.length !== buf.length) return { ok: false, header, error: `header length ${header.length} but datagram of ${buf.length} bytes`, notify: Notify.INVALID_SYNTAX };
  try {
    const payloads = decodeChain(header.firstPayload, buf.subarray(HEADER_LEN));
    return {
      ok: true,
      msg: {
        spiI: Buffer.from(header.spiI),
        spiR: Buffer.from(header.spiR),
        exchange: header.exchange,
        flags: header.flags,
        messageId: header.messageId,
        payloads,
      },
    };
  } catch (err) {
    const e = err instanceof ParseError ? err : new ParseError(String((err as Error)?.message ?? err));
    return { ok: false, header, error: e.message, notify: e.notify, notifyData: e.notifyData };
  }
}
