// One direction of one ESP SA (RFC 4303), with the transforms of RFC 4303
// (AES-CBC + HMAC, RFC 3602 / 2404 / 4868) and RFC 4106 (AES-GCM, 16-byte
// ICV). Pure: packets in, packets out; randomness for CBC IVs injected.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { ChildSaKeys, EspEncr, EspInteg } from '../child-sa.js';
import { ReplayWindow } from './replay-window.js';

const TWO32 = 0x1_0000_0000;

/** Plaintext assembly area shared by all SAs (protect() is synchronous), not 2 KB per SA. */
let scratch = Buffer.alloc(2048);
/** GCM nonce (salt || IV) and AAD, likewise shared: filled per packet. */
const NONCE = Buffer.alloc(12);
const AAD = Buffer.alloc(8);
const AAD_ESN = Buffer.alloc(12);

export type DropReason =
  | 'unknown-spi'
  | 'malformed'
  | 'replay'
  | 'auth'
  | 'padding'
  | 'ts-mismatch'
  | 'seq-exhausted'
  | 'no-sa';

export const DROP_REASONS: DropReason[] = ['unknown-spi', 'malformed', 'replay', 'auth', 'padding', 'ts-mismatch', 'seq-exhausted', 'no-sa'];

interface Suite {
  aead: boolean;
  cipher: string; // OpenSSL name
  keyLen: number; // bytes, without salt
  ivLen: number;
  block: number; // ciphertext alignment
  icvLen: number;
  hmac?: string;
  hmacKeyLen?: number;
}

const INTEG: Record<Exclude<EspInteg, 'none'>, { hash: string; keyLen: number; icvLen: number }> = {
  'sha1-96': { hash: 'sha1', keyLen: 20, icvLen: 12 },
  'sha256-128': { hash: 'sha256', keyLen: 32, icvLen: 16 },
  'sha384-192': { hash: 'sha384', keyLen: 48, icvLen: 24 },
  'sha512-256': { hash: 'sha512', keyLen: 64, icvLen: 32 },
};

export function suiteOf(encr: EspEncr, integ: EspInteg): Suite {
  const keyLen = encr.keyBits / 8;
  if (encr.name === 'aes-gcm16') {
    if (integ !== 'none') throw new Error(`aes-gcm16 takes no separate integrity algorithm (got ${integ})`);
    return { aead: true, cipher: `aes-${encr.keyBits}-gcm`, keyLen, ivLen: 8, block: 4, icvLen: 16 };
  }
  if (integ === 'none') throw new Error('aes-cbc needs an integrity algorithm');
  const i = INTEG[integ];
  return { aead: false, cipher: `aes-${encr.keyBits}-cbc`, keyLen, ivLen: 16, block: 16, icvLen: i.icvLen, hmac: i.hash, hmacKeyLen: i.keyLen };
}

/** Expected key-material lengths (bytes) for a suite: [encryption incl. salt, integrity]. */
export function keyLengths(encr: EspEncr, integ: EspInteg): [number, number] {
  const s = suiteOf(encr, integ);
  return [s.keyLen + (s.aead ? 4 : 0), s.hmacKeyLen ?? 0];
}

class SaCrypto {
  readonly suite: Suite;
  readonly encKey: KeyObject;
  readonly salt: Buffer;
  readonly integKey?: KeyObject;
  protected readonly nonce = NONCE;
  protected readonly aad: Buffer;

  constructor(readonly spi: number, encr: EspEncr, integ: EspInteg, encKey: Buffer, integKey: Buffer, readonly esn: boolean) {
    this.suite = suiteOf(encr, integ);
    const [encLen, integLen] = keyLengths(encr, integ);
    if (encKey.length !== encLen) throw new Error(`ESP encryption key must be ${encLen} bytes, got ${encKey.length}`);
    if (integKey.length !== integLen) throw new Error(`ESP integrity key must be ${integLen} bytes, got ${integKey.length}`);
    this.encKey = createSecretKey(encKey.subarray(0, this.suite.keyLen));
    this.salt = Buffer.from(encKey.subarray(this.suite.keyLen));
    if (!this.suite.aead) this.integKey = createSecretKey(integKey);
    this.aad = esn ? AAD_ESN : AAD;
  }

  /** AAD for GCM: SPI || seq, or SPI || seq-high || seq-low with ESN (RFC 4106 §5). */
  protected fillAad(seq: number): Buffer {
    this.aad.writeUInt32BE(this.spi, 0);
    if (this.esn) {
      this.aad.writeUInt32BE(Math.floor(seq / TWO32), 4);
      this.aad.writeUInt32BE(seq % TWO32, 8);
    } else {
      this.aad.writeUInt32BE(seq % TWO32, 4);
    }
    return this.aad;
  }

  /** ICV for CBC: HMAC over SPI..ciphertext, plus seq-high with ESN (RFC 4303 §3.3.2.1). */
  protected hmacIcv(pkt: Buffer, end: number, seq: number): Buffer {
    const h = createHmac(this.suite.hmac!, this.integKey!);
    h.update(pkt.subarray(0, end));
    if (this.esn) {
      const hi = this.aad.subarray(0, 4);
      hi.writeUInt32BE(Math.floor(seq / TWO32), 0);
      h.update(hi);
    }
    return h.digest();
  }
}

export class OutboundSa extends SaCrypto {
  /** Last sequence number sent (64-bit value kept as a JS number). */
  seq = 0;
  packets = 0;
  bytes = 0;

  constructor(keys: ChildSaKeys, private readonly random: (b: Buffer) => void) {
    super(keys.spiOut, keys.encr, keys.integ, keys.encKeyOut, keys.integKeyOut, keys.esn);
  }

  /**
   * Protects `payload` (an inner IP packet in tunnel mode, the upper-layer
   * payload in transport mode) and returns the ESP packet (SPI first), or
   * undefined when the sequence number space is exhausted (rekey needed).
   */
  protect(payload: Buffer, nextHeader: number): Buffer | undefined {
    const s = this.suite;
    const limit = this.esn ? Number.MAX_SAFE_INTEGER : TWO32 - 1;
    if (this.seq >= limit) return undefined;
    const seq = ++this.seq;
    const padLen = (s.block - ((payload.length + 2) % s.block)) % s.block;
    const ptLen = payload.length + padLen + 2;
    if (scratch.length < ptLen) scratch = Buffer.alloc(ptLen * 2);
    const pt = scratch;
    payload.copy(pt, 0);
    for (let i = 1; i <= padLen; i++) pt[payload.length + i - 1] = i; // RFC 4303 §2.4: 1, 2, 3, ...
    pt[ptLen - 2] = padLen;
    pt[ptLen - 1] = nextHeader;

    const hdr = 8 + s.ivLen;
    const pkt = Buffer.allocUnsafe(hdr + ptLen + s.icvLen);
    pkt.writeUInt32BE(this.spi, 0);
    pkt.writeUInt32BE(seq % TWO32, 4);
    if (s.aead) {
      // The IV only has to be unique per key: the 64-bit sequence number is.
      pkt.writeUInt32BE(Math.floor(seq / TWO32), 8);
      pkt.writeUInt32BE(seq % TWO32, 12);
      this.salt.copy(this.nonce, 0);
      pkt.copy(this.nonce, 4, 8, 16);
      const c = createCipheriv(s.cipher as 'aes-128-gcm', this.encKey, this.nonce, { authTagLength: 16 });
      c.setAAD(this.fillAad(seq));
      c.update(pt.subarray(0, ptLen)).copy(pkt, hdr);
      c.final();
      c.getAuthTag().copy(pkt, hdr + ptLen);
    } else {
      const iv = pkt.subarray(8, hdr);
      this.random(iv);
      const c = createCipheriv(s.cipher, this.encKey, iv).setAutoPadding(false);
      c.update(pt.subarray(0, ptLen)).copy(pkt, hdr);
      c.final();
      this.hmacIcv(pkt, hdr + ptLen, seq).copy(pkt, hdr + ptLen, 0, s.icvLen);
    }
    this.packets++;
    this.bytes += payload.length;
    return pkt;
  }
}

export interface Unprotected {
  payload: Buffer; // plaintext without padding and trailer
  nextHeader: number;
  seq: number;
}

export class InboundSa extends SaCrypto {
  readonly window: ReplayWindow;
  packets = 0;
  bytes = 0;

  constructor(keys: ChildSaKeys) {
    super(keys.spiIn, keys.encr, keys.integ, keys.encKeyIn, keys.integKeyIn, keys.esn);
    this.window = new ReplayWindow(keys.replayWindow);
  }

  /** Full 64-bit sequence number for a received low half (RFC 4303 Appendix A2.2). */
  private fullSeq(low: number): number {
    if (!this.esn) return low;
    const top = this.window.top;
    const w = this.window.size > 0 ? this.window.size : 0x4000_0000; // no anti-replay: a wide notional window
    const bottom = Math.max(top - w + 1, 0);
    const th = Math.floor(top / TWO32);
    const bl = bottom % TWO32;
    if (Math.floor(bottom / TWO32) === th) return (low >= bl ? th : th + 1) * TWO32 + low;
    return (low >= bl ? th - 1 : th) * TWO32 + low;
  }

  /** Checks and decrypts one ESP packet (SPI first); returns the plaintext or a drop reason. */
  unprotect(pkt: Buffer): Unprotected | DropReason {
    const s = this.suite;
    const hdr = 8 + s.ivLen;
    const ctLen = pkt.length - hdr - s.icvLen;
    if (ctLen < s.block || ctLen % s.block !== 0) return 'malformed';
    const seq = this.fullSeq(pkt.readUInt32BE(4));
    if (seq === 0) return 'replay'; // the first packet of an SA carries 1 (RFC 4303 §3.3.3)
    if (!this.window.check(seq)) return 'replay';

    let pt: Buffer;
    if (s.aead) {
      this.salt.copy(this.nonce, 0);
      pkt.copy(this.nonce, 4, 8, 16);
      const d = createDecipheriv(s.cipher as 'aes-128-gcm', this.encKey, this.nonce, { authTagLength: 16 });
      d.setAAD(this.fillAad(seq));
      d.setAuthTag(pkt.subarray(hdr + ctLen));
      pt = d.update(pkt.subarray(hdr, hdr + ctLen));
      try {
        d.final();
      } catch {
        return 'auth';
      }
    } else {
      const icv = this.hmacIcv(pkt, hdr + ctLen, seq);
      if (!timingSafeEqual(icv.subarray(0, s.icvLen), pkt.subarray(hdr + ctLen))) return 'auth';
      const d = createDecipheriv(s.cipher, this.encKey, pkt.subarray(8, hdr)).setAutoPadding(false);
      pt = d.update(pkt.subarray(hdr, hdr + ctLen));
      d.final();
    }
    const padLen = pt[ctLen - 2];
    const nextHeader = pt[ctLen - 1];
    const end = ctLen - 2 - padLen;
    if (end < 0) return 'padding';
    for (let i = 0; i < padLen; i++) if (pt[end + i] !== i + 1) return 'padding';
    this.window.accept(seq);
    this.packets++;
    this.bytes += end;
    return { payload: pt.subarray(0, end), nextHeader, seq };
  }
}
