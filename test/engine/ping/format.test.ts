import assert from 'node:assert/strict';
import { formatPingSummary } from '../../../src/engine/ping/format.js';
import type { PingSummary } from '../../../src/engine/ping/ping-test.js';

const tunnel = (id: number, lost: number) => ({ tunnelId: id, src: `10.1.0.${id}`, dst: '10.2.0.1', sent: 20, received: 20 - lost, lost, inFlight: 0, late: 0, duplicates: 0, unroutable: 0, lossPct: (100 * lost) / 20, rttAvgMs: 1.25, rttMaxMs: 3 });
const summary: PingSummary = {
  enabled: true,
  intervalMs: 1000,
  pktlen: 64,
  maxlossrate: 10,
  tunnels: [tunnel(1, 0), tunnel(2, 5)],
  total: { tunnels: 2, sent: 40, received: 35, lost: 5, inFlight: 0, lossPct: 12.5, tunnelsOverMaxLoss: 1 },
  answered: 0,
};

describe('psummary text', () => {
  it('totals, one row per tunnel, tunnels over the limit marked', () => {
    const text = formatPingSummary(summary);
    assert.match(text, /total: 2 tunnels, sent 40, received 35, lost 5 \(12\.50%\)/);
    const rows = text.split('\n').filter((l) => /^\s+\d+ {2}10\.1/.test(l));
    assert.equal(rows.length, 2);
    assert.doesNotMatch(rows[0], /OVER/);
    assert.match(rows[1], /25\.00 {2}1\.3\/3\.0 {2}OVER MAX LOSS$/);
  });

  it('-t N shows one tunnel, or says it is not pinging', () => {
    assert.equal(formatPingSummary(summary, 2).split('\n').filter((l) => /10\.1\.0\./.test(l)).length, 1);
    assert.match(formatPingSummary(summary, 9), /tunnel 9: not pinging/);
    assert.match(formatPingSummary({ ...summary, enabled: false }), /disabled/);
  });
});
