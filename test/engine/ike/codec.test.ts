import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeMessage, encodeMessage, decodeChain, encodeChain, type IkeMessage } from '../../../src/engine/ike/message.js';
import type { AnyPayload } from '../../../src/engine/ike/payloads/codec.js';
import { Exchange, Notify, PayloadType } from '../../../src/engine/ike/constants.js';

const b = (hex: string) => Buffer.from(hex, 'hex');

/** One of every payload we encode, with attributes and odd sizes. */
const PAYLOADS: AnyPayload[] = [
  { type: PayloadType.NOTIFY, protocol: 0, spi: Buffer.alloc(0), notifyType: Notify.COOKIE, data: b('01020304') },
  {
    type: PayloadType.SA,
    proposals: [
      { num: 1, protocol: 1, spi: Buffer.alloc(0), transforms: [{ type: 1, id: 12, keyLength: 128 }, { type: 2, id: 5 }, { type: 3, id: 12 }, { type: 4, id: 14 }] },
      { num: 2, protocol: 3, spi: b('c0ffee01'), transforms: [{ type: 1, id: 20, keyLength: 256, otherAttrs: [{ type: 99, value: b('abcdef'), tv: false }] }, { type: 5, id: 0 }] },
    ],
  },
  { type: PayloadType.KE, group: 19, data: randomBytes(64) },
  { type: PayloadType.NONCE, data: randomBytes(32) },
  { type: PayloadType.IDi, idType: 2, data: Buffer.from('client.example') },
  { type: PayloadType.IDr, idType: 1, data: b('0a000001') },
  { type: PayloadType.AUTH, method: 2, data: randomBytes(32) },
  { type: PayloadType.DELETE, protocol: 3, spiSize: 4, spis: [b('00000101'), b('00000202')] },
  { type: PayloadType.DELETE, protocol: 1, spiSize: 0, spis: [] },
  { type: PayloadType.VENDOR, data: Buffer.from('myikev2') },
  {
    type: PayloadType.TSi,
    selectors: [
      { tsType: 7, protocol: 0, startPort: 0, endPort: 65535, startAddr: b('0a000000'), endAddr: b('0affffff') },
      { tsType: 8, protocol: 17, startPort: 500, endPort: 500, startAddr: Buffer.alloc(16), endAddr: Buffer.alloc(16, 0xff) },
    ],
  },
  { type: PayloadType.TSr, selectors: [] },
  { type: PayloadType.CP, cfgType: 1, attrs: [{ type: 1, value: Buffer.alloc(0) }, { type: 3, value: b('08080808') }] },
  { type: 200, unknown: true, body: b('deadbeef') },
];

function msg(payloads: AnyPayload[]): IkeMessage {
  return { spiI: randomBytes(8), spiR: Buffer.alloc(8), exchange: Exchange.IKE_SA_INIT, flags: 0x08, messageId: 0, payloads };
}

describe('IKE codec', () => {
  it('encode → decode → encode is byte-identical for every payload', () => {
    for (const p of PAYLOADS) {
      const bytes = encodeMessage(msg([p]));
      const d = decodeMessage(bytes);
      assert.ok(d.ok, `decoding payload ${p.type}: ${!d.ok && d.error}`);
      assert.deepEqual(encodeMessage(d.msg), bytes, `payload ${p.type}`);
    }
    const all = encodeMessage(msg(PAYLOADS));
    const d = decodeMessage(all);
    assert.ok(d.ok);
    assert.deepEqual(encodeMessage(d.msg), all);
    assert.equal(d.msg.payloads.length, PAYLOADS.length);
  });

  it('keeps an SK payload opaque with its first inner payload type', () => {
    const sk: AnyPayload = { type: PayloadType.SK, firstInner: PayloadType.IDi, body: randomBytes(80) };
    const chain = encodeChain([sk]);
    const back = decodeChain(PayloadType.SK, chain);
    assert.deepEqual(back, [sk]);
    assert.deepEqual(encodeChain(back), chain);
  });

  it('skips unknown non-critical payloads and refuses critical ones', () => {
    const m = msg([{ type: 200, unknown: true, body: b('00') }, { type: PayloadType.NONCE, data: randomBytes(16) }]);
    const ok = decodeMessage(encodeMessage(m));
    assert.ok(ok.ok);
    const crit = encodeMessage(msg([{ type: 200, unknown: true, critical: true, body: b('00') }]));
    const r = decodeMessage(crit);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.notify, Notify.UNSUPPORTED_CRITICAL_PAYLOAD);
    assert.deepEqual(!r.ok && r.notifyData, Buffer.from([200]));
  });

  it('reports malformed messages with INVALID_SYNTAX or INVALID_MAJOR_VERSION', () => {
    const good = encodeMessage(msg([{ type: PayloadType.NONCE, data: randomBytes(16) }]));
    const badLen = Buffer.from(good);
    badLen.writeUInt16BE(200, 30);
    const r1 = decodeMessage(badLen);
    assert.equal(!r1.ok && r1.notify, Notify.INVALID_SYNTAX);
    const badVer = Buffer.from(good);
    badVer[17] = 0x30;
    const r2 = decodeMessage(badVer);
    assert.equal(!r2.ok && r2.notify, Notify.INVALID_MAJOR_VERSION);
    const shortNonce = encodeMessage(msg([{ type: PayloadType.NONCE, data: randomBytes(8) }]));
    assert.equal(decodeMessage(shortNonce).ok, false);
  });

  it('never throws on random bytes or on mutated valid messages', () => {
    const all = encodeMessage(msg(PAYLOADS));
    for (let i = 0; i < 20_000; i++) {
      let buf: Buffer;
      if (i % 2) buf = randomBytes(1 + (i % 300));
      else {
        buf = Buffer.from(all);
        for (let k = 0; k < 1 + (i % 5); k++) buf[(i * 7919 + k * 104729) % buf.length] ^= 1 + (i % 255);
      }
      if (i % 3 === 0 && buf.length >= 28) buf.writeUInt32BE(buf.length, 24);
      assert.doesNotThrow(() => decodeMessage(buf));
    }
  });
});
