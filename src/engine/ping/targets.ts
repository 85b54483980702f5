// Which configured ping target a gateway's tunnel has. pingconf names one
// target per client tunnel, destaddr + k × deststep (k < numberoftunnels);
// a gateway numbers tunnels as they arrive, which is not the clients' order
// (concurrent set-up, reconnects), so it finds a tunnel's target by where it
// lies: inside the client's negotiated selector. Pure.
import type { TsRange } from '../child-sa.js';
import { addrBytes } from '../esp/addr.js';

const value = (bytes: Buffer) => BigInt('0x' + bytes.toString('hex'));

/**
 * The k (0 ≤ k < count) of the one target `destaddr + k × step` that lies
 * inside the selectors; undefined when none or several do (e.g. a selector
 * covering the whole address space). Targets past the end of the address
 * space are not matched.
 */
export function targetIndexInTs(destaddr: string, step: number, count: number, selectors: readonly TsRange[]): number | undefined {
  const dest = addrBytes(destaddr);
  const family = dest.length === 4 ? 4 : 6;
  const d = value(dest);
  const s = BigInt(step);
  const last = BigInt(count - 1);
  let found: bigint | undefined;
  for (const ts of selectors) {
    if (ts.family !== family) continue;
    const [a, b] = [value(addrBytes(ts.startAddr)), value(addrBytes(ts.endAddr))];
    let lo: bigint;
    let hi: bigint;
    if (s === 0n) [lo, hi] = a <= d && d <= b ? [0n, last] : [1n, 0n];
    else {
      lo = d >= a ? 0n : (a - d + s - 1n) / s; // first k at or above a
      hi = b < d ? -1n : (b - d) / s; // last k at or below b
      if (hi > last) hi = last;
    }
    if (lo > hi) continue;
    if (lo < hi || (found !== undefined && found !== lo)) return undefined;
    found = lo;
  }
  return found === undefined ? undefined : Number(found);
}
