// NAT detection hashes (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | port).
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';

export function addrBytes(addr: string): Buffer {
  if (isIP(addr) === 4) return Buffer.from(addr.split('.').map(Number));
  if (isIP(addr) === 6) {
    const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
    return b;
  }
  throw new Error(`not an IP address: ${addr}`);
}

// Hashes are computed for the same few addresses over and over (each tunnel's own and the peer's).
const ADDR_CACHE = new Map<string, Buffer>();

function cachedAddrBytes(addr: string): Buffer {
  let b = ADDR_CACHE.get(addr);
  if (!b) {
    if (ADDR_CACHE.size > 10_000) ADDR_CACHE.clear();
    ADDR_CACHE.set(addr, (b = addrBytes(addr)));
  }
  return b;
}

export function natHash(spiI: Buffer, spiR: Buffer, addr: string, port: number): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port, 0);
  return createHash('sha1').update(spiI).update(spiR).update(cachedAddrBytes(addr)).update(p).digest();
}
