import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { DaemonClient } from '../../src/daemon/client.js';
import { Locks } from '../../src/daemon/locks.js';
import { ManifestStore } from '../../src/daemon/manifests.js';
import { Connection, type SharedContext } from '../../src/daemon/server.js';
import { Supervisor } from '../../src/daemon/supervisor.js';
import { procAlive, removeDir, tempDir } from './harness.js';

function streamPair(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [Duplex.from({ readable: bToA, writable: aToB }), Duplex.from({ readable: aToB, writable: bToA })];
}

/** The real method table, connection and supervisor in this process, spoken to over an in-memory stream. */
describe('daemon protocol (client and daemon in one process)', () => {
  let dir: string;
  let sup: Supervisor;
  let client: DaemonClient;
  let shared: SharedContext;
  let connections: Set<Connection>;
  let shutdowns: number;
  const pids: number[] = [];

  function connection(stream: Duplex): Connection {
    const c = new Connection(stream, shared, undefined, (gone) => connections.delete(gone));
    connections.add(c);
    return c;
  }

  /** Another client of the same daemon, on its own connection. */
  async function connectClient(): Promise<DaemonClient> {
    const [a, b] = streamPair();
    b.on('error', () => {});
    b.once('end', () => b.destroy()); // as a socket closes when its peer does
    connection(b);
    return DaemonClient.connect(a);
  }

  beforeEach(async () => {
    dir = tempDir('myikev2-daemon-proto');
    sup = new Supervisor({ stateDir: dir, adoptPollMs: 50, logCheckMs: 100 });
    sup.start();
    shared = {
      sup,
      manifests: new ManifestStore(dir),
      locks: new Locks(),
      info: { pid: process.pid, build: 'sha256:test', startedAt: new Date().toISOString(), socket: '-', stateDir: dir },
      log: () => {},
      shuttingDown: () => false,
      shutdown: async () => void shutdowns++,
      otherClients: (session) => [...connections].filter((c) => c !== session).length,
    };
    connections = new Set();
    shutdowns = 0;
    const [a, b] = streamPair();
    b.on('error', () => {});
    b.once('end', () => b.destroy());
    const conn = connection(b);
    sup.on('change', (ev, inst) => conn.instanceChanged(ev, inst));
    client = await DaemonClient.connect(a);
  });

  afterEach(async () => {
    await Promise.all(sup.list().map((i) => sup.stop(i.name, 'hard')));
    sup.close();
    await client.close();
    for (const pid of pids) assert.equal(procAlive(pid), false, `pid ${pid} gone`);
    removeDir(dir);
  });

  it('spawns, reports, subscribes and stops through the method table', async () => {
    assert.equal(client.session.version, 1);
    assert.equal(client.server.build, 'sha256:test');
    const sub = await client.subscribe({});
    assert.deepEqual(sub.initial, []);
    const { instance } = await client.request('spawn', { name: 'p1', tag: 't', argv: ['sleep', '600'], env: { SECRET: 'x' } });
    pids.push(instance.pid!);
    assert.deepEqual(instance.envKeys, ['SECRET']);
    assert.equal(JSON.stringify(instance).includes('"x"'), false, 'env values are never sent back');
    assert.ok(procAlive(instance.pid!));
    const started = await sub.waitFor((e) => e.event === 'started');
    assert.equal(started.instance.name, 'p1');
    const status = await client.request('status', { name: 'p1' });
    assert.equal(status.counts.running, 1);
    assert.equal(status.instance!.pid, instance.pid);
    const stopped = await client.request('stop', { tag: 't' });
    assert.equal(stopped.instances[0].state, 'stopped');
    assert.equal(stopped.instances[0].signal, 'SIGTERM');
    assert.equal((await sub.waitFor((e) => e.event === 'exited')).instance.state, 'stopped');
    await sub.close();
    // Stopped and forgotten in one request (a teardown's: one state save before the answer, not two).
    const { instance: again } = await client.request('spawn', { name: 'p2', tag: 't2', argv: ['sleep', '30'] });
    const both = await client.request('stop', { tag: 't2', remove: true });
    assert.deepEqual([both.instances[0].state, both.removed], ['stopped', ['p2']]);
    assert.deepEqual((await client.request('list', { tag: 't2' })).instances, []);
    assert.ok(!procAlive(again.pid!));
  });

  it('lock: one connection holds a name until it unlocks or goes; others are told who holds it', async () => {
    const other = await connectClient();
    try {
      assert.deepEqual(await client.request('lock', { key: 'run:m1234', owner: 'myikev2 run on ctl (pid 7)' }), { ok: true });
      assert.deepEqual(await client.request('lock', { key: 'run:m1234' }), { ok: true }, 'the holder may ask again');
      await assert.rejects(other.request('lock', { key: 'run:m1234', owner: 'myikev2 teardown' }), (e: Error & { code?: string }) => e.code === 'E_LOCKED' && /run:m1234 is held by myikev2 run on ctl \(pid 7\) since /.test(e.message));
      assert.deepEqual(await other.request('unlock', { key: 'run:m1234' }), { released: false }, 'only the holder can unlock');
      assert.deepEqual(await client.request('unlock', { key: 'run:m1234' }), { released: true });
      assert.deepEqual(await other.request('lock', { key: 'run:m1234' }), { ok: true });
      await other.close(); // its locks go with its connection
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(await client.request('lock', { key: 'run:m1234' }), { ok: true });
    } finally {
      await other.close();
    }
  });

  it('lock: a holder cut off from the server (sshd still has its connection) is probed; its lock goes once sshd finds out', async () => {
    // As sshd forwards for a controller whose network went away: the daemon's side
    // looks open, and what the daemon sends makes sshd find out (a TCP reset) and close it.
    const [a, b] = streamPair();
    b.on('error', () => {});
    b.once('end', () => b.destroy());
    connection(b);
    const gone = await DaemonClient.connect(a);
    try {
      assert.deepEqual(await gone.request('lock', { key: 'run:m1234', owner: 'myikev2 run on ctl (pid 7)' }), { ok: true });
      a.on('data', () => b.destroy());
      assert.deepEqual(await client.request('lock', { key: 'run:m1234', owner: 'myikev2 teardown' }), { ok: true });
    } finally {
      await gone.close();
    }
  });

  it('shutdown.ifIdle: refused while the daemon has an instance, a manifest or another client (saying which); done when idle', async () => {
    const busy = async (why: RegExp) => {
      const r = await client.request('shutdown.ifIdle', {});
      assert.equal(r.stopped, false);
      assert.match(r.busy!, why);
    };
    const { instance } = await client.request('spawn', { name: 'p1', tag: 't', argv: ['sleep', '600'] });
    pids.push(instance.pid!);
    await client.request('manifest.put', { key: 'run:m1', value: {} });
    const other = await connectClient(); // e.g. a run of another recipe, still in its setupcmds
    try {
      await busy(/^1 instance\(s\), 1 run manifest\(s\), 1 other client\(s\) connected$/);
      await client.request('stop', { name: 'p1', wait: true });
      await client.request('remove', { name: 'p1' });
      await client.request('manifest.delete', { key: 'run:m1' });
      await busy(/^1 other client\(s\) connected$/);
      assert.match((await other.request('shutdown.ifIdle', {})).busy!, /^1 other client/, 'the other client is told the same of this one');
    } finally {
      await other.close();
    }
    for (let i = 0; i < 50 && connections.size > 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(shutdowns, 0);
    assert.deepEqual(await client.request('shutdown.ifIdle', {}), { stopped: true, busy: null });
    assert.equal(shutdowns, 1);
  });

  it('probe.unix: only a Unix socket something listens on answers (not a missing path, a regular file or a socket left by a dead process)', async () => {
    const listening = join(dir, 'live.sock');
    const stale = join(dir, 'stale.sock');
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    const server = createServer();
    await new Promise<void>((r) => server.listen(listening, r));
    // A process killed while listening leaves its socket file behind.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    try {
      assert.ok(statSync(stale).isSocket(), 'the stale socket file is there');
      const r = await client.request('probe.unix', { paths: [join(dir, 'missing.sock'), listening, stale, file] });
      assert.deepEqual(r.answering, [listening]);
      await assert.rejects(client.request('probe.unix', { paths: ['relative.sock'] }), /absolute/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('stop by tag also reaches the starts of that tag still under way (a controller that gave up waiting rolls back)', async () => {
    // Not awaited: the stop arrives while the spawner is still starting them.
    const starts = Array.from({ length: 20 }, (_, i) => client.request('spawn', { name: `late${i}`, tag: 'rb', argv: ['sleep', '600'] }).catch((e: Error) => e));
    const { instances: stopped } = await client.request('stop', { tag: 'rb', mode: 'hard' });
    for (const r of await Promise.all(starts)) if (!(r instanceof Error)) pids.push(r.instance.pid!);
    assert.equal(stopped.length, 20, 'every start asked for before the stop was stopped');
    const left = (await client.request('list', { tag: 'rb' })).instances.filter((i) => i.state === 'running' || i.state === 'stopping');
    assert.deepEqual(left.map((i) => i.name), []);
  });

  it('answers bad params with E_BAD_REQUEST naming the field, and changes nothing', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: 'ok', argv: [] }, /params\.argv/],
      [{ name: 'ok', argv: ['sleep', 1] }, /params\.argv/],
      [{ name: 'ok', argv: ['true'], restart: 'sometimes' }, /params\.restart/],
      [{ name: 'ok', argv: ['true'], netns: '../etc' }, /params\.netns/],
      [{ name: 'ok', argv: ['true'], cwd: 'relative' }, /params\.cwd/],
      [{ name: 'ok', argv: ['true'], env: { 'A-B': 'x' } }, /params\.env/],
      [{ name: 'ok', argv: ['true'], backoff: { factor: 0 } }, /params\.backoff\.factor/],
      [{ name: 'ok', argv: ['true'], stopTimeoutMs: -1 }, /params\.stopTimeoutMs/],
    ];
    for (const [params, re] of cases) {
      await assert.rejects(client.request('spawn', params as never), (e: any) => e.code === 'E_BAD_REQUEST' && re.test(e.message));
    }
    await assert.rejects(client.request('stop', {}), (e: any) => e.code === 'E_BAD_REQUEST');
    await assert.rejects(client.request('manifest.put', { key: 'a b', value: 1 } as never), (e: any) => e.code === 'E_BAD_REQUEST');
    assert.deepEqual((await client.request('list', {})).instances, []);
  });
});
