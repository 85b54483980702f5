// Notify payload (RFC 7296 §3.10).
import { need, ParseError, type NotifyPayload, type PayloadCodec } from './codec.js';

export const notifyCodec: PayloadCodec<NotifyPayload> = {
  type: 41,
  name: 'Notify',
  decode(body) {
    need(body, 4, 'Notify');
    const spiSize = body[1];
    if (4 + spiSize > body.length) throw new ParseError('Notify SPI longer than the payload');
    return {
      type: 41,
      protocol: body[0],
      spi: Buffer.from(body.subarray(4, 4 + spiSize)),
      notifyType: body.readUInt16BE(2),
      data: Buffer.from(body.subarray(4 + spiSize)),
    };
  },
  encode(p) {
    const h = Buffer.alloc(4);
    h[0] = p.protocol;
    h[1] = p.spi.length;
    h.writeUInt16BE(p.notifyType, 2);
    return Buffer.concat([h, p.spi, p.data]);
  },
};
