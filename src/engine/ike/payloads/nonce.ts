// Nonce payload (RFC 7296 §3.9): 16 to 256 bytes.
import { ParseError, type NoncePayload, type PayloadCodec } from './codec.js';

export const nonceCodec: PayloadCodec<NoncePayload> = {
  type: 40,
  name: 'Nonce',
  decode(body) {
    if (body.length < 16 || body.length > 256) throw new ParseError(`nonce of ${body.length} bytes (16..256 allowed)`);
    return { type: 40, data: Buffer.from(body) };
  },
  encode: (p) => p.data,
};
