// Diffie-Hellman groups 14/15/16 (MODP, RFC 3526), 19/20/21 (ECP, RFC 5903)
// and 31 (Curve25519, RFC 8031), all from node:crypto, with the public-value
// checks the RFCs ask for. A failed check throws DhError (answered with
// INVALID_SYNTAX by the exchanges).
import { createECDH, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, getDiffieHellman, type KeyObject } from 'node:crypto';

export class DhError extends Error {}

export interface DhKey {
  group: number;
  publicValue: Buffer;
  /** The shared secret with the peer's public value (throws DhError if it is invalid). */
  compute(peer: Buffer): Buffer;
}

const MODP: Record<number, string> = { 14: 'modp14', 15: 'modp15', 16: 'modp16' };
const ECP: Record<number, { curve: string; len: number }> = {
  19: { curve: 'prime256v1', len: 32 },
  20: { curve: 'secp384r1', len: 48 },
  21: { curve: 'secp521r1', len: 66 },
};
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export const DH_GROUPS = [14, 15, 16, 19, 20, 21, 31];

/** Length of the KE payload data for a group. */
export function publicValueLength(group: number): number {
  if (MODP[group]) return { 14: 256, 15: 384, 16: 512 }[group]!;
  if (ECP[group]) return ECP[group].len * 2;
  if (group === 31) return 32;
  throw new DhError(`DH group ${group} not supported`);
}

function leftPad(b: Buffer, len: number): Buffer {
  if (b.length >= len) return b;
  return Buffer.concat([Buffer.alloc(len - b.length), b]);
}

function modpKey(group: number): DhKey {
  const dh = getDiffieHellman(MODP[group]);
  dh.generateKeys();
  const prime = dh.getPrime();
  const p = BigInt('0x' + prime.toString('hex'));
  return {
    group,
    publicValue: leftPad(dh.getPublicKey(), prime.length),
    compute(peer) {
      if (peer.length !== prime.length) throw new DhError(`MODP public value of ${peer.length} bytes, expected ${prime.length}`);
      const y = BigInt('0x' + peer.toString('hex'));
      // RFC 6989 §2.1: 1 < y < p-1
      if (y <= 1n || y >= p - 1n) throw new DhError('MODP public value out of range');
      return leftPad(dh.computeSecret(peer), prime.length);
    },
  };
}

function ecpKey(group: number, priv?: Buffer): DhKey {
  const { curve, len } = ECP[group];
  const ecdh = createECDH(curve);
  let pub: Buffer;
  if (priv) {
    ecdh.setPrivateKey(priv);
    pub = ecdh.getPublicKey();
  } else pub = ecdh.generateKeys();
  return {
    group,
    publicValue: pub.subarray(1), // RFC 5903: x | y without the 0x04 prefix
    compute(peer) {
      if (peer.length !== len * 2) throw new DhError(`ECP public value of ${peer.length} bytes, expected ${len * 2}`);
      try {
        // computeSecret checks that the point is on the curve (RFC 6989 §2.3)
        return leftPad(ecdh.computeSecret(Buffer.concat([Buffer.from([4]), peer])), len);
      } catch (err) {
        throw new DhError(`invalid ECP public value: ${(err as Error).message}`);
      }
    },
  };
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function x25519Key(priv?: Buffer): DhKey {
  const { privateKey, publicKey } = priv
    ? (() => {
        const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, priv]), format: 'der', type: 'pkcs8' });
        return { privateKey, publicKey: createPublicKey(privateKey) };
      })()
    : generateKeyPairSync('x25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return {
    group: 31,
    publicValue: Buffer.from(der.subarray(der.length - 32)),
    compute(peer) {
      if (peer.length !== 32) throw new DhError(`Curve25519 public value of ${peer.length} bytes, expected 32`);
      let peerKey: KeyObject;
      try {
        peerKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peer]), format: 'der', type: 'spki' });
      } catch (err) {
        throw new DhError(`invalid Curve25519 public value: ${(err as Error).message}`);
      }
      let secret: Buffer;
      try {
        secret = diffieHellman({ privateKey, publicKey: peerKey });
      } catch (err) {
        throw new DhError(`Curve25519: ${(err as Error).message}`); // OpenSSL refuses low-order points itself
      }
      // RFC 8031 §2: an all-zero result means a low-order point
      if (secret.every((b) => b === 0)) throw new DhError('Curve25519 shared secret is all zero');
      return secret;
    },
  };
}

/** A fresh key pair; `privateKey` (ECP and Curve25519 only) is for test vectors. */
export function createDhKey(group: number, privateKey?: Buffer): DhKey {
  if (MODP[group]) return modpKey(group);
  if (ECP[group]) return ecpKey(group, privateKey);
  if (group === 31) return x25519Key(privateKey);
  throw new DhError(`DH group ${group} not supported`);
}
