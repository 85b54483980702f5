// psummary and clearping (the built-in ping test of the data plane).
import type { PingSummary } from '../../esp/data-plane.js';
import { formatPingSummary } from '../../ping/format.js';
import { parseFlags, registerCliCommand, tunnelParam } from '../commands.js';

registerCliCommand({
  name: 'psummary',
  usage: 'psummary [-t N]',
  help: 'ping test: sent/received/lost/loss%/RTT per tunnel (or tunnel N) and in total',
  async run(ctx, args) {
    const { tunnel } = tunnelParam(parseFlags(args, { value: ['-t'] }).flags);
    const s = await ctx.client.request<PingSummary>('ping.summary');
    if (ctx.json) ctx.print(JSON.stringify(tunnel === undefined ? s : { ...s, tunnels: s.tunnels.filter((p) => p.tunnelId === tunnel) }, null, 2));
    else ctx.print(formatPingSummary(s, tunnel));
    return 0;
  },
});

registerCliCommand({
  name: 'clearping',
  usage: 'clearping',
  help: 'reset the ping counters',
  async run(ctx, args) {
    parseFlags(args);
    await ctx.client.request('ping.clear');
    ctx.print('ping counters cleared');
    return 0;
  },
});
