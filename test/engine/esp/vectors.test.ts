// Published ESP packets: the AES-GCM test cases of draft-mcgrew-gcm-test-01
// §4 ("Test Cases for the use of GCM and GMAC in IPsec ESP"), the ones
// without extended sequence numbers (8-byte AAD = SPI || seq). Each is fed
// to our receiver as the packet another implementation built.
import assert from 'node:assert/strict';
import { InboundSa } from '../../../src/engine/esp/esp-sa.js';
import { keyPair } from './fixtures.js';

const h = (s: string) => Buffer.from(s, 'hex');

const CASES = [
  {
    name: 'test case 2 (AES-192)',
    key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c',
    nonce: 'cafebabefacedbaddecaf888',
    aad: '0000a5f80000000a',
    plaintext: '45000028a4ad4000400678800a01038f0a010612802306b8cb712602dd6bb03e501016d075680001',
    ciphertext: 'a5b1f8066029aea40e598b8122de02420938b3ab33f828e687b8858b5bfbdbd0315b27452144cc77',
    tag: '95457b9652037f5318027b5b4cd7a636',
  },
  {
    name: 'test case 3 (AES-256)',
    key: 'abbccddef00112233445566778899aababbccddef00112233445566778899aab',
    nonce: '112233440102030405060708',
    aad: '4a2cbfe300000002',
    plaintext: '4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b40101040201020201',
    ciphertext: 'ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763748a637985771d347f0545659f14e99def842d8e',
    tag: 'b335f4eecfdbf831824b4c4915956c96',
  },
  {
    name: 'test case 4 (AES-128, zero key)',
    key: '00000000000000000000000000000000',
    nonce: '000000000000000000000000',
    aad: '0000000000000001',
    plaintext: '4500003c99c500008001cb7a40679318010101010800075c020044006162636465666768696a6b6c6d6e6f7071727374757677616263646566676869' + '01020201', // ... padding 01 02, pad length 2, next header 1
    ciphertext: '4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3',
    tag: 'f821d496eeb096e98ad2b69e4799c71d',
  },
  {
    name: 'test case 5 (AES-128, seq 2^32 - 1, empty payload)',
    key: '7d773d00c144c525ac619d18c84a3f47',
    nonce: 'd966426743457e9182443bc6',
    aad: '335467aeffffffff',
    plaintext: '01020201',
    ciphertext: '437f866b',
    tag: 'cb3f699fe9b0822bac961c4504bef270',
  },
];

describe('ESP receive: published AES-GCM test packets (draft-mcgrew-gcm-test-01 §4)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const keyBits = (c.key.length * 4) as 128 | 192 | 256;
      const [, base] = keyPair({ encr: { name: 'aes-gcm16', keyBits } });
      const aad = h(c.aad);
      const inb = new InboundSa({ ...base, spiIn: aad.readUInt32BE(0), encKeyIn: Buffer.concat([h(c.key), h(c.nonce).subarray(0, 4)]), replayWindow: 64 });
      // ESP packet: SPI || seq (the AAD) || IV (nonce after the salt) || ciphertext || ICV
      const packet = Buffer.concat([aad, h(c.nonce).subarray(4), h(c.ciphertext), h(c.tag)]);
      const r = inb.unprotect(packet);
      assert.ok(typeof r !== 'string', `dropped: ${r}`);
      const pt = h(c.plaintext);
      const padLen = pt[pt.length - 2];
      assert.deepEqual(r.payload, pt.subarray(0, pt.length - 2 - padLen));
      assert.equal(r.nextHeader, pt[pt.length - 1]);
      assert.equal(r.seq, aad.readUInt32BE(4));
      // The same packet again is a replay; one flipped tag bit is a forgery.
      assert.equal(inb.unprotect(packet), 'replay');
      const forged = Buffer.from(packet);
      forged[forged.length - 1] ^= 1;
      assert.equal(new InboundSa({ ...base, spiIn: aad.readUInt32BE(0), encKeyIn: Buffer.concat([h(c.key), h(c.nonce).subarray(0, 4)]), replayWindow: 64 }).unprotect(forged), 'auth');
    });
  }
});
