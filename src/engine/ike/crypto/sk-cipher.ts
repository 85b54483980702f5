// Sealing and opening the encrypted payload SK (RFC 7296 §3.14; AES-GCM per
// RFC 5282: 8-byte IV, nonce = 4-byte salt | IV, AAD = IKE header through the
// SK payload header, 16-byte ICV).
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { EncrAlg, IntegAlg } from './algorithms.js';

export interface SkKeys {
  encr: EncrAlg;
  integ?: IntegAlg;
  encKey: Buffer; // for GCM: key | salt
  integKey: Buffer;
}

function cbcName(encr: EncrAlg) {
  return `aes-${encr.keyBits}-cbc`;
}
function gcmName(encr: EncrAlg) {
  return `aes-${encr.keyBits}-gcm`;
}

/** Bytes the SK payload body will have for a plaintext of `len` bytes. */
export function sealedLength(k: SkKeys, len: number): number {
  const padded = k.encr.aead ? len + 1 : Math.ceil((len + 1) / k.encr.blockLen) * k.encr.blockLen;
  return k.encr.ivLen + padded + (k.encr.aead ? k.encr.icvLen : k.integ!.icvLen);
}

/**
 * Returns the SK payload body (IV | ciphertext | ICV). `aadHead` is the IKE
 * header plus the SK generic payload header, already carrying the final lengths.
 */
export function sealSk(k: SkKeys, plaintext: Buffer, aadHead: Buffer, iv: Buffer): Buffer {
  const { encr } = k;
  const padLen = encr.aead ? 0 : (encr.blockLen - ((plaintext.length + 1) % encr.blockLen)) % encr.blockLen;
  const padded = Buffer.concat([plaintext, Buffer.alloc(padLen), Buffer.from([padLen])]);
  if (encr.aead) {
    const key = k.encKey.subarray(0, encr.keyBits / 8);
    const salt = k.encKey.subarray(encr.keyBits / 8);
    const c = createCipheriv(gcmName(encr) as 'aes-128-gcm', key, Buffer.concat([salt, iv]), { authTagLength: 16 });
    c.setAAD(aadHead);
    const ct = Buffer.concat([c.update(padded), c.final()]);
    return Buffer.concat([iv, ct, c.getAuthTag()]);
  }
  const c = createCipheriv(cbcName(encr), k.encKey, iv);
  c.setAutoPadding(false);
  const ct = Buffer.concat([c.update(padded), c.final()]);
  const body = Buffer.concat([iv, ct]);
  const icv = createHmac(k.integ!.hash, k.integKey).update(aadHead).update(body).digest().subarray(0, k.integ!.icvLen);
  return Buffer.concat([body, icv]);
}

/**
 * Opens an SK payload body; `aadHead` = the received IKE header and SK
 * generic header. Returns the inner plaintext (padding removed) or undefined
 * when the ICV does not verify or the lengths are wrong.
 */
export function openSk(k: SkKeys, body: Buffer, aadHead: Buffer): Buffer | undefined {
  const { encr } = k;
  const icvLen = encr.aead ? encr.icvLen : k.integ!.icvLen;
  const ctLen = body.length - encr.ivLen - icvLen;
  if (ctLen <= 0 || (!encr.aead && ctLen % encr.blockLen !== 0)) return undefined;
  const iv = body.subarray(0, encr.ivLen);
  const ct = body.subarray(encr.ivLen, encr.ivLen + ctLen);
  const icv = body.subarray(encr.ivLen + ctLen);
  let padded: Buffer;
  try {
    if (encr.aead) {
      const key = k.encKey.subarray(0, encr.keyBits / 8);
      const salt = k.encKey.subarray(encr.keyBits / 8);
      const d = createDecipheriv(gcmName(encr) as 'aes-128-gcm', key, Buffer.concat([salt, iv]), { authTagLength: 16 });
      d.setAAD(aadHead);
      d.setAuthTag(icv);
      padded = Buffer.concat([d.update(ct), d.final()]);
    } else {
      const mac = createHmac(k.integ!.hash, k.integKey)
        .update(aadHead)
        .update(body.subarray(0, encr.ivLen + ctLen))
        .digest()
        .subarray(0, icvLen);
      if (!timingSafeEqual(mac, icv)) return undefined;
      const d = createDecipheriv(cbcName(encr), k.encKey, iv);
      d.setAutoPadding(false);
      padded = Buffer.concat([d.update(ct), d.final()]);
    }
  } catch {
    return undefined;
  }
  const padLen = padded[padded.length - 1];
  if (padLen + 1 > padded.length) return undefined;
  return padded.subarray(0, padded.length - 1 - padLen);
}
