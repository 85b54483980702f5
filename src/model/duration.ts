// Durations as the original tool writes them (Go style): "100ms", "3s",
// "5m", "2h", "1h30m", "1.5s", "0s" (or "0").

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;

/** Milliseconds, or null when the text is not a duration. */
export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  if (text.length === 0) return null;
  PART.lastIndex = 0;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) return null;
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = PART.lastIndex;
  }
  return Math.round(total);
}

export const DURATION_EXPECTED = 'a duration such as "100ms", "3s", "5m", "2h" or "1h30m"';

/** The longest a timer waits: Node's setTimeout fires at once (after 1 ms) beyond 2^31-1 ms, 24.8 days. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
export const MAX_DURATION_EXPECTED = 'at most 596h, about 24 days: the longest a timer waits';
