// What the shell prints: the instance table, event lines, durations, and
// which instance a name means.
import { strict as assert } from 'node:assert';
import type { InstanceInfo } from '../../src/daemon/protocol.js';
import { MyikeError } from '../../src/errors.js';
import type { InstanceRecord, RunManifest } from '../../src/run/manifest.js';
import { commandLine, namespaceShell } from '../../src/shell/commands.js';
import { statsFromSummary } from '../../src/shell/engine-api.js';
import { eventText, formatDuration, instanceNames, knownInstances, listRows, listTable, resolveInstance, snapshotChanges, stateText, stillUpNote, strangerRows } from '../../src/shell/format.js';
import { words } from '../../src/shell/words.js';

function record(name: string, server: string, kind: 'myikev2' | 'other', tag = 'm1234'): InstanceRecord {
  return {
    id: 1,
    name,
    server,
    kind,
    netns: `${tag}-${name}`,
    vethHost: `${tag}h1`,
    daemonName: `${tag}-${name}`,
    runDir: `/run/myikev2/runs/${tag}/${name}`,
    logdir: `/var/log/myikev2/${tag}/${name}`,
    mgmtAddr: kind === 'myikev2' ? 'fd00:1::1:1' : '',
    dataIf: null,
    dataIfAddr: '',
    dataIfOrig: null,
    destroycmds: '',
    hash: 'x',
  };
}

function manifest(name: string, tag: string, instances: InstanceRecord[]): RunManifest {
  return { version: 1, tag, name, recipeFile: `/r/${name}.yaml`, createdAt: '', updatedAt: '', servers: [...new Set(instances.map((i) => i.server))], instances, cleancmds: [] };
}

function info(name: string, over: Partial<InstanceInfo> = {}): InstanceInfo {
  return {
    name,
    tag: 'm1234',
    argv: ['sleep'],
    netns: name,
    envKeys: [],
    cwd: '/',
    logdir: '/l',
    stdoutPath: '',
    stderrPath: '',
    restart: 'never',
    backoff: { initialMs: 500, maxMs: 30000, factor: 2, resetAfterMs: 10000 },
    stopTimeoutMs: 10000,
    logMaxBytes: 1,
    state: 'running',
    pid: 42,
    procStartTime: 1,
    startedAt: '2026-11-24T03:00:00.000Z',
    exitedAt: null,
    exitCode: null,
    signal: null,
    restarts: 0,
    nextRestartAt: null,
    adopted: false,
    error: null,
    ...over,
  };
}

const runA = manifest('run-a', 'm1234', [record('gw', 'srv2', 'myikev2'), record('left', 'srv1', 'other')]);
const runB = manifest('run-b', 'm5678', [record('left', 'srv1', 'other', 'm5678')]);
const known = knownInstances([runA, runB]);

describe('shell: formatting', () => {
  it('formats durations', () => {
    const cases: [number, string][] = [[0, '0s'], [59_999, '59s'], [60_000, '1m00s'], [245_000, '4m05s'], [3 * 3600_000 + 7 * 60_000, '3h07m'], [53 * 3600_000, '2d05h'], [-5, '0s']];
    for (const [ms, want] of cases) assert.equal(formatDuration(ms), want);
  });

  it('finds instances by NAME, RUN/NAME or daemon name; ambiguous and unknown names say what to type', () => {
    assert.equal(resolveInstance('gw', known).run, 'run-a');
    assert.equal(resolveInstance('run-b/left', known).tag, 'm5678');
    assert.equal(resolveInstance('m1234-left', known).run, 'run-a');
    assert.throws(() => resolveInstance('left', known), (e: unknown) => e instanceof MyikeError && e.exitCode === 2 && /run-a\/left, run-b\/left/.test(e.hint!));
    assert.throws(() => resolveInstance('nope', known), (e: unknown) => e instanceof MyikeError && /known instances: gw, run-a\/left, run-b\/left/.test(e.hint!));
    assert.throws(() => resolveInstance('x', []), (e: unknown) => e instanceof MyikeError && /def -f RECIPE/.test(e.hint!));
    assert.deepEqual(instanceNames(known), ['gw', 'run-a/left', 'run-b/left']);
  });

  it('says what state an instance is in', () => {
    assert.equal(stateText('other', undefined), 'stopped');
    assert.equal(stateText('other', info('a')), 'running');
    assert.equal(stateText('other', info('a', { state: 'exited', signal: 'SIGKILL' })), 'killed (SIGKILL)');
    assert.equal(stateText('myikev2', info('a', { state: 'exited', exitCode: 1 })), 'exited 1');
    assert.equal(stateText('other', info('a', { state: 'exited', exitCode: 0 })), 'detached (upcmds exited 0)');
    // Looked at: something still runs in its namespace, or nothing does (a daemonised charon that died).
    assert.equal(stateText('other', info('a', { state: 'exited', exitCode: 0 }), true), 'running (detached)');
    assert.equal(stateText('other', info('a', { state: 'exited', exitCode: 0 }), false), 'exited 0, nothing left running in its namespace');
    assert.equal(stateText('other', info('a', { state: 'lost', error: 'pid gone' })), 'lost (pid gone)');
    assert.equal(stateText('other', info('a', { state: 'backoff', nextRestartAt: '2026-11-24T03:00:05.000Z' })), 'restarting at 03:00:05');
  });

  it('builds the list: state from the daemon, uptime, engine figures, unreachable servers', () => {
    const now = Date.parse('2026-11-24T03:02:05.000Z');
    const daemon = new Map<string, Map<string, InstanceInfo> | string>([
      ['srv2', new Map([['m1234-gw', info('m1234-gw', { restarts: 2 })]])],
      ['srv1', 'cannot connect to root@[fd00::1]:22: Timed out while waiting for handshake'],
    ]);
    const stats = new Map([['m1234-gw', statsFromSummary({ tunnels: { configured: 10, live: 9 }, ping: { enabled: true, total: { sent: 100, received: 97, lossPct: 3 } } })]]);
    const rows = listRows(knownInstances([runA]), daemon, stats, now);
    assert.deepEqual(
      rows.map((r) => [r.instance, r.state, r.uptime, r.restarts, r.tunnels, r.ping, r.mgmtAddr]),
      [
        ['gw', 'running', '2m05s', 2, '9/10', '100/97 3.0%', 'fd00:1::1:1'],
        ['left', 'unknown (server unreachable)', '-', null, '', '', '-'],
      ],
    );
    // --json has the figures as numbers too.
    assert.deepEqual(rows[0].stats, { tunnelsLive: 9, tunnelsConfigured: 10, pingEnabled: true, pingSent: 100, pingReceived: 97, lossPct: 3 });
    const text = listTable(rows);
    const lines = text.split('\n');
    assert.match(lines[0], /^INSTANCE +SERVER +NAMESPACE +STATE +MGMT ADDRESS +UPTIME +RESTARTS +TUNNELS +PING SENT\/RECV LOSS$/);
    assert.match(lines[1], /^gw +srv2 +m1234-gw +running +fd00:1::1:1 +2m05s +2 +9\/10 +100\/97 3\.0%$/);
    // Columns line up.
    assert.equal(lines[1].indexOf('srv2'), lines[0].indexOf('SERVER'));
    assert.equal(lines[2].indexOf('srv1'), lines[0].indexOf('SERVER'));
    // Why srv1 could not be asked: once, below the table (not an error code in every row).
    assert.deepEqual(lines.slice(3), ['srv1: cannot connect to root@[fd00::1]:22: Timed out while waiting for handshake']);
  });

  it('adds a RUN column only when several runs are listed, and none of the engine columns without engines', () => {
    const rows = listRows(knownInstances([runB, manifest('run-c', 'm9999', [record('x', 'srv1', 'other', 'm9999')])]), new Map(), new Map(), 0);
    assert.match(listTable(rows).split('\n')[0], /^RUN +INSTANCE +SERVER .* RESTARTS$/);
    assert.match(listTable([]), /def -f RECIPE/);
  });

  it('lists what a daemon runs that no known run owns (list -d)', () => {
    const rows = strangerRows('srv1', [info('m1234-left'), info('zz-x', { tag: 'zz', netns: 'zz-x', state: 'exited', exitCode: 4 })], knownInstances([runA]), Date.parse('2026-11-24T03:00:09Z'));
    assert.deepEqual(rows.map((r) => [r.run, r.instance, r.namespace, r.state, r.uptime]), [['(tag zz, not known here)', 'zz-x', 'zz-x', 'exited 4', '-']]);
  });

  it('names the run of an instance not known here when its server keeps the manifest, and says how to remove it', () => {
    const rows = strangerRows('srv1', [info('zz-x', { tag: 'zz', netns: 'zz-x' })], [], Date.parse('2026-11-24T03:00:09Z'), new Map([['zz', 'starter']]));
    assert.equal(rows[0].run, 'starter (tag zz, not known here)');
    const lines = listTable(rows).split('\n');
    assert.match(lines[0], /^RUN +INSTANCE/, 'the run is shown, though it is the only one');
    assert.match(lines.at(-1)!, /not known here: .*teardown --name NAME removes it\)$/);
  });

  it('fits a narrow terminal: leaves out namespace, restarts, uptime, management address in that order, and says so', () => {
    const rows = listRows(knownInstances([runA]), new Map(), new Map(), 0);
    const full = listTable(rows);
    assert.equal(listTable(rows, undefined, Math.max(...full.split('\n').map((l) => l.length))), full, 'nothing left out when it fits');
    assert.deepEqual(listTable(rows, undefined, 80).split('\n'), [
      'INSTANCE  SERVER  STATE    MGMT ADDRESS  UPTIME  TUNNELS  PING SENT/RECV LOSS',
      'gw        srv2    stopped  fd00:1::1:1   -       -        -',
      'left      srv1    stopped  -             -',
      '(not shown: NAMESPACE, RESTARTS; list -w shows all)',
    ]);
    // Narrower than what is left: the rest stays (the state and the engine figures are what list is for).
    for (const width of [60, 20]) {
      const lines = listTable(rows, undefined, width).split('\n');
      assert.equal(lines[0], 'INSTANCE  SERVER  STATE    TUNNELS  PING SENT/RECV LOSS');
      assert.equal(lines.at(-1), '(not shown: NAMESPACE, RESTARTS, UPTIME, MGMT ADDRESS; list -w shows all)');
    }
  });

  it('colours the state only, after padding', () => {
    const rows = listRows(knownInstances([runB]), new Map([['srv1', new Map([['m5678-left', info('m5678-left')]])]]), new Map(), Date.parse('2026-11-24T03:00:01Z'));
    const painted = listTable(rows, { ok: (s) => `<${s}>`, bad: (s) => `!${s}!`, warn: (s) => s, dim: (s) => s, bold: (s) => s });
    assert.match(painted.split('\n')[1], /m5678-left +<running>  +- /);
  });

  it('announces what happened to instances, not the echo of the user\'s own actions', () => {
    const k = knownInstances([runA]);
    assert.equal(eventText('srv1', { event: 'exited', instance: info('m1234-left', { state: 'exited', signal: 'SIGKILL' }) }, k), 'instance left on srv1 exited: killed by SIGKILL');
    assert.equal(eventText('srv2', { event: 'exited', instance: info('m1234-gw', { state: 'exited', exitCode: 1 }) }, k), 'instance gw on srv2 exited: exit code 1');
    assert.equal(eventText('srv2', { event: 'restarted', instance: info('m1234-gw', { restarts: 3, pid: 7 }) }, k), 'instance gw on srv2 restarted (restart #3, pid 7)');
    assert.equal(eventText('srv1', { event: 'lost', instance: info('m1234-left', { state: 'lost', error: 'gone' }) }, k), 'instance left on srv1 lost: gone');
    assert.equal(eventText('srv1', { event: 'exited', instance: info('m1234-left', { state: 'stopped', signal: 'SIGTERM' }) }, k), null);
    for (const e of ['started', 'stopping', 'killed', 'removed'] as const) assert.equal(eventText('srv1', { event: e, instance: info('m1234-left') }, k), null);
    // An instance of no known run still gets a line, under the daemon's name.
    assert.equal(eventText('srv9', { event: 'exited', instance: info('zz', { state: 'exited', exitCode: 2 }) }, k), 'instance zz on srv9 exited: exit code 2');
    // A name that two runs share says which run.
    assert.match(eventText('srv1', { event: 'exited', instance: info('m5678-left', { state: 'exited', exitCode: 3 }) }, known)!, /^instance left \(run run-b\) on srv1/);
  });

  it('finds what changed between snapshots (while the connection was lost)', () => {
    const before = new Map([
      ['a', info('a')],
      ['b', info('b')],
      ['c', info('c')],
      ['d', info('d')],
    ]);
    const changes = snapshotChanges(before, [
      info('a', { state: 'exited', exitCode: 1 }),
      info('b'),
      info('c', { restarts: 1 }),
      info('d', { state: 'lost' }),
      info('new'),
    ]);
    assert.deepEqual(changes.map((c) => [c.event, c.instance.name]), [['exited', 'a'], ['restarted', 'c'], ['lost', 'd']]);
  });

  it('says on leaving which runs stay up and how to remove them', () => {
    assert.equal(stillUpNote([], 'lab.yaml'), null);
    const a = manifest('alpha', 'm0001', [record('a', 'srv1', 'other', 'm0001'), record('b', 'srv2', 'other', 'm0001')]);
    assert.equal(stillUpNote([a], 'my lab.yaml'), `still up: run "alpha" (2 instance(s)); myikev2 teardown -c 'my lab.yaml' --name alpha removes it`);
    const b = manifest('beta', 'm0002', [record('c', 'srv1', 'other', 'm0002')]);
    assert.equal(stillUpNote([a, b], undefined), 'still up: run "alpha" (2 instance(s)), run "beta" (1 instance(s)); myikev2 teardown --name NAME removes one');
  });

  it('reads engine figures from its summary (no ping test: off)', () => {
    assert.deepEqual(statsFromSummary({ tunnels: { configured: 2, live: 0 } }), { tunnelsLive: 0, tunnelsConfigured: 2, pingEnabled: false, pingSent: 0, pingReceived: 0, lossPct: 0 });
  });

  it('passes one word to the server as a command line, several as quoted words', () => {
    assert.equal(commandLine(['ip addr | grep inet']), 'ip addr | grep inet');
    assert.equal(commandLine(['sh', '-c', 'echo $X; true']), `sh -c 'echo $X; true'`);
  });

  it('opens the namespace shell with a prompt naming instance, server and namespace', () => {
    const cmd = namespaceShell(record('left', 'srv1', 'other'));
    assert.match(cmd, /exec bash --rcfile \.myikev2-bashrc -i/);
    assert.match(cmd, /\[left@srv1 netns m1234-left\]/);
    assert.ok(words(cmd).length > 3);
  });
});
