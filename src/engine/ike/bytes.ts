// Small Buffers from Buffer.from/concat/randomBytes are slices of shared 8 KB
// pool slabs: keeping one slice alive keeps its whole slab. Long-lived bytes
// (SPIs, keys, the last response) get their own memory, so thousands of SAs
// do not pin megabytes of slabs.
export function own(b: Buffer): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}

/** Copies several buffers into one owned allocation; returns views on it. */
export function ownAll(parts: Buffer[]): Buffer[] {
  const all = own(Buffer.concat(parts));
  let off = 0;
  return parts.map((p) => all.subarray(off, (off += p.length)));
}
