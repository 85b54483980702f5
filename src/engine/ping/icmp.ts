// IPv4/ICMP and IPv6/ICMPv6 echo packets (RFC 791/792, RFC 8200/4443):
// build, parse, turn a request into its reply. Checksums are verified and
// written here; ICMPv6 includes the IPv6 pseudo-header.

export const PROTO_ICMP = 1;
export const PROTO_ICMPV6 = 58;
export const ECHO_REQUEST = { 4: 8, 6: 128 } as const;
export const ECHO_REPLY = { 4: 0, 6: 129 } as const;

/** Ones'-complement sum of buf[start..end) added to `sum` (not folded). */
function sumWords(buf: Buffer, start: number, end: number, sum: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function internetChecksum(buf: Buffer, start = 0, end = buf.length, initial = 0): number {
  return fold(sumWords(buf, start, end, initial));
}

/** Sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer packet in `pkt`. */
function v6PseudoSum(pkt: Buffer, upperLen: number, nextHeader: number): number {
  return sumWords(pkt, 8, 40, 0) + upperLen + nextHeader;
}

export interface EchoInfo {
  family: 4 | 6;
  isRequest: boolean;
  id: number;
  seq: number;
  icmpOffset: number; // start of the ICMP header
  length: number; // whole IP packet
}

/** Parses an IP packet carrying an ICMP(v6) echo request/reply with valid checksums, else undefined. */
export function parseEcho(pkt: Buffer): EchoInfo | undefined {
  if (pkt.length < 20) return undefined;
  const version = pkt[0] >> 4;
  if (version === 4) {
    const ihl = (pkt[0] & 0x0f) * 4;
    const total = pkt.readUInt16BE(2);
    if (ihl < 20 || total > pkt.length || total < ihl + 8 || pkt[9] !== PROTO_ICMP) return undefined;
    if ((pkt.readUInt16BE(6) & 0x3fff) !== 0) return undefined; // fragments are not echo packets we match
    if (internetChecksum(pkt, 0, ihl) !== 0 || internetChecksum(pkt, ihl, total) !== 0) return undefined;
    const type = pkt[ihl];
    if ((type !== 8 && type !== 0) || pkt[ihl + 1] !== 0) return undefined;
    return { family: 4, isRequest: type === 8, id: pkt.readUInt16BE(ihl + 4), seq: pkt.readUInt16BE(ihl + 6), icmpOffset: ihl, length: total };
  }
  if (version === 6) {
    if (pkt.length < 48 || pkt[6] !== PROTO_ICMPV6) return undefined;
    const upper = pkt.readUInt16BE(4);
    if (upper < 8 || 40 + upper > pkt.length) return undefined;
    if (fold(sumWords(pkt, 40, 40 + upper, v6PseudoSum(pkt, upper, PROTO_ICMPV6))) !== 0) return undefined;
    const type = pkt[40];
    if ((type !== 128 && type !== 129) || pkt[41] !== 0) return undefined;
    return { family: 6, isRequest: type === 128, id: pkt.readUInt16BE(44), seq: pkt.readUInt16BE(46), icmpOffset: 40, length: 40 + upper };
  }
  return undefined;
}

/** Writes the ICMP(v6) checksum of the packet in place (and the IPv4 header checksum). */
export function fixChecksums(pkt: Buffer): void {
  if (pkt[0] >> 4 === 4) {
    const ihl = (pkt[0] & 0x0f) * 4;
    const total = pkt.readUInt16BE(2);
    pkt.writeUInt16BE(0, 10);
    pkt.writeUInt16BE(internetChecksum(pkt, 0, ihl), 10);
    pkt.writeUInt16BE(0, ihl + 2);
    pkt.writeUInt16BE(internetChecksum(pkt, ihl, total), ihl + 2);
  } else {
    const upper = pkt.readUInt16BE(4);
    pkt.writeUInt16BE(0, 42);
    pkt.writeUInt16BE(fold(sumWords(pkt, 40, 40 + upper, v6PseudoSum(pkt, upper, PROTO_ICMPV6))), 42);
  }
}

/** Builds an echo request (or reply) from src to dst (4- or 16-byte addresses). */
export function buildEcho(src: Buffer, dst: Buffer, isRequest: boolean, id: number, seq: number, payloadLen: number): Buffer {
  const family = src.length === 4 ? 4 : 6;
  const hdr = family === 4 ? 20 : 40;
  const pkt = Buffer.alloc(hdr + 8 + payloadLen);
  if (family === 4) {
    pkt[0] = 0x45;
    pkt.writeUInt16BE(pkt.length, 2);
    pkt[8] = 64; // TTL
    pkt[9] = PROTO_ICMP;
    src.copy(pkt, 12);
    dst.copy(pkt, 16);
  } else {
    pkt[0] = 0x60;
    pkt.writeUInt16BE(8 + payloadLen, 4);
    pkt[6] = PROTO_ICMPV6;
    pkt[7] = 64; // hop limit
    src.copy(pkt, 8);
    dst.copy(pkt, 24);
  }
  pkt[hdr] = isRequest ? ECHO_REQUEST[family] : ECHO_REPLY[family];
  pkt.writeUInt16BE(id, hdr + 4);
  pkt.writeUInt16BE(seq, hdr + 6);
  for (let i = 0; i < payloadLen; i++) pkt[hdr + 8 + i] = i & 0xff;
  fixChecksums(pkt);
  return pkt;
}

/** Sets a new sequence number (and IPv4 id) in a built echo packet, fixing checksums. */
export function setEchoSeq(pkt: Buffer, seq: number): void {
  const v4 = pkt[0] >> 4 === 4;
  const icmp = v4 ? (pkt[0] & 0x0f) * 4 : 40;
  pkt.writeUInt16BE(seq, icmp + 6);
  if (v4) pkt.writeUInt16BE(seq, 4);
  fixChecksums(pkt);
}

/** Turns a parsed echo request into its reply in place: swap addresses, change the type. */
export function makeEchoReply(pkt: Buffer, info: EchoInfo): Buffer {
  const reply = info.length === pkt.length ? pkt : pkt.subarray(0, info.length);
  const [a, len] = info.family === 4 ? [12, 4] : [8, 16];
  for (let i = 0; i < len; i++) {
    const t = reply[a + i];
    reply[a + i] = reply[a + len + i];
    reply[a + len + i] = t;
  }
  if (info.family === 4) reply[8] = 64;
  else reply[7] = 64;
  reply[info.icmpOffset] = ECHO_REPLY[info.family];
  fixChecksums(reply);
  return reply;
}
