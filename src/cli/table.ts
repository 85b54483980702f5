// Plain text for summaries: tables (aligned columns, no borders) and durations.
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** How long this command has taken so far, from its process's start (what the user waited). */
export function elapsed(): string {
  return `${(performance.now() / 1000).toFixed(1)} s`;
}
