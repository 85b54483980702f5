import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { prf, prfPlus } from '../../../src/engine/ike/crypto/prf.js';
import { prfByName, encrByName, integByName } from '../../../src/engine/ike/crypto/algorithms.js';
import { createDhKey, DH_GROUPS, DhError } from '../../../src/engine/ike/crypto/dh.js';
import { deriveIkeKeys, deriveChildKeys } from '../../../src/engine/ike/crypto/keys.js';
import { openSk, sealSk } from '../../../src/engine/ike/crypto/sk-cipher.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('IKE crypto', () => {
  it('PRF HMAC-SHA2 matches RFC 4231 test cases 1 and 2', () => {
    const key1 = Buffer.alloc(20, 0x0b);
    const data1 = Buffer.from('Hi There');
    assert.equal(prf(prfByName('sha256'), key1, data1).toString('hex'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
    assert.equal(prf(prfByName('sha384'), key1, data1).toString('hex'), 'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6');
    assert.equal(
      prf(prfByName('sha512'), key1, data1).toString('hex'),
      '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
    );
    assert.equal(prf(prfByName('sha256'), Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('prf+ is T1 | T2 | … with Tn = prf(K, Tn-1 | S | n)', () => {
    const alg = prfByName('sha256');
    const k = Buffer.alloc(20, 0x0b);
    const s = Buffer.from('Hi There');
    // RFC 4231 case 1 is prf(K, "Hi There"); T1 is prf(K, S | 0x01), built here independently
    const t1 = prf(alg, k, Buffer.concat([s, Buffer.from([1])]));
    const t2 = prf(alg, k, Buffer.concat([t1, s, Buffer.from([2])]));
    const out = prfPlus(alg, k, s, 50);
    assert.deepEqual(out, Buffer.concat([t1, t2]).subarray(0, 50));
    assert.throws(() => prfPlus(alg, k, s, 255 * 32 + 1));
  });

  it('X25519 (group 31) matches RFC 7748 §6.1', () => {
    const alice = createDhKey(31, hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    assert.equal(alice.publicValue.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    const shared = alice.compute(hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'));
    assert.equal(shared.toString('hex'), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
    assert.throws(() => alice.compute(Buffer.alloc(32)), DhError, 'low-order point gives an all-zero secret');
  });

  it('every group agrees on the shared secret and checks public values', () => {
    for (const g of DH_GROUPS) {
      const a = createDhKey(g);
      const b = createDhKey(g);
      assert.deepEqual(a.compute(b.publicValue), b.compute(a.publicValue), `group ${g}`);
      assert.throws(() => a.compute(Buffer.alloc(3)), DhError);
      if (g >= 19 && g <= 21) assert.throws(() => a.compute(Buffer.alloc(a.publicValue.length, 1)), DhError, `off-curve point, group ${g}`);
      if (g <= 16) assert.throws(() => a.compute(Buffer.concat([Buffer.alloc(a.publicValue.length - 1), Buffer.from([1])])), DhError, 'y = 1');
    }
  });

  it('derives IKE and CHILD keys with the lengths of the suite', () => {
    const suite = { encr: encrByName('aes-gcm16:256'), prf: prfByName('sha384'), dhGroup: 20 };
    const { keys } = deriveIkeKeys(suite, randomBytes(48), randomBytes(32), randomBytes(32), randomBytes(8), randomBytes(8));
    assert.equal(keys.skD.length, 48);
    assert.equal(keys.skEi.length, 36, 'GCM key plus 4-byte salt');
    assert.equal(keys.skAi.length, 0);
    const c = deriveChildKeys(prfByName('sha256'), randomBytes(32), randomBytes(32), randomBytes(32), 16, 32);
    assert.equal(c.encI.length, 16);
    assert.equal(c.integR.length, 32);
  });

  for (const [encr, integ] of [['aes-cbc:128', 'sha256'], ['aes-cbc:256', 'sha512'], ['aes-gcm16:128', undefined], ['aes-gcm16:256', undefined]] as const) {
    it(`SK payload seals and opens with ${encr}${integ ? '/' + integ : ''}, and rejects tampering`, () => {
      const e = encrByName(encr);
      const k = { encr: e, integ: integ ? integByName(integ) : undefined, encKey: randomBytes(e.keyMatLen), integKey: integ ? randomBytes(integByName(integ).keyLen) : Buffer.alloc(0) };
      const aad = randomBytes(32);
      const plain = randomBytes(77);
      const body = sealSk(k, plain, aad, randomBytes(e.ivLen));
      assert.deepEqual(openSk(k, body, aad), plain);
      const bad = Buffer.from(body);
      bad[bad.length - 20] ^= 1;
      assert.equal(openSk(k, bad, aad), undefined);
      assert.equal(openSk(k, body, randomBytes(32)), undefined);
      assert.equal(openSk(k, body.subarray(0, 10), aad), undefined);
    });
  }
});
