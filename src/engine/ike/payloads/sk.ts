// Encrypted payload SK (RFC 7296 §3.14): kept opaque here (IV, ciphertext,
// ICV); crypto/sk-cipher.ts seals and opens it. Its next-payload field names
// the first payload inside, so the message codec passes it through.
import type { PayloadCodec, SkPayload } from './codec.js';

export const skCodec: PayloadCodec<SkPayload> = {
  type: 46,
  name: 'SK',
  decode: (body) => ({ type: 46, firstInner: 0, body: Buffer.from(body) }),
  encode: (p) => p.body,
};
