import assert from 'node:assert/strict';
import { ReplayWindow } from '../../../src/engine/esp/replay-window.js';

/** check-then-accept, as the receive path does. */
function offer(w: ReplayWindow, seq: number): boolean {
  if (!w.check(seq)) return false;
  w.accept(seq);
  return true;
}

describe('ReplayWindow (RFC 4303 §3.4.3, Appendix A)', () => {
  for (const size of [32, 64, 100, 256, 1024]) {
    it(`size ${size}: edges of the window`, () => {
      const w = new ReplayWindow(size);
      const top = size * 3 + 7;
      assert.ok(offer(w, top));
      assert.equal(w.top, top);
      // Lowest in-window number (top - size + 1) is accepted once; one below is dropped.
      assert.ok(offer(w, top - size + 1), 'left edge inside the window');
      assert.equal(offer(w, top - size + 1), false, 'left edge replayed');
      assert.equal(offer(w, top - size), false, 'just left of the window');
      assert.equal(offer(w, top), false, 'top replayed');
      assert.ok(offer(w, top - 1));
      assert.ok(offer(w, top + 1), 'right of the window slides it');
      assert.equal(w.top, top + 1);
      assert.equal(offer(w, top - size + 1), false, 'fell out of the window after the slide');
      assert.equal(offer(w, top - 1), false, 'still remembered after the slide');
    });
  }

  it('accepts any order inside the window exactly once', () => {
    const w = new ReplayWindow(64);
    const order = [5, 3, 1, 2, 4, 10, 9, 8, 70, 7, 69, 40, 41];
    for (const s of order) assert.ok(offer(w, s), `first ${s}`);
    for (const s of [70, 69, 40, 41, 10, 9, 8, 7]) assert.equal(offer(w, s), false, `replay ${s}`);
    assert.equal(offer(w, 6), false, '6 is left of [7, 70]');
    assert.ok(offer(w, 11));
  });

  it('a jump larger than the ring forgets everything older', () => {
    const w = new ReplayWindow(64);
    for (let s = 1; s <= 64; s++) assert.ok(offer(w, s));
    assert.ok(offer(w, 10_000));
    for (let s = 10_000 - 63; s < 10_000; s++) assert.ok(offer(w, s), `new window slot ${s}`);
    assert.equal(offer(w, 10_000 - 64), false);
  });

  it('jumps that almost wrap the ring clear stale bits (no false replays)', () => {
    const w = new ReplayWindow(32); // ring of 64 bits
    for (const start of [1, 33, 40, 63]) {
      const v = new ReplayWindow(32);
      assert.ok(offer(v, start));
      for (let jump = 1; jump < 200; jump++) {
        const u = new ReplayWindow(32);
        for (let s = Math.max(1, start - 31); s <= start; s++) assert.ok(offer(u, s));
        assert.ok(offer(u, start + jump), `jump ${jump}`);
        for (let s = Math.max(1, start + jump - 31); s < start + jump; s++) {
          const wasSeen = s <= start;
          assert.equal(offer(u, s), !wasSeen, `start ${start} jump ${jump} seq ${s}`);
        }
      }
    }
    assert.ok(offer(w, 1));
  });

  it('size 0 disables the check', () => {
    const w = new ReplayWindow(0);
    assert.ok(offer(w, 5));
    assert.ok(offer(w, 5));
    assert.ok(offer(w, 1));
  });

  it('works across 2^32 (64-bit ESN values)', () => {
    const w = new ReplayWindow(64);
    const base = 2 ** 32 - 10;
    for (let s = base; s < base + 20; s++) assert.ok(offer(w, s));
    assert.equal(offer(w, base + 5), false);
    assert.equal(w.top, base + 19);
  });
});
