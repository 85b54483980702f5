// Address helpers for traffic selectors and tunnel numbering (IPv4 and IPv6).
import ipaddr from 'ipaddr.js';
import { TsType } from './constants.js';
import type { TrafficSelector } from './payloads/codec.js';
import type { TsRange } from '../child-sa.js';

export function toBytes(addr: string): Buffer {
  return Buffer.from(ipaddr.parse(addr).toByteArray());
}

export function fromBytes(b: Buffer): string {
  return ipaddr.fromByteArray([...b]).toString();
}

export function toBig(addr: string): bigint {
  return BigInt('0x' + toBytes(addr).toString('hex'));
}

export function fromBig(v: bigint, family: 4 | 6): string {
  const len = family === 4 ? 4 : 16;
  const max = (1n << BigInt(len * 8)) - 1n;
  const c = v < 0n ? 0n : v > max ? max : v;
  return fromBytes(Buffer.from(c.toString(16).padStart(len * 2, '0'), 'hex'));
}

export function familyOf(addr: string): 4 | 6 {
  return ipaddr.parse(addr).kind() === 'ipv4' ? 4 : 6;
}

/** addr + n, saturating at the ends of the address space. */
export function addToAddr(addr: string, n: number): string {
  return fromBig(toBig(addr) + BigInt(n), familyOf(addr));
}

export function tsToWire(r: TsRange): TrafficSelector {
  return {
    tsType: r.family === 4 ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE,
    protocol: r.protocol,
    startPort: r.startPort,
    endPort: r.endPort,
    startAddr: toBytes(r.startAddr),
    endAddr: toBytes(r.endAddr),
  };
}

export function tsFromWire(t: TrafficSelector): TsRange {
  return {
    family: t.tsType === TsType.IPV4_ADDR_RANGE ? 4 : 6,
    protocol: t.protocol,
    startPort: t.startPort,
    endPort: t.endPort,
    startAddr: fromBytes(t.startAddr),
    endAddr: fromBytes(t.endAddr),
  };
}

/** The intersection of two ranges, or undefined (RFC 7296 §2.9 narrowing). */
export function intersectTs(a: TsRange, b: TsRange): TsRange | undefined {
  if (a.family !== b.family) return undefined;
  if (a.protocol && b.protocol && a.protocol !== b.protocol) return undefined;
  const startPort = Math.max(a.startPort, b.startPort);
  const endPort = Math.min(a.endPort, b.endPort);
  if (startPort > endPort) return undefined;
  const s = [toBig(a.startAddr), toBig(b.startAddr)].reduce((x, y) => (x > y ? x : y));
  const e = [toBig(a.endAddr), toBig(b.endAddr)].reduce((x, y) => (x < y ? x : y));
  if (s > e) return undefined;
  return { family: a.family, protocol: a.protocol || b.protocol, startPort, endPort, startAddr: fromBig(s, a.family), endAddr: fromBig(e, a.family) };
}

/** Narrows the proposed selectors to those allowed; empty when nothing is left. */
export function narrow(proposed: TsRange[], allowed: TsRange[]): TsRange[] {
  const out: TsRange[] = [];
  for (const p of proposed) for (const a of allowed) {
    const i = intersectTs(p, a);
    if (i && !out.some((o) => JSON.stringify(o) === JSON.stringify(i))) out.push(i);
  }
  return out;
}
