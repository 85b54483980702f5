// Configuration payload CP (RFC 7296 §3.15).
import { need, ParseError, type CpAttribute, type CpPayload, type PayloadCodec } from './codec.js';

export const cpCodec: PayloadCodec<CpPayload> = {
  type: 47,
  name: 'CP',
  decode(body) {
    need(body, 4, 'CP');
    const attrs: CpAttribute[] = [];
    let off = 4;
    while (off < body.length) {
      need(body.subarray(off), 4, 'CP attribute');
      const type = body.readUInt16BE(off) & 0x7fff;
      const len = body.readUInt16BE(off + 2);
      if (off + 4 + len > body.length) throw new ParseError('CP attribute longer than the payload');
      attrs.push({ type, value: Buffer.from(body.subarray(off + 4, off + 4 + len)) });
      off += 4 + len;
    }
    return { type: 47, cfgType: body[0], attrs };
  },
  encode(p) {
    const h = Buffer.alloc(4);
    h[0] = p.cfgType;
    const parts: Buffer[] = [h];
    for (const a of p.attrs) {
      const ah = Buffer.alloc(4);
      ah.writeUInt16BE(a.type & 0x7fff, 0);
      ah.writeUInt16BE(a.value.length, 2);
      parts.push(ah, a.value);
    }
    return Buffer.concat(parts);
  },
};
