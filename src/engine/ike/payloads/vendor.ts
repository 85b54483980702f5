// Vendor ID payload (RFC 7296 §3.12).
import type { PayloadCodec, VendorPayload } from './codec.js';

export const vendorCodec: PayloadCodec<VendorPayload> = {
  type: 43,
  name: 'VendorID',
  decode: (body) => ({ type: 43, data: Buffer.from(body) }),
  encode: (p) => p.data,
};
