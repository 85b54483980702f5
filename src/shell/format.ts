// What the shell prints: the instance table, event lines, durations, and
// finding an instance by the name the user typed. Pure.
import type { InstanceEvent, InstanceInfo } from '../daemon/protocol.js';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import type { InstanceRecord, RunManifest } from '../run/manifest.js';
import { DETACHED } from '../run/plan.js';
import { quoteWord } from './words.js';

/** An instance of a known run: its record in the run manifest. */
export interface Known {
  run: string; // recipe name
  tag: string;
  record: InstanceRecord;
}

/** Live figures of a myikev2 instance, read from its engine API. */
export interface EngineStats {
  tunnelsLive: number;
  tunnelsConfigured: number;
  pingSent: number;
  pingReceived: number;
  lossPct: number;
  pingEnabled: boolean;
}

export interface ListRow {
  run: string;
  instance: string;
  kind: 'myikev2' | 'other';
  server: string;
  namespace: string;
  state: string;
  mgmtAddr: string;
  pid: number | null;
  uptime: string;
  restarts: number | null;
  tunnels: string; // "live/configured", '' for other instances
  ping: string; // "sent/received loss%", '' when none
  /** The engine's figures as numbers (for --json), when it answered. */
  stats?: EngineStats;
  engineError?: string;
  /** Why the server could not be asked (state "unknown"). */
  serverError?: string;
}

export type Palette = { ok(s: string): string; bad(s: string): string; warn(s: string): string; dim(s: string): string; bold(s: string): string };
export const NO_COLOUR: Palette = { ok: (s) => s, bad: (s) => s, warn: (s) => s, dim: (s) => s, bold: (s) => s };

/** Every instance of the given runs, in manifest order. */
export function knownInstances(manifests: RunManifest[]): Known[] {
  return manifests.flatMap((m) => m.instances.map((record) => ({ run: m.name, tag: m.tag, record })));
}

/**
 * The instance the user means: NAME when it is unique, RUN/NAME, or the
 * daemon's name TAG-NAME. Errors list the candidates.
 */
export function resolveInstance(query: string, known: Known[]): Known {
  const exact = known.filter((k) => k.record.name === query || `${k.run}/${k.record.name}` === query || k.record.daemonName === query);
  if (exact.length === 1) return exact[0];
  if (exact.length > 1)
    throw new MyikeError('E_USAGE', `"${query}" names ${exact.length} instances (in runs ${exact.map((k) => k.run).join(', ')})`, {
      hint: `say which: ${exact.map((k) => `${k.run}/${k.record.name}`).join(', ')}`,
      exitCode: EXIT_USAGE,
    });
  throw new MyikeError('E_USAGE', `no instance "${query}"`, {
    hint: known.length ? `known instances: ${instanceNames(known).join(', ')} (list shows them)` : 'no run is up: def -f RECIPE starts one',
    exitCode: EXIT_USAGE,
  });
}

/** Names to offer for -t: NAME where unique, RUN/NAME otherwise. */
export function instanceNames(known: Known[]): string[] {
  const count = new Map<string, number>();
  for (const k of known) count.set(k.record.name, (count.get(k.record.name) ?? 0) + 1);
  return known.map((k) => (count.get(k.record.name) === 1 ? k.record.name : `${k.run}/${k.record.name}`));
}

/** 59s, 4m05s, 3h07m, 2d05h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** The state as a person reads it: "running", "exited 3", "killed (SIGKILL)", "stopped". */
/**
 * An instance's state in words. `stillRuns`: for an other instance whose
 * upcmds exited 0 (daemonised, like `ipsec start`), whether anything still
 * runs in its namespace, when that was looked at.
 */
export function stateText(kind: 'myikev2' | 'other', info: InstanceInfo | undefined, stillRuns?: boolean): string {
  if (!info) return 'stopped';
  switch (info.state) {
    case 'running':
    case 'stopping':
      return info.state;
    case 'backoff':
      return `restarting${info.nextRestartAt ? ` at ${info.nextRestartAt.slice(11, 19)}` : ''}`;
    case 'exited':
      if (info.signal) return `killed (${info.signal})`;
      if (info.exitCode === 0 && kind === 'other') return stillRuns === undefined ? 'detached (upcmds exited 0)' : stillRuns ? DETACHED : 'exited 0, nothing left running in its namespace';
      return info.exitCode === null ? 'exited' : `exited ${info.exitCode}`;
    case 'stopped':
      return 'stopped';
    case 'lost':
      return `lost${info.error ? ` (${info.error})` : ''}`;
    default:
      return info.state;
  }
}

/**
 * One row per known instance. `daemon` maps a server to its instances by
 * daemon name, or to an error text when the server could not be asked.
 */
/** `stillRuns`: by daemon name, whether a daemonised other instance still has something running in its namespace (see stateText). */
export function listRows(known: Known[], daemon: Map<string, Map<string, InstanceInfo> | string>, stats: Map<string, EngineStats | string>, now: number, stillRuns: ReadonlyMap<string, boolean> = new Map()): ListRow[] {
  return known.map(({ run, record: r }) => {
    const d = daemon.get(r.server);
    const info = typeof d === 'string' || d === undefined ? undefined : d.get(r.daemonName);
    const st = stats.get(r.daemonName);
    const running = info?.state === 'running';
    const row: ListRow = {
      run,
      instance: r.name,
      kind: r.kind,
      server: r.server,
      namespace: r.netns,
      state: typeof d === 'string' ? 'unknown (server unreachable)' : stateText(r.kind, info, stillRuns.get(r.daemonName)),
      mgmtAddr: r.mgmtAddr || '-',
      pid: running ? info!.pid : null,
      uptime: running && info!.startedAt ? formatDuration(now - Date.parse(info!.startedAt)) : '-',
      restarts: info ? info.restarts : null,
      tunnels: '',
      ping: '',
    };
    if (typeof d === 'string') row.serverError = d;
    if (typeof st === 'string') row.engineError = st;
    else if (st) {
      row.stats = st;
      row.tunnels = `${st.tunnelsLive}/${st.tunnelsConfigured}`;
      row.ping = st.pingEnabled ? `${st.pingSent}/${st.pingReceived} ${st.lossPct.toFixed(1)}%` : 'off';
    }
    return row;
  });
}

/**
 * Rows for what a server's daemon runs that no known run owns (started by
 * another controller, or a run whose manifest this controller lost).
 */
export function strangerRows(server: string, instances: InstanceInfo[], known: Known[], now: number, runNames: Map<string, string> = new Map()): ListRow[] {
  const mine = new Set(known.filter((k) => k.record.server === server).map((k) => k.record.daemonName));
  return instances
    .filter((i) => !mine.has(i.name))
    .map((i) => ({
      run: `${i.tag && runNames.has(i.tag) ? `${runNames.get(i.tag)} ` : ''}(tag ${i.tag ?? '-'}, not known here)`,
      instance: i.name,
      kind: 'other' as const,
      server,
      namespace: i.netns ?? '-',
      state: stateText('myikev2', i),
      mgmtAddr: '-',
      pid: i.state === 'running' ? i.pid : null,
      uptime: i.state === 'running' && i.startedAt ? formatDuration(now - Date.parse(i.startedAt)) : '-',
      restarts: i.restarts,
      tunnels: '',
      ping: '',
    }));
}

/** Aligned columns, padded on the plain text and coloured afterwards. */
export function columns(headers: string[], rows: string[][], paint: (col: number, cell: string, padded: string) => string = (_c, _v, p) => p): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[], painter: boolean) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]);
        return painter ? paint(i, c, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(headers, false), ...rows.map((r) => line(r, true))].join('\n');
}

/** Columns a narrow terminal loses first, in this order: what `cli`, `logs` and the STATE column do not need. */
const DROPPABLE = ['NAMESPACE', 'RESTARTS', 'UPTIME', 'MGMT ADDRESS'];
type Column = [header: string, cell: (r: ListRow) => string];

/**
 * The instance table. width: the terminal's columns, when the table should
 * fit them (the least needed columns are left out, and a line says which);
 * undefined (scripts, --wide) prints every column.
 */
export function listTable(rows: ListRow[], p: Palette = NO_COLOUR, width?: number): string {
  if (rows.length === 0) return 'no instances: def -f RECIPE brings a recipe up';
  // Which run a row belongs to matters once there are several, or instances of no known run.
  const stranger = (r: ListRow) => r.run.endsWith('not known here)');
  const manyRuns = new Set(rows.map((r) => r.run)).size > 1 || rows.some(stranger);
  const engines = rows.some((r) => r.kind === 'myikev2');
  const all: Column[] = [
    ...(manyRuns ? [['RUN', (r) => r.run] as Column] : []),
    ['INSTANCE', (r) => r.instance],
    ['SERVER', (r) => r.server],
    ['NAMESPACE', (r) => r.namespace],
    ['STATE', (r) => r.state],
    ['MGMT ADDRESS', (r) => r.mgmtAddr],
    ['UPTIME', (r) => r.uptime],
    ['RESTARTS', (r) => (r.restarts === null ? '-' : String(r.restarts))],
    ...(engines
      ? ([
          ['TUNNELS', (r) => (r.kind === 'other' ? '' : r.engineError ? '?' : r.tunnels || '-')],
          ['PING SENT/RECV LOSS', (r) => (r.kind === 'other' ? '' : r.engineError ? r.engineError : r.ping || '-')],
        ] as Column[])
      : []),
  ];
  const render = (cols: Column[], paint?: Parameters<typeof columns>[2]) => columns(cols.map(([h]) => h), rows.map((r) => cols.map(([, cell]) => cell(r))), paint);
  let cols = all;
  const hidden: string[] = [];
  for (const h of DROPPABLE) {
    if (width === undefined || Math.max(...render(cols).split('\n').map((l) => l.length)) <= width) break;
    cols = cols.filter(([c]) => c !== h);
    hidden.push(h);
  }
  const stateCol = cols.findIndex(([h]) => h === 'STATE');
  const body = render(cols, (col, cell, padded) => {
    if (col !== stateCol) return padded;
    if (cell === 'running' || cell === DETACHED || cell.startsWith('detached')) return p.ok(padded);
    if (cell === 'stopped' || cell === 'stopping') return p.dim(padded);
    return p.bad(padded);
  });
  // Why a server could not be asked, once per server, below the table.
  const why = [...new Map(rows.filter((r) => r.serverError).map((r) => [r.server, r.serverError])).entries()].map(([s, e]) => p.bad(`${s}: ${e}`));
  const note = hidden.length ? [p.dim(`(not shown: ${hidden.join(', ')}; list -w shows all)`)] : [];
  // What to do with a run this controller has no record of: its name is all teardown needs.
  if (rows.some(stranger)) note.push(p.dim('(not known here: a run of another controller, or one whose record here is gone; teardown --name NAME removes it)'));
  return [p.bold(body.split('\n')[0]), ...body.split('\n').slice(1), ...why, ...note].join('\n');
}

/**
 * The line announcing a daemon event, or null for events that only echo
 * what the user just did (started, stopping, removed, killed).
 */
export function eventText(server: string, ev: Pick<InstanceEvent, 'event' | 'instance'>, known: Known[]): string | null {
  const i = ev.instance;
  const k = known.find((x) => x.record.server === server && x.record.daemonName === i.name);
  const who = k ? `${k.record.name}${known.filter((x) => x.record.name === k.record.name).length > 1 ? ` (run ${k.run})` : ''}` : i.name;
  const what = (() => {
    switch (ev.event) {
      case 'exited':
        if (i.state === 'stopped') return null; // the user's stop: its command reports it
        if (i.state === 'backoff') return `exited (${exitText(i)}); restart due${i.nextRestartAt ? ` at ${i.nextRestartAt.slice(11, 19)}` : ''}`;
        return exitText(i) === 'exit code 0' && k?.record.kind === 'other' ? 'upcmds exited 0' : `exited: ${exitText(i)}`;
      case 'restarted':
        return `restarted (restart #${i.restarts}, pid ${i.pid ?? '?'})`;
      case 'lost':
        return `lost${i.error ? `: ${i.error}` : ''}`;
      case 'adopted':
        return `re-adopted by a restarted daemon (pid ${i.pid ?? '?'})`;
      default:
        return null;
    }
  })();
  return what === null ? null : `instance ${who} on ${server} ${what}`;
}

function exitText(i: InstanceInfo): string {
  if (i.signal) return `killed by ${i.signal}`;
  if (i.exitCode !== null) return `exit code ${i.exitCode}`;
  return 'exit status unknown';
}

/**
 * Changes between two snapshots of one server (seen after a reconnect):
 * instances that stopped running or restarted while we were away.
 */
export function snapshotChanges(before: Map<string, InstanceInfo>, after: InstanceInfo[]): Pick<InstanceEvent, 'event' | 'instance'>[] {
  const out: Pick<InstanceEvent, 'event' | 'instance'>[] = [];
  for (const now of after) {
    const was = before.get(now.name);
    if (!was) continue;
    if (was.state === 'running' && (now.state === 'exited' || now.state === 'backoff')) out.push({ event: 'exited', instance: now });
    else if (now.state === 'lost' && was.state !== 'lost') out.push({ event: 'lost', instance: now });
    else if (now.restarts > was.restarts && now.state === 'running') out.push({ event: 'restarted', instance: now });
  }
  return out;
}

/** Said when the shell is left with runs up: leaving takes nothing down. */
export function stillUpNote(runs: RunManifest[], configFile: string | undefined): string | null {
  if (!runs.length) return null;
  const c = configFile ? ` -c ${quoteWord(configFile)}` : '';
  const what = runs.map((m) => `run "${m.name}" (${m.instances.length} instance(s))`).join(', ');
  return `still up: ${what}; myikev2 teardown${c} --name ${runs.length === 1 ? quoteWord(runs[0].name) : 'NAME'} removes ${runs.length === 1 ? 'it' : 'one'}`;
}
