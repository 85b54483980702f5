// The algorithms we implement, by setup-file name and by IANA transform ID,
// with what the key schedule and the SK payload need to know about them.
import { Encr, Integ, Prf } from '../constants.js';

export interface EncrAlg {
  name: string; // setup-file name, e.g. 'aes-cbc:128'
  id: number;
  keyBits: number;
  aead: boolean;
  /** Bytes of keying material: the key, plus the 4-byte salt for GCM (RFC 5282 §7). */
  keyMatLen: number;
  ivLen: number;
  blockLen: number;
  icvLen: number; // AEAD tag length, 0 for CBC
}

export interface IntegAlg {
  name: string; // 'sha256' …
  id: number;
  hash: string; // node:crypto name
  keyLen: number;
  icvLen: number;
}

export interface PrfAlg {
  name: string;
  id: number;
  hash: string;
  keyLen: number; // preferred key length (= output length for HMAC)
  outLen: number;
}

export const ENCR: EncrAlg[] = [128, 256].flatMap((bits) => [
  { name: `aes-cbc:${bits}`, id: Encr.AES_CBC, keyBits: bits, aead: false, keyMatLen: bits / 8, ivLen: 16, blockLen: 16, icvLen: 0 },
  { name: `aes-gcm16:${bits}`, id: Encr.AES_GCM_16, keyBits: bits, aead: true, keyMatLen: bits / 8 + 4, ivLen: 8, blockLen: 1, icvLen: 16 },
]);

export const INTEG: IntegAlg[] = [
  { name: 'sha1', id: Integ.HMAC_SHA1_96, hash: 'sha1', keyLen: 20, icvLen: 12 },
  { name: 'sha256', id: Integ.HMAC_SHA2_256_128, hash: 'sha256', keyLen: 32, icvLen: 16 },
  { name: 'sha384', id: Integ.HMAC_SHA2_384_192, hash: 'sha384', keyLen: 48, icvLen: 24 },
  { name: 'sha512', id: Integ.HMAC_SHA2_512_256, hash: 'sha512', keyLen: 64, icvLen: 32 },
];

export const PRF: PrfAlg[] = [
  { name: 'sha1', id: Prf.HMAC_SHA1, hash: 'sha1', keyLen: 20, outLen: 20 },
  { name: 'sha256', id: Prf.HMAC_SHA2_256, hash: 'sha256', keyLen: 32, outLen: 32 },
  { name: 'sha384', id: Prf.HMAC_SHA2_384, hash: 'sha384', keyLen: 48, outLen: 48 },
  { name: 'sha512', id: Prf.HMAC_SHA2_512, hash: 'sha512', keyLen: 64, outLen: 64 },
];

export function encrByName(name: string): EncrAlg {
  const a = ENCR.find((e) => e.name === name);
  if (!a) throw new Error(`encryption algorithm ${name} not supported`);
  return a;
}
export function encrById(id: number, keyBits: number | undefined): EncrAlg | undefined {
  return ENCR.find((e) => e.id === id && e.keyBits === keyBits);
}
export function integByName(name: string): IntegAlg {
  const a = INTEG.find((e) => e.name === name);
  if (!a) throw new Error(`integrity algorithm ${name} not supported`);
  return a;
}
export const integById = (id: number) => INTEG.find((e) => e.id === id);
export function prfByName(name: string): PrfAlg {
  const a = PRF.find((e) => e.name === name);
  if (!a) throw new Error(`PRF ${name} not supported`);
  return a;
}
export const prfById = (id: number) => PRF.find((e) => e.id === id);
