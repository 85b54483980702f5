import assert from 'node:assert/strict';
import { buildEcho, internetChecksum, makeEchoReply, parseEcho, setEchoSeq } from '../../../src/engine/ping/icmp.js';
import { addrBytes } from '../../../src/engine/esp/addr.js';

describe('ICMP echo packets', () => {
  it('checksum matches the RFC 1071 §3 example', () => {
    // 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2; the checksum is its complement.
    assert.equal(internetChecksum(Buffer.from('0001f203f4f5f6f7', 'hex')), 0x220d);
  });

  it('IPv4 echo request: a known-good packet', () => {
    // 10.0.0.1 -> 10.0.0.2, id 0x1234, seq 1, payload 00 01 02 03. Checksums by hand:
    // IP header words sum to 0x9924 -> 0x66db; ICMP words sum to 0x1c39 -> 0xe3c6.
    const p = buildEcho(addrBytes('10.0.0.1'), addrBytes('10.0.0.2'), true, 0x1234, 1, 4);
    assert.equal(p.toString('hex'), '4500002000000000400166db0a0000010a000002' + '0800e3c6123400010001' + '0203');
  });

  for (const [src, dst] of [['10.0.0.1', '10.9.8.7'], ['2001:db8::1', '2001:db8:1::99']]) {
    it(`build, parse and reply (${src})`, () => {
      const req = buildEcho(addrBytes(src), addrBytes(dst), true, 77, 5, 100);
      const info = parseEcho(req);
      assert.ok(info);
      assert.equal(info.isRequest, true);
      assert.equal(info.id, 77);
      assert.equal(info.seq, 5);
      setEchoSeq(req, 6);
      assert.equal(parseEcho(req)?.seq, 6);
      const reply = makeEchoReply(Buffer.from(req), parseEcho(req)!);
      const r = parseEcho(reply);
      assert.ok(r);
      assert.equal(r.isRequest, false);
      assert.equal(r.seq, 6);
      const off = r.family === 4 ? 12 : 8;
      const len = r.family === 4 ? 4 : 16;
      assert.deepEqual(reply.subarray(off, off + len), addrBytes(dst));
      // Any flipped bit breaks a checksum, so the parser refuses the packet.
      for (const i of [r.family === 4 ? 15 : 30, reply.length - 1]) {
        const bad = Buffer.from(reply);
        bad[i] ^= 0x10;
        assert.equal(parseEcho(bad), undefined, `flip at ${i}`);
      }
    });
  }

  it('ICMPv6 checksum covers the pseudo-header (addresses)', () => {
    const a = buildEcho(addrBytes('2001:db8::1'), addrBytes('2001:db8::2'), true, 1, 1, 8);
    const b = buildEcho(addrBytes('2001:db8::1'), addrBytes('2001:db8::3'), true, 1, 1, 8);
    assert.notEqual(a.readUInt16BE(42), b.readUInt16BE(42));
  });
});
