// summary, list, dump, rekey, events, stop.
import { formatSummary, type EngineSummary } from '../../program/summary.js';
import type { ChildInfo, IkeInfo } from '../../program/describe.js';
import { parseFlags, registerCliCommand, tunnelParam, UsageError, type CliContext } from '../commands.js';
import type { TsRange } from '../../child-sa.js';

const ts = (l: TsRange[]) => l.map((r) => (r.startAddr === r.endAddr ? r.startAddr : `${r.startAddr}-${r.endAddr}`) + (r.protocol ? `/${r.protocol}` : '') + (r.startPort !== 0 || r.endPort !== 65535 ? `[${r.startPort}-${r.endPort}]` : '')).join(',');

function ikeLine(s: IkeInfo): string {
  const alg = [s.encr, s.integ, s.prf && `prf-${s.prf}`, s.dhGroup && `dh${s.dhGroup}`].filter(Boolean).join('/');
  return `ike ${s.id} tunnel ${s.tunnelId} ${s.state} ${s.initiator ? 'I' : 'R'} ${s.local.addr}:${s.local.port} <-> ${s.remote.addr}:${s.remote.port} ${alg} spi ${s.spiI}_i ${s.spiR}_r${s.udpEncap ? ' udp-encap' : ''} peer ${s.peerId ?? '?'} rekeys ${s.rekeys}`;
}

function childLine(c: ChildInfo): string {
  const st = c.stats ? ` in ${c.stats.inPackets}p/${c.stats.inBytes}B out ${c.stats.outPackets}p/${c.stats.outBytes}B` : '';
  return `  child ${c.id} ${c.state} ${c.mode} ${c.encr}${c.integ !== 'none' ? '/' + c.integ : ''}${c.pfsGroup ? '/dh' + c.pfsGroup : ''} spi in ${c.spiIn} out ${c.spiOut} ${ts(c.localTs)} === ${ts(c.remoteTs)}${st}`;
}

async function show(ctx: CliContext, method: string, params: Record<string, unknown>, text: (r: never) => string): Promise<number> {
  const r = await ctx.client.request(method, params);
  ctx.print(ctx.json ? JSON.stringify(r, null, 2) : text(r as never));
  return 0;
}

registerCliCommand({
  name: 'summary',
  usage: 'summary',
  help: 'tunnels configured/created/live, setup rate, SA counts, errors',
  async run(ctx, args) {
    parseFlags(args);
    return show(ctx, 'summary', {}, (s: EngineSummary) => formatSummary(s));
  },
});

registerCliCommand({
  name: 'list',
  usage: 'list [-t TUNNEL]',
  help: 'IKE SAs with their CHILD SAs, one line each',
  words: ['-t'],
  async run(ctx, args) {
    const { flags } = parseFlags(args, { value: ['-t'] });
    const p = tunnelParam(flags);
    const [{ sas }, { children }] = await Promise.all([
      ctx.client.request<{ sas: IkeInfo[] }>('ike.list', p),
      ctx.client.request<{ children: ChildInfo[] }>('child.list', p),
    ]);
    if (ctx.json) ctx.print(JSON.stringify({ sas, children }, null, 2));
    else {
      const lines: string[] = [];
      for (const s of sas) {
        lines.push(ikeLine(s));
        for (const c of children.filter((c) => c.ikeId === s.id)) lines.push(childLine(c));
      }
      ctx.print(lines.length ? lines.join('\n') : 'no SAs');
    }
    return 0;
  },
});

registerCliCommand({
  name: 'dump',
  usage: 'dump [-t TUNNEL] [--keys]',
  help: 'everything about the SAs as JSON (with --keys: the IKE and ESP keys too)',
  words: ['-t', '--keys'],
  async run(ctx, args) {
    const { flags } = parseFlags(args, { value: ['-t'], bare: ['--keys'] });
    const p = { ...tunnelParam(flags), keys: flags['--keys'] === true };
    const [ike, child] = await Promise.all([ctx.client.request('ike.list', p), ctx.client.request('child.list', p)]);
    ctx.print(JSON.stringify({ ...(ike as object), ...(child as object) }, null, 2));
    return 0;
  },
});

registerCliCommand({
  name: 'rekey',
  usage: 'rekey child|ike ID|-t TUNNEL|all',
  help: 'rekey CHILD SAs or IKE SAs',
  words: ['child', 'ike', 'all', '-t'],
  async run(ctx, args) {
    const { flags, rest } = parseFlags(args, { value: ['-t'], words: 2 });
    const [what, target] = rest;
    if (what !== 'child' && what !== 'ike') throw new UsageError('say what to rekey: rekey child … or rekey ike …');
    const params: Record<string, unknown> = { ...tunnelParam(flags) };
    if (target === 'all') params.all = true;
    else if (target) params.id = target;
    if (!('tunnel' in params) && !target) throw new UsageError('name the SA: an id, -t TUNNEL or all');
    const r = await ctx.client.request<{ rekeyed: string[] }>(`${what}.rekey`, params);
    ctx.print(ctx.json ? JSON.stringify(r) : `rekeying ${r.rekeyed.length} ${what === 'ike' ? 'IKE' : 'CHILD'} SA(s): ${r.rekeyed.join(' ')}`);
    return 0;
  },
});

registerCliCommand({
  name: 'events',
  usage: 'events [COUNT]',
  help: 'snapshot, then SA and tunnel state changes as they happen (Ctrl-C ends; COUNT: stop after that many)',
  async run(ctx, args) {
    const { rest } = parseFlags(args, { words: 1 });
    const max = rest[0] === undefined ? Infinity : Number(rest[0]);
    if (!(max > 0)) throw new UsageError('COUNT must be a positive number');
    let seen = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    ctx.client.onEvent = (e) => {
      const { type: _t, subscription: _s, ...rest } = e;
      ctx.print(ctx.json ? JSON.stringify(rest) : `${rest.at} ${rest.event} ${Object.entries(rest).filter(([k]) => k !== 'at' && k !== 'event').map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ')}`);
      if (++seen >= max) done();
    };
    const r = await ctx.client.request<{ snapshot: { summary: EngineSummary; ike: IkeInfo[] } }>('subscribe');
    if (ctx.json) ctx.print(JSON.stringify({ snapshot: r.snapshot }));
    else ctx.print(`snapshot: ${r.snapshot.ike.length} IKE SA(s); ${r.snapshot.summary.tunnels.live} live tunnel(s)`);
    await Promise.race([finished, ctx.interrupted]);
    ctx.client.onEvent = () => undefined;
    return 0;
  },
});

registerCliCommand({
  name: 'stop',
  usage: 'stop [--hard]',
  help: 'stop the engine; by default it deletes every SA with the peer first',
  words: ['--hard'],
  async run(ctx, args) {
    const { flags } = parseFlags(args, { bare: ['--hard'] });
    const r = await ctx.client.request<{ stopping: string }>('stop', { graceful: flags['--hard'] !== true });
    ctx.print(ctx.json ? JSON.stringify(r) : `engine stopping (${r.stopping})`);
    return 0;
  },
});
