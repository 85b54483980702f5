// PRF and prf+ (RFC 7296 §2.13) on HMAC from node:crypto.
import { createHmac } from 'node:crypto';
import type { PrfAlg } from './algorithms.js';

export function prf(alg: PrfAlg, key: Buffer, data: Buffer): Buffer {
  return createHmac(alg.hash, key).update(data).digest();
}

/** prf+ (K,S) = T1 | T2 | …, Tn = prf(K, Tn-1 | S | n), cut to `len` bytes. */
export function prfPlus(alg: PrfAlg, key: Buffer, seed: Buffer, len: number): Buffer {
  if (len > 255 * alg.outLen) throw new Error(`prf+ cannot produce ${len} bytes`);
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  let total = 0;
  for (let n = 1; total < len; n++) {
    t = createHmac(alg.hash, key).update(t).update(seed).update(Buffer.from([n])).digest();
    out.push(t);
    total += t.length;
  }
  return Buffer.concat(out).subarray(0, len);
}
