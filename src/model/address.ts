// Addresses and prefixes, parsed with ipaddr.js (no regexes), and the small
// arithmetic the model needs (tunnel n = start + (n-1), management addresses).
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface Cidr {
  addr: string; // normalised text form
  family: Family;
  prefixLen: number;
}

export function parseAddress(text: string): { addr: string; family: Family } | null {
  if (!ipaddr.isValid(text)) return null;
  // ipaddr.isValid accepts shorthand like "10.1" for IPv4; require four parts.
  if (!ipaddr.IPv6.isValid(text) && !ipaddr.IPv4.isValidFourPartDecimal(text)) return null;
  const a = ipaddr.parse(text);
  return { addr: a.toString(), family: a.kind() === 'ipv4' ? 4 : 6 };
}

/** "ADDR/LEN" (host bits allowed, as on an interface). */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const a = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!a || !/^\d{1,3}$/.test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > (a.family === 4 ? 32 : 128)) return null;
  return { ...a, prefixLen };
}

function toBigInt(addr: string): bigint {
  const bytes = ipaddr.parse(addr).toByteArray();
  return bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function fromBigInt(value: bigint, family: Family): string {
  const n = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = 0; i < n; i++) {
    bytes.unshift(Number(value & 0xffn));
    value >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** addr + n within its family; null when it would leave the address space. */
export function addToAddress(addr: string, n: number | bigint): string | null {
  const a = parseAddress(addr);
  if (!a) return null;
  const bits = a.family === 4 ? 32n : 128n;
  const v = toBigInt(a.addr) + BigInt(n);
  if (v < 0n || v >= 1n << bits) return null;
  return fromBigInt(v, a.family);
}

/** b − a: how far address b lies above address a (both valid, of one family). */
export function addressDistance(a: string, b: string): bigint {
  return toBigInt(b) - toBigInt(a);
}

/** Is addr inside network/prefixLen? */
export function inPrefix(addr: string, prefix: Cidr): boolean {
  const a = parseAddress(addr);
  if (!a || a.family !== prefix.family) return false;
  return ipaddr.parse(a.addr).match(ipaddr.parse(prefix.addr), prefix.prefixLen);
}

export function networkAddress(prefix: Cidr): string {
  const bits = prefix.family === 4 ? 32 : 128;
  const hostBits = BigInt(bits - prefix.prefixLen);
  const v = (toBigInt(prefix.addr) >> hostBits) << hostBits;
  return fromBigInt(v, prefix.family);
}

/** Number of addresses in a prefix. */
export function prefixSize(prefix: Cidr): bigint {
  return 1n << BigInt((prefix.family === 4 ? 32 : 128) - prefix.prefixLen);
}

/**
 * The management address of an instance: network + 0x10000 + id, so the last
 * groups read ":1:<id in hex>" and id 0 is not the subnet-router anycast address.
 */
export const MGMT_OFFSET = 0x10000;

/** The management addresses of a prefix, by instance id (null: no room): the prefix is worked out once, not per instance. */
export function mgmtAddressesIn(prefix: Cidr): (instanceId: number) => string | null {
  const network = toBigInt(networkAddress(prefix));
  const size = prefixSize(prefix);
  return (instanceId) => {
    const offset = BigInt(MGMT_OFFSET + instanceId);
    return offset >= size - 1n ? null : fromBigInt(network + offset, prefix.family);
  };
}

/** ipaddr.js's name for the range of an address ('multicast', 'linkLocal', 'uniqueLocal', 'unicast', …). */
export function rangeOf(addr: string): string {
  return ipaddr.parse(addr).range();
}

/** A valid Linux interface name (≤ 15 bytes), restricted to characters safe in scripts. */
export function isValidIfName(name: string): boolean {
  return /^[A-Za-z0-9_.@-]{1,15}$/.test(name) && Buffer.byteLength(name) <= 15 && name !== '.' && name !== '..';
}
