// Key Exchange payload (RFC 7296 §3.4).
import { need, type KePayload, type PayloadCodec } from './codec.js';

export const keCodec: PayloadCodec<KePayload> = {
  type: 34,
  name: 'KE',
  decode(body) {
    need(body, 4, 'KE');
    return { type: 34, group: body.readUInt16BE(0), data: Buffer.from(body.subarray(4)) };
  },
  encode(p) {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(p.group, 0);
    return Buffer.concat([h, p.data]);
  },
};
