// Identification payloads IDi and IDr (RFC 7296 §3.5).
import { need, type IdPayload, type PayloadCodec } from './codec.js';

export const idCodec: PayloadCodec<IdPayload> = {
  type: [35, 36],
  name: 'ID',
  decode(body, type) {
    need(body, 4, 'ID');
    return { type: type as 35 | 36, idType: body[0], data: Buffer.from(body.subarray(4)) };
  },
  encode(p) {
    const h = Buffer.alloc(4);
    h[0] = p.idType;
    return Buffer.concat([h, p.data]);
  },
};

/** The ID payload body without the generic header: what AUTH signs (RestOfIDPayload). */
export function idBody(p: IdPayload): Buffer {
  return idCodec.encode(p);
}
