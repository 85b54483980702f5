// SA payload (RFC 7296 §3.3): proposals, transforms and transform attributes.
import { need, ParseError, type PayloadCodec, type Proposal, type SaPayload, type Transform } from './codec.js';
import { ATTR_KEY_LENGTH } from '../constants.js';

function decodeAttrs(buf: Buffer, t: Transform): void {
  let off = 0;
  while (off < buf.length) {
    need(buf.subarray(off), 4, 'transform attribute');
    const word = buf.readUInt16BE(off);
    const tv = (word & 0x8000) !== 0;
    const type = word & 0x7fff;
    if (tv) {
      const value = buf.subarray(off + 2, off + 4);
      if (type === ATTR_KEY_LENGTH && t.keyLength === undefined) t.keyLength = value.readUInt16BE(0);
      else (t.otherAttrs ??= []).push({ type, value: Buffer.from(value), tv });
      off += 4;
    } else {
      const len = buf.readUInt16BE(off + 2);
      need(buf.subarray(off + 4), len, 'transform attribute value');
      (t.otherAttrs ??= []).push({ type, value: Buffer.from(buf.subarray(off + 4, off + 4 + len)), tv });
      off += 4 + len;
    }
  }
}

function encodeAttrs(t: Transform): Buffer[] {
  const out: Buffer[] = [];
  if (t.keyLength !== undefined) {
    const a = Buffer.alloc(4);
    a.writeUInt16BE(0x8000 | ATTR_KEY_LENGTH, 0);
    a.writeUInt16BE(t.keyLength, 2);
    out.push(a);
  }
  for (const attr of t.otherAttrs ?? []) {
    const h = Buffer.alloc(4);
    if (attr.tv) {
      h.writeUInt16BE(0x8000 | attr.type, 0);
      attr.value.copy(h, 2, 0, 2);
      out.push(h);
    } else {
      h.writeUInt16BE(attr.type, 0);
      h.writeUInt16BE(attr.value.length, 2);
      out.push(h, attr.value);
    }
  }
  return out;
}

function decodeTransforms(buf: Buffer, count: number): Transform[] {
  const transforms: Transform[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    need(buf.subarray(off), 8, 'transform');
    const last = buf[off];
    const len = buf.readUInt16BE(off + 2);
    if (len < 8 || off + len > buf.length) throw new ParseError(`transform length ${len} out of range`);
    const t: Transform = { type: buf[off + 4], id: buf.readUInt16BE(off + 6) };
    decodeAttrs(buf.subarray(off + 8, off + len), t);
    transforms.push(t);
    off += len;
    if (last === 0) {
      if (i !== count - 1) throw new ParseError('transform count does not match the last-transform marker');
      break;
    }
    if (last !== 3) throw new ParseError(`bad last-transform marker ${last}`);
  }
  if (transforms.length !== count) throw new ParseError('fewer transforms than announced');
  return transforms;
}

function decodeProposals(body: Buffer): Proposal[] {
  const proposals: Proposal[] = [];
  let off = 0;
  for (;;) {
    need(body.subarray(off), 8, 'proposal');
    const last = body[off];
    const len = body.readUInt16BE(off + 2);
    if (len < 8 || off + len > body.length) throw new ParseError(`proposal length ${len} out of range`);
    const spiSize = body[off + 6];
    const count = body[off + 7];
    if (8 + spiSize > len) throw new ParseError('proposal SPI longer than the proposal');
    proposals.push({
      num: body[off + 4],
      protocol: body[off + 5],
      spi: Buffer.from(body.subarray(off + 8, off + 8 + spiSize)),
      transforms: decodeTransforms(body.subarray(off + 8 + spiSize, off + len), count),
    });
    off += len;
    if (last === 0) break;
    if (last !== 2) throw new ParseError(`bad last-proposal marker ${last}`);
  }
  if (off !== body.length) throw new ParseError('trailing bytes after the last proposal');
  return proposals;
}

export const saCodec: PayloadCodec<SaPayload> = {
  type: 33,
  name: 'SA',
  decode: (body) => ({ type: 33, proposals: decodeProposals(body) }),
  encode(p) {
    const parts: Buffer[] = [];
    p.proposals.forEach((prop, pi) => {
      const tBufs = prop.transforms.map((t, ti) => {
        const attrs = Buffer.concat(encodeAttrs(t));
        const h = Buffer.alloc(8);
        h[0] = ti === prop.transforms.length - 1 ? 0 : 3;
        h.writeUInt16BE(8 + attrs.length, 2);
        h[4] = t.type;
        h.writeUInt16BE(t.id, 6);
        return Buffer.concat([h, attrs]);
      });
      const h = Buffer.alloc(8);
      h[0] = pi === p.proposals.length - 1 ? 0 : 2;
      const len = 8 + prop.spi.length + tBufs.reduce((s, b) => s + b.length, 0);
      h.writeUInt16BE(len, 2);
      h[4] = prop.num;
      h[5] = prop.protocol;
      h[6] = prop.spi.length;
      h[7] = prop.transforms.length;
      parts.push(h, prop.spi, ...tBufs);
    });
    return Buffer.concat(parts);
  },
};
