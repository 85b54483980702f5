// psummary and clearping (the built-in ping test of the data plane).
import type { PingSummary } from '../../esp/data-plane.js';
import { registerCliCommand } from '../commands.js';

registerCliCommand({
  name: 'psummary',
  usage: 'psummary',
  help: 'ping test: sent/received/lost per tunnel and in total',
  async run(ctx) {
    const s = await ctx.client.request<PingSummary>('ping.summary');
    if (ctx.json) ctx.print(JSON.stringify(s, null, 2));
    else if (!s.enabled) ctx.print('ping test disabled (pingconf.destaddr is empty)');
    else {
      const t = s.total;
      const lines = [`total: tunnels ${t.tunnels}, sent ${t.sent}, received ${t.received}, lost ${t.lost} (${t.lossPct.toFixed(2)}%), over max loss ${t.tunnelsOverMaxLoss}`];
      for (const p of s.tunnels) lines.push(`  tunnel ${p.tunnelId}: sent ${p.sent} received ${p.received}${p.error ? ` (${p.error})` : ''}`);
      ctx.print(lines.join('\n'));
    }
    return 0;
  },
});

registerCliCommand({
  name: 'clearping',
  usage: 'clearping',
  help: 'reset the ping counters',
  async run(ctx) {
    await ctx.client.request('ping.clear');
    ctx.print('ping counters cleared');
    return 0;
  },
});
