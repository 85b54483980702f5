import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomFillSync } from 'node:crypto';
import { InboundSa, OutboundSa } from '../../../src/engine/esp/esp-sa.js';
import { ALL_SUITES, keyPair } from './fixtures.js';

const rnd = (b: Buffer) => randomFillSync(b);

function sa(o: Parameters<typeof keyPair>[0] = {}) {
  const [c, g] = keyPair(o);
  return { out: new OutboundSa(c, rnd), inb: new InboundSa(g), c, g };
}

/**
 * An ESP packet encoded independently of src/ (straight from RFC 4303 §2 and
 * RFC 4106 §3–5), with the padding and trailer given raw: proves the
 * receiver's format and lets tests forge authentic packets with bad padding.
 */
function encodeByHand(keys: ReturnType<typeof keyPair>[0], seq: number, plaintextWithTrailer: Buffer): Buffer {
  const spi = Buffer.alloc(4);
  spi.writeUInt32BE(keys.spiOut);
  const sq = Buffer.alloc(4);
  sq.writeUInt32BE(seq);
  if (keys.encr.name === 'aes-gcm16') {
    const kl = keys.encr.keyBits / 8;
    const iv = Buffer.from('0102030405060708', 'hex');
    const c = createCipheriv(`aes-${keys.encr.keyBits}-gcm` as 'aes-128-gcm', keys.encKeyOut.subarray(0, kl), Buffer.concat([keys.encKeyOut.subarray(kl), iv]));
    c.setAAD(Buffer.concat([spi, sq]));
    const ct = Buffer.concat([c.update(plaintextWithTrailer), c.final()]);
    return Buffer.concat([spi, sq, iv, ct, c.getAuthTag()]);
  }
  const iv = Buffer.alloc(16, 7);
  const c = createCipheriv(`aes-${keys.encr.keyBits}-cbc`, keys.encKeyOut, iv).setAutoPadding(false);
  const body = Buffer.concat([spi, sq, iv, c.update(plaintextWithTrailer), c.final()]);
  const hash = { 'sha1-96': 'sha1', 'sha256-128': 'sha256', 'sha384-192': 'sha384', 'sha512-256': 'sha512', none: '' }[keys.integ];
  const icvLen = { 'sha1-96': 12, 'sha256-128': 16, 'sha384-192': 24, 'sha512-256': 32, none: 0 }[keys.integ];
  return Buffer.concat([body, createHmac(hash, keys.integKeyOut).update(body).digest().subarray(0, icvLen)]);
}

describe('ESP SA transforms (RFC 4303, RFC 4106)', () => {
  for (const s of ALL_SUITES) {
    const name = `${s.encr.name}-${s.encr.keyBits}${s.integ === 'none' ? '' : '/' + s.integ}`;
    it(`${name}: round trip for payload sizes 0..70, sequence 1, 2, 3, ...`, () => {
      const { out, inb } = sa(s);
      for (let len = 0; len <= 70; len++) {
        const payload = Buffer.alloc(len, len);
        const pkt = out.protect(payload, 4)!;
        assert.equal(pkt.readUInt32BE(4), len + 1);
        const block = s.encr.name === 'aes-gcm16' ? 4 : 16;
        const icv = { none: 16, 'sha1-96': 12, 'sha256-128': 16, 'sha384-192': 24, 'sha512-256': 32 }[s.integ];
        const iv = s.encr.name === 'aes-gcm16' ? 8 : 16;
        assert.equal((pkt.length - 8 - iv - icv) % block, 0, 'ciphertext aligned');
        assert.ok(pkt.length - 8 - iv - icv - len - 2 < block, 'minimal padding');
        const r = inb.unprotect(pkt);
        assert.ok(typeof r !== 'string', `len ${len}: ${r}`);
        assert.deepEqual(r.payload, payload);
        assert.equal(r.nextHeader, 4);
      }
      assert.equal(inb.packets, 71);
      assert.equal(out.packets, 71);
    });

    it(`${name}: accepts a packet encoded independently from the RFC`, () => {
      const { inb, c } = sa(s);
      const block = s.encr.name === 'aes-gcm16' ? 4 : 16;
      const payload = Buffer.from('hello, esp');
      const padLen = (block - ((payload.length + 2) % block)) % block;
      const pad = Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1));
      const r = inb.unprotect(encodeByHand(c, 1, Buffer.concat([payload, pad, Buffer.from([padLen, 41])])));
      assert.ok(typeof r !== 'string', String(r));
      assert.deepEqual(r.payload, payload);
      assert.equal(r.nextHeader, 41);
    });

    it(`${name}: any flipped bit is an auth failure, a replay is a replay`, () => {
      const { out, inb } = sa(s);
      const pkt = out.protect(Buffer.alloc(40, 1), 4)!;
      for (let i = 4; i < pkt.length; i += 3) {
        const bad = Buffer.from(pkt);
        bad[i] ^= 0x04; // (0x01 on the last seq byte would make seq 0: a replay, not a forgery)
        assert.equal(inb.unprotect(bad), 'auth', `byte ${i}`);
      }
      assert.ok(typeof inb.unprotect(pkt) !== 'string');
      assert.equal(inb.unprotect(pkt), 'replay');
    });
  }

  it('authentic packet with wrong padding bytes is dropped as padding', () => {
    for (const s of [ALL_SUITES[0], ALL_SUITES[4]]) {
      const { inb, c } = sa(s);
      const block = s.encr.name === 'aes-gcm16' ? 4 : 16;
      const payload = Buffer.alloc(block === 4 ? 3 : 11, 9); // needs 3 pad bytes
      const r = inb.unprotect(encodeByHand(c, 1, Buffer.concat([payload, Buffer.from([1, 2, 4, 3, 4])])));
      assert.equal(r, 'padding');
      const tooLong = inb.unprotect(encodeByHand(c, 2, Buffer.concat([payload, Buffer.from([1, 2, 3, 200, 4])])));
      assert.equal(tooLong, 'padding');
    }
  });

  it('truncated or misaligned packets are malformed', () => {
    const { out, inb } = sa();
    const pkt = out.protect(Buffer.alloc(20), 4)!;
    assert.equal(inb.unprotect(pkt.subarray(0, 20)), 'malformed');
    assert.equal(inb.unprotect(pkt.subarray(0, pkt.length - 1)), 'malformed');
  });

  it('sequence number 0 is never accepted', () => {
    const { inb, c } = sa();
    assert.equal(inb.unprotect(encodeByHand(c, 0, Buffer.from([1, 2, 2, 4]))), 'replay');
  });

  it('without ESN the sender stops at 2^32 - 1', () => {
    const { out } = sa();
    out.seq = 2 ** 32 - 2;
    assert.ok(out.protect(Buffer.alloc(8), 4));
    assert.equal(out.protect(Buffer.alloc(8), 4), undefined);
  });

  for (const s of [ALL_SUITES[0], ALL_SUITES[4]]) {
    it(`ESN (${s.encr.name}): crosses 2^32, high bits authenticated but not sent`, () => {
      const { out, inb } = sa({ ...s, esn: true, replayWindow: 32 });
      out.seq = 2 ** 32 - 5;
      inb.window.accept(2 ** 32 - 5);
      const pkts = Array.from({ length: 10 }, () => out.protect(Buffer.alloc(16, 3), 4)!);
      assert.equal(pkts[4].readUInt32BE(4), 0, 'low half wraps to 0');
      // Deliver out of order around the wrap.
      for (const i of [1, 0, 5, 4, 3, 2, 9, 6, 8, 7]) {
        const r = inb.unprotect(pkts[i]);
        assert.ok(typeof r !== 'string', `pkt ${i}: ${r}`);
        assert.equal(r.seq, 2 ** 32 - 4 + i);
      }
      assert.equal(inb.window.top, 2 ** 32 + 5);
      assert.equal(inb.unprotect(pkts[3]), 'replay');
      // The high half is authenticated: a receiver without ESN (same keys) rejects the packet.
      assert.equal(sa({ ...s, esn: false }).inb.unprotect(pkts[5]), 'auth');
    });
  }
});
