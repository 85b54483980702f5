// The engine's results: tunnels configured / created / live, setup rate,
// errors, ping figures; printed at the end (text or JSON) and served by the API.
import type { PingSummary } from '../esp/data-plane.js';
import type { EngineRuntime } from './runtime.js';

export interface EngineSummary {
  role: 'client' | 'gateway';
  desc: string;
  startedAt: string;
  uptimeMs: number;
  state: 'running' | 'stopping';
  tunnels: { configured: number; created: number; live: number; connecting: number; failed: number; reconnects: number };
  setup: { durationMs: number; ratePerSec: number };
  ike: { sas: number; established: number; childSas: number; retransmits: number };
  io: Record<string, number>;
  memory: { rssKb: number; heapUsedKb: number; externalKb: number; sockets: number };
  errors: { count: number; last: { at: string; tunnelId?: number; message: string }[] };
  ping?: PingSummary;
  /** False when tunnels failed or ping loss exceeded maxlossrate: `exec` exits 1. */
  ok: boolean;
}

export function buildSummary(rt: EngineRuntime): EngineSummary {
  const s = rt.setup;
  const liveTunnels = new Set<number>();
  let established = 0;
  let childSas = 0;
  let retransmits = rt.engine.stats.retransmitsClosed;
  for (const sa of rt.engine.sas.values()) {
    retransmits += sa.stats.retransmits;
    childSas += sa.children.length;
    if (sa.state === 'established') {
      established++;
      if (sa.children.length) liveTunnels.add(sa.tunnelId);
    }
  }
  const client = s.role === 'client';
  const created = client ? rt.created : rt.gatewayCreated.size;
  const durationMs = client && rt.lastFirstUpAt ? rt.lastFirstUpAt - rt.firstStartAt : rt.gatewayLastUpAt && rt.gatewayFirstAt ? rt.gatewayLastUpAt - rt.gatewayFirstAt : 0;
  const ping = rt.dp?.pingSummary();
  // at the end, a tunnel that never came up has failed, retries left or not
  const hasFailed = (t: (typeof rt.tunnels)[number]) => t.state === 'failed' || (!!rt.stopping && !t.upAt);
  const failed = rt.tunnels.filter(hasFailed).length;
  // any one tunnel above maxlossrate fails the run, not only the total (issue 8)
  const lossBad = !!ping?.enabled && ping.total.sent > 0 && (ping.total.lossPct > ping.maxlossrate || ping.total.tunnelsOverMaxLoss > 0);
  return {
    role: s.role,
    desc: s.desc,
    startedAt: new Date(rt.startedAt).toISOString(),
    uptimeMs: Date.now() - rt.startedAt,
    state: rt.stopping ? 'stopping' : 'running',
    tunnels: {
      configured: s.numberoftunnels,
      created,
      live: rt.atStop?.live ?? liveTunnels.size,
      connecting: rt.tunnels.filter((t) => (t.state === 'connecting' || t.state === 'down' || t.state === 'waiting') && !hasFailed(t)).length,
      failed,
      reconnects: rt.tunnels.reduce((a, t) => a + t.reconnects, 0),
    },
    setup: { durationMs, ratePerSec: durationMs > 0 ? Math.round((created / (durationMs / 1000)) * 10) / 10 : created },
    ike: { ...(rt.atStop?.ike ?? { sas: rt.engine.sas.size, established, childSas }), retransmits },
    io: { ...rt.io.counters },
    memory: (() => {
      const m = process.memoryUsage();
      return { rssKb: Math.round(m.rss / 1024), heapUsedKb: Math.round(m.heapUsed / 1024), externalKb: Math.round(m.external / 1024), sockets: rt.io.size };
    })(),
    errors: { count: rt.errorCount, last: rt.errors.slice(-10).map((e) => ({ ...e, at: new Date(e.at).toISOString() })) },
    ping: ping?.enabled ? ping : undefined,
    ok: created >= s.numberoftunnels && failed === 0 && !lossBad,
  };
}

export function formatSummary(x: EngineSummary): string {
  const lines = [
    `role ${x.role}${x.desc ? ` (${x.desc})` : ''}, up ${(x.uptimeMs / 1000).toFixed(1)} s, ${x.state}`,
    `tunnels: configured ${x.tunnels.configured}, created ${x.tunnels.created}, live ${x.tunnels.live}, connecting ${x.tunnels.connecting}, failed ${x.tunnels.failed}, reconnects ${x.tunnels.reconnects}`,
    `setup: ${x.setup.ratePerSec} tunnels/s (${x.tunnels.created} in ${(x.setup.durationMs / 1000).toFixed(3)} s)`,
    `IKE SAs ${x.ike.sas} (established ${x.ike.established}), CHILD SAs ${x.ike.childSas}, retransmits ${x.ike.retransmits}`,
  ];
  if (x.ping) {
    const t = x.ping.total;
    lines.push(`ping: sent ${t.sent}, received ${t.received}, lost ${t.lost} (${t.lossPct.toFixed(2)}%, max ${x.ping.maxlossrate}%), tunnels over max ${t.tunnelsOverMaxLoss}`);
  }
  lines.push(`errors: ${x.errors.count}`);
  for (const e of x.errors.last) lines.push(`  ${e.at}${e.tunnelId ? ` tunnel ${e.tunnelId}` : ''}: ${e.message}`);
  lines.push(`result: ${x.ok ? 'OK' : 'FAILED'}`);
  return lines.join('\n');
}
