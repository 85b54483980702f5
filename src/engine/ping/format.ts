// Text form of the ping summary (`myikev2 cli psummary`): totals, then one
// row per tunnel; tunnels above maxlossrate are marked.
import type { PingSummary } from './ping-test.js';

export function formatPingSummary(s: PingSummary, onlyTunnel?: number): string {
  if (!s.enabled) return `ping test disabled (pingconf.destaddr is empty); echo requests answered: ${s.answered}`;
  const t = s.total;
  const lines = [
    `ping every ${s.intervalMs} ms, ${s.pktlen} bytes, max loss ${s.maxlossrate}%`,
    `total: ${t.tunnels} tunnels, sent ${t.sent}, received ${t.received}, lost ${t.lost} (${t.lossPct.toFixed(2)}%), in flight ${t.inFlight}, over max loss ${t.tunnelsOverMaxLoss}, answered ${s.answered}`,
  ];
  const rows = s.tunnels.filter((p) => onlyTunnel === undefined || p.tunnelId === onlyTunnel);
  if (onlyTunnel !== undefined && rows.length === 0) lines.push(`tunnel ${onlyTunnel}: not pinging (not up yet, or no such tunnel)`);
  if (rows.length) lines.push('tunnel  source -> destination                 sent    recv    lost  loss%   rtt avg/max ms');
  for (const p of rows) {
    const flag = p.error ? `  ${p.error}` : p.lossPct > s.maxlossrate ? '  OVER MAX LOSS' : p.unroutable ? `  ${p.unroutable} unroutable` : '';
    lines.push(
      `${String(p.tunnelId).padStart(6)}  ${`${p.src} -> ${p.dst}`.padEnd(36)} ${String(p.sent).padStart(7)} ${String(p.received).padStart(7)} ${String(p.lost).padStart(7)} ${p.lossPct.toFixed(2).padStart(6)}  ${p.rttAvgMs.toFixed(1)}/${p.rttMaxMs.toFixed(1)}${flag}`,
    );
  }
  return lines.join('\n');
}
