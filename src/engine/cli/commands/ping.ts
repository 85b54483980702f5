// psummary and clearping (the built-in ping test of the data plane).
import type { PingSummary } from '../../esp/data-plane.js';
import { formatPingSummary } from '../../ping/format.js';
import { parseFlags, registerCliCommand, UsageError } from '../commands.js';

registerCliCommand({
  name: 'psummary',
  usage: 'psummary [-t N]',
  help: 'ping test: sent/received/lost/loss%/RTT per tunnel (or tunnel N) and in total',
  async run(ctx, args) {
    const { flags } = parseFlags(args, { value: ['-t'] });
    let tunnel: number | undefined;
    if (flags['-t'] !== undefined) {
      tunnel = Number(flags['-t']);
      if (!Number.isInteger(tunnel) || tunnel < 1) throw new UsageError(`-t needs a tunnel number, got "${flags['-t']}"`);
    }
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
