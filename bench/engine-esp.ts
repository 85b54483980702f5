// Micro-benchmark of the user-space ESP data path (no network): packets per
// second through protect+unprotect per suite, and data-plane memory per
// installed CHILD SA. Bounded: ~1 s per suite, 5,000 SAs.
// Run: npm run build && node --expose-gc dist/bench/engine-esp.js
import { performance } from 'node:perf_hooks';
import { DataPlane } from '../src/engine/esp/data-plane.js';
import { InboundSa, OutboundSa } from '../src/engine/esp/esp-sa.js';
import { randomFillSync } from 'node:crypto';
import { ALL_SUITES, keyPair, pingConf } from '../test/engine/esp/fixtures.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function suiteRate(s: (typeof ALL_SUITES)[number], payloadLen: number): number {
  const [c, g] = keyPair(s);
  const out = new OutboundSa(c, (b) => randomFillSync(b));
  const inb = new InboundSa(g);
  const payload = Buffer.alloc(payloadLen, 1);
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 1000 && n < 2_000_000) {
    for (let i = 0; i < 500; i++) {
      const r = inb.unprotect(out.protect(payload, 4)!);
      if (typeof r === 'string') throw new Error(r);
    }
    n += 500;
  }
  return n / ((performance.now() - t0) / 1000);
}

console.log('ESP protect+unprotect (one core), packets/s:');
for (const len of [92, 1400]) {
  for (const s of ALL_SUITES.filter((x) => x.encr.keyBits !== 192 && (x.integ === 'none' || x.integ === 'sha256-128' || x.integ === 'sha1-96'))) {
    const name = `${s.encr.name}-${s.encr.keyBits}${s.integ === 'none' ? '' : '/' + s.integ}`;
    console.log(`  ${name.padEnd(24)} ${String(len).padStart(5)} B  ${Math.round(suiteRate(s, len)).toLocaleString('en')}`);
  }
}

const N = 5000;
gc();
const m0 = process.memoryUsage();
const dp = new DataPlane({ role: 'client', send: () => {}, now: () => 0, ping: pingConf() });
for (let t = 1; t <= N; t++) dp.install(keyPair({ tunnelId: t, encr: { name: 'aes-gcm16', keyBits: 128 } })[0]);
gc();
const m1 = process.memoryUsage();
const kb = (a: number, b: number) => ((b - a) / N / 1024).toFixed(2);
console.log(`data plane memory per tunnel (1 CHILD SA + ping state, aes-gcm16, ${N} tunnels): heap ${kb(m0.heapUsed, m1.heapUsed)} KB, external ${kb(m0.external, m1.external)} KB, rss ${kb(m0.rss, m1.rss)} KB`);
if (dp.stats().children !== N) throw new Error('install count');
