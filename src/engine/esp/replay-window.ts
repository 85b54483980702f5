// Anti-replay window (RFC 4303 §3.4.3 and Appendix A). The window covers
// [top - size + 1, top]; a bitmap of 32-bit words is used as a ring, so
// sliding forward only clears the words that come into view (RFC 6479).

export class ReplayWindow {
  /** Highest sequence number accepted so far (0 = none yet). */
  top = 0;
  private readonly bits: Uint32Array;
  private readonly ringBits: number;

  constructor(readonly size: number) {
    // One spare word so that the oldest in-window bit is never overwritten by the newest.
    const words = size > 0 ? Math.ceil(size / 32) + 1 : 1;
    this.bits = new Uint32Array(words);
    this.ringBits = words * 32;
  }

  /** Pre-check (before the ICV is verified): may `seq` be new? Does not change the window. */
  check(seq: number): boolean {
    if (this.size === 0) return true;
    if (seq > this.top) return true;
    if (seq + this.size <= this.top) return false; // left of the window
    const bit = seq % this.ringBits;
    return (this.bits[bit >>> 5] & (1 << (bit & 31))) === 0;
  }

  /** Marks `seq` as received (after the ICV is verified) and slides the window. */
  accept(seq: number): void {
    if (this.size === 0) {
      if (seq > this.top) this.top = seq;
      return;
    }
    if (seq > this.top) {
      const diff = seq - this.top;
      if (diff >= this.ringBits - 32) {
        // The whole old window falls out of view (size <= ringBits - 32).
        this.bits.fill(0);
      } else {
        // Clear the words that the advance brings into view.
        let word = (this.top % this.ringBits) >>> 5;
        const last = (seq % this.ringBits) >>> 5;
        const n = this.bits.length;
        while (word !== last) {
          word = (word + 1) % n;
          this.bits[word] = 0;
        }
      }
      this.top = seq;
    }
    const bit = seq % this.ringBits;
    this.bits[bit >>> 5] |= 1 << (bit & 31);
  }
}
