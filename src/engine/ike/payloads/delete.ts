// Delete payload (RFC 7296 §3.11).
import { need, ParseError, type DeletePayload, type PayloadCodec } from './codec.js';

export const deleteCodec: PayloadCodec<DeletePayload> = {
  type: 42,
  name: 'Delete',
  decode(body) {
    need(body, 4, 'Delete');
    const spiSize = body[1];
    const count = body.readUInt16BE(2);
    if (body.length !== 4 + spiSize * count) throw new ParseError('Delete length does not match its SPI count');
    const spis: Buffer[] = [];
    for (let i = 0; i < count; i++) spis.push(Buffer.from(body.subarray(4 + i * spiSize, 4 + (i + 1) * spiSize)));
    return { type: 42, protocol: body[0], spiSize, spis };
  },
  encode(p) {
    const h = Buffer.alloc(4);
    h[0] = p.protocol;
    h[1] = p.spiSize;
    h.writeUInt16BE(p.spis.length, 2);
    return Buffer.concat([h, ...p.spis]);
  },
};
