// Traffic Selector payloads TSi and TSr (RFC 7296 §3.13).
import { need, ParseError, type PayloadCodec, type TrafficSelector, type TsPayload } from './codec.js';
import { TsType } from '../constants.js';

export const tsCodec: PayloadCodec<TsPayload> = {
  type: [44, 45],
  name: 'TS',
  decode(body, type) {
    need(body, 4, 'TS');
    const count = body[0];
    const selectors: TrafficSelector[] = [];
    let off = 4;
    for (let i = 0; i < count; i++) {
      need(body.subarray(off), 8, 'traffic selector');
      const tsType = body[off];
      const len = body.readUInt16BE(off + 2);
      const addrLen = tsType === TsType.IPV4_ADDR_RANGE ? 4 : tsType === TsType.IPV6_ADDR_RANGE ? 16 : -1;
      if (addrLen < 0) throw new ParseError(`unknown traffic selector type ${tsType}`);
      if (len !== 8 + 2 * addrLen || off + len > body.length) throw new ParseError(`traffic selector length ${len}`);
      selectors.push({
        tsType,
        protocol: body[off + 1],
        startPort: body.readUInt16BE(off + 4),
        endPort: body.readUInt16BE(off + 6),
        startAddr: Buffer.from(body.subarray(off + 8, off + 8 + addrLen)),
        endAddr: Buffer.from(body.subarray(off + 8 + addrLen, off + len)),
      });
      off += len;
    }
    if (off !== body.length) throw new ParseError('trailing bytes after the traffic selectors');
    return { type: type as 44 | 45, selectors };
  },
  encode(p) {
    const h = Buffer.alloc(4);
    h[0] = p.selectors.length;
    const parts: Buffer[] = [h];
    for (const s of p.selectors) {
      const t = Buffer.alloc(8);
      t[0] = s.tsType;
      t[1] = s.protocol;
      t.writeUInt16BE(8 + s.startAddr.length + s.endAddr.length, 2);
      t.writeUInt16BE(s.startPort, 4);
      t.writeUInt16BE(s.endPort, 6);
      parts.push(t, s.startAddr, s.endAddr);
    }
    return Buffer.concat(parts);
  },
};
