// Key schedule (RFC 7296 §2.14, §2.17, §2.18) and PSK authentication (§2.15).
import type { EncrAlg, IntegAlg, PrfAlg } from './algorithms.js';
import { prf, prfPlus } from './prf.js';

export interface IkeSuite {
  encr: EncrAlg;
  integ?: IntegAlg; // absent for AEAD
  prf: PrfAlg;
  dhGroup: number;
}

export interface IkeKeys {
  skD: Buffer;
  skAi: Buffer;
  skAr: Buffer;
  skEi: Buffer;
  skEr: Buffer;
  skPi: Buffer;
  skPr: Buffer;
}

/**
 * SKEYSEED = prf(Ni | Nr, g^ir) for a new IKE SA, or prf(SK_d(old), g^ir | Ni | Nr)
 * for a rekeyed one; then the seven keys from prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
 */
export function deriveIkeKeys(
  suite: IkeSuite,
  sharedSecret: Buffer,
  ni: Buffer,
  nr: Buffer,
  spiI: Buffer,
  spiR: Buffer,
  oldSkD?: { prf: PrfAlg; key: Buffer },
): { skeyseed: Buffer; keys: IkeKeys } {
  const skeyseed = oldSkD
    ? prf(oldSkD.prf, oldSkD.key, Buffer.concat([sharedSecret, ni, nr]))
    : prf(suite.prf, Buffer.concat([ni, nr]), sharedSecret);
  const integLen = suite.integ?.keyLen ?? 0;
  const encLen = suite.encr.keyMatLen;
  const pLen = suite.prf.keyLen;
  const total = pLen * 3 + integLen * 2 + encLen * 2;
  const km = prfPlus(suite.prf, skeyseed, Buffer.concat([ni, nr, spiI, spiR]), total);
  let off = 0;
  const take = (n: number) => km.subarray(off, (off += n));
  const keys: IkeKeys = {
    skD: take(pLen),
    skAi: take(integLen),
    skAr: take(integLen),
    skEi: take(encLen),
    skEr: take(encLen),
    skPi: take(pLen),
    skPr: take(pLen),
  };
  return { skeyseed, keys };
}

export interface ChildKeyMat {
  encI: Buffer; // initiator → responder
  integI: Buffer;
  encR: Buffer; // responder → initiator
  integR: Buffer;
}

/** KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), split encr/integ for i→r then r→i. */
export function deriveChildKeys(
  prfAlg: PrfAlg,
  skD: Buffer,
  ni: Buffer,
  nr: Buffer,
  encLen: number,
  integLen: number,
  pfsSecret?: Buffer,
): ChildKeyMat {
  const seed = Buffer.concat(pfsSecret ? [pfsSecret, ni, nr] : [ni, nr]);
  const km = prfPlus(prfAlg, skD, seed, 2 * (encLen + integLen));
  let off = 0;
  const take = (n: number) => km.subarray(off, (off += n));
  return { encI: take(encLen), integI: take(integLen), encR: take(encLen), integR: take(integLen) };
}

const KEY_PAD = Buffer.from('Key Pad for IKEv2');

/**
 * AUTH for a shared key: prf(prf(PSK, "Key Pad for IKEv2"), <signed octets>),
 * signed octets = the sender's first message | peer's nonce | prf(SK_p, ID body).
 */
export function pskAuth(prfAlg: PrfAlg, psk: Buffer, firstMessage: Buffer, peerNonce: Buffer, skP: Buffer, idBody: Buffer): Buffer {
  const macedId = prf(prfAlg, skP, idBody);
  return prf(prfAlg, paddedPsk(prfAlg, psk), Buffer.concat([firstMessage, peerNonce, macedId]));
}

// prf(PSK, "Key Pad for IKEv2") is the same for every SA of a policy: computed once per PSK and PRF.
const PADDED = new WeakMap<Buffer, Map<string, Buffer>>();

function paddedPsk(prfAlg: PrfAlg, psk: Buffer): Buffer {
  let m = PADDED.get(psk);
  if (!m) PADDED.set(psk, (m = new Map()));
  let v = m.get(prfAlg.name);
  if (!v) m.set(prfAlg.name, (v = prf(prfAlg, psk, KEY_PAD)));
  return v;
}
