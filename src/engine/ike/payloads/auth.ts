// Authentication payload (RFC 7296 §3.8).
import { need, type AuthPayload, type PayloadCodec } from './codec.js';

export const authCodec: PayloadCodec<AuthPayload> = {
  type: 39,
  name: 'AUTH',
  decode(body) {
    need(body, 4, 'AUTH');
    return { type: 39, method: body[0], data: Buffer.from(body.subarray(4)) };
  },
  encode(p) {
    const h = Buffer.alloc(4);
    h[0] = p.method;
    return Buffer.concat([h, p.data]);
  },
};
