// Address helpers for the data plane: strings are parsed once (install time),
// packets are matched as raw bytes (no per-packet parsing or allocation).
import ipaddr from 'ipaddr.js';
import type { TsRange } from '../child-sa.js';

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** 4 or 16 bytes of an address; plain dotted quads skip ipaddr.js (thousands of SAs install at once). */
export function addrBytes(addr: string): Buffer {
  const m = DOTTED_QUAD.exec(addr);
  if (m) {
    const b = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
    if (b.every((x) => x <= 255)) return Buffer.from(b);
  }
  return Buffer.from(ipaddr.parse(addr).toByteArray());
}

export function addrFamily(addr: string): 4 | 6 {
  return addrBytes(addr).length === 4 ? 4 : 6;
}

export function bytesToAddr(buf: Buffer, offset: number, len: 4 | 16): string {
  return ipaddr.fromByteArray([...buf.subarray(offset, offset + len)]).toString();
}

/** `addr + n` (n may be negative), staying inside the address family. */
export function addToAddr(addr: string, n: number): string {
  const bytes = addrBytes(addr);
  let v = BigInt('0x' + bytes.toString('hex')) + BigInt(n);
  const bits = BigInt(bytes.length * 8);
  v = ((v % (1n << bits)) + (1n << bits)) % (1n << bits);
  const hex = v.toString(16).padStart(bytes.length * 2, '0');
  return bytesToAddr(Buffer.from(hex, 'hex'), 0, bytes.length as 4 | 16);
}

/** A traffic selector compiled for byte-wise matching. */
export interface CompiledTs {
  family: 4 | 6;
  protocol: number;
  startPort: number;
  endPort: number;
  start: Buffer;
  end: Buffer;
  first: string; // first address, as text (ping autoaddr)
}

export function compileTs(list: TsRange[]): CompiledTs[] {
  return list.map((ts) => ({
    family: ts.family,
    protocol: ts.protocol,
    startPort: ts.startPort,
    endPort: ts.endPort,
    start: addrBytes(ts.startAddr),
    end: addrBytes(ts.endAddr),
    first: ts.startAddr,
  }));
}

function compareAt(buf: Buffer, off: number, ref: Buffer): number {
  for (let i = 0; i < ref.length; i++) {
    const d = buf[off + i] - ref[i];
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether the address at buf[off..] (4 or 16 bytes) lies inside one of the selectors. */
export function addrInTs(list: CompiledTs[], family: 4 | 6, buf: Buffer, off: number): boolean {
  for (const ts of list) {
    if (ts.family !== family) continue;
    if (compareAt(buf, off, ts.start) >= 0 && compareAt(buf, off, ts.end) <= 0) return true;
  }
  return false;
}

export function textInTs(list: CompiledTs[], addr: string): boolean {
  const b = addrBytes(addr);
  return addrInTs(list, b.length === 4 ? 4 : 6, b, 0);
}
