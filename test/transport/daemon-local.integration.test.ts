// The embedded default: the controller's own machine as server `local`,
// daemon started and reached without SSH (LocalTransport).
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InstanceInfo } from '../../src/daemon/protocol.js';
import type { MyikeError } from '../../src/errors.js';
import { daemonFile, loadBundle, remoteBundlePath } from '../../src/transport/bundle.js';
import { connectServer } from '../../src/transport/connect.js';
import { connectDaemon, DaemonLink, ensureDaemon, type WatchUpdate } from '../../src/transport/ensure-daemon.js';
import { preflight } from '../../src/transport/preflight.js';

describe('daemon on the local transport @integration', function () {
  this.timeout(60_000);
  let tmp: string;
  const opts = () => ({ socketPath: path.join(tmp, 'd.sock'), stateDir: path.join(tmp, 'state'), bundlesDir: path.join(tmp, 'bundles') });
  before(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'myikev2-localdaemon-'))));
  after(async () => {
    const t = await connectServer({ name: 'local', connection: 'local' } as never);
    const c = await connectDaemon(t, opts()).catch(() => undefined);
    await c?.request('shutdown', { stopInstances: true }).catch(() => undefined);
    await c?.close();
    // No daemon (or anything else started with our temp paths) left running.
    const ours = async () =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
        .filter((d) => {
          try {
            const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
            return !/\) Z /.test(stat) && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(tmp);
          } catch {
            return false;
          }
        })
        .join(' ');
    for (let i = 0; i < 50 && (await ours()); i++) await new Promise((r) => setTimeout(r, 100));
    const left = await ours();
    rmSync(tmp, { recursive: true, force: true });
    assert.equal(left, '', 'processes left');
    assert.ok(!existsSync(tmp));
  });

  it('two controllers ensuring the daemon at once end up with one daemon', async () => {
    const t = await connectServer({ name: 'local', connection: 'local' } as never);
    const bundle = await loadBundle();
    const o = { socketPath: path.join(tmp, 'race.sock'), stateDir: path.join(tmp, 'state-race'), bundlesDir: path.join(tmp, 'bundles-race') };
    const [a, b] = await Promise.all([ensureDaemon(t, bundle, o), ensureDaemon(t, bundle, o)]);
    try {
      assert.equal(a.client.server.pid, b.client.server.pid);
      assert.equal(a.client.server.build, `sha256:${daemonFile(bundle).sha256}`);
    } finally {
      await a.client.request('shutdown', {}).catch(() => undefined);
      await a.client.close();
      await b.client.close();
    }
  });

  it('a daemon stopped between its start and our connect (another controller found it idle) is started again', async () => {
    const t = await connectServer({ name: 'local', connection: 'local' } as never);
    const o = { socketPath: path.join(tmp, 'idle.sock'), stateDir: path.join(tmp, 'state-idle'), bundlesDir: path.join(tmp, 'bundles-idle') };
    let starts = 0;
    // The real transport; after the first start, another client stops the new daemon as a teardown would.
    const racing = new Proxy(t, {
      get: (target, prop) =>
        prop !== 'exec'
          ? Reflect.get(target, prop)
          : async (command: string, eo?: object) => {
              const r = await target.exec(command, eo);
              if (command.includes('--ready-fd') && r.code === 0 && ++starts === 1) {
                const other = (await connectDaemon(target, o))!;
                assert.equal((await other.request('shutdown.ifIdle', {})).stopped, true);
                await other.close();
                for (let i = 0; i < 100 && existsSync(o.socketPath); i++) await new Promise((res) => setTimeout(res, 20));
              }
              return r;
            },
    });
    const d = await ensureDaemon(racing, await loadBundle(), o);
    try {
      assert.equal(starts, 2, 'started again');
      assert.equal(d.started, true);
      assert.deepEqual((await d.client.request('list', {})).instances, []);
    } finally {
      await d.client.request('shutdown', {}).catch(() => undefined);
      await d.client.close();
    }
  });

  it('a daemon of our build costs no exec: its file names our engine bundle, in the directory named by its build', async () => {
    const t = await connectServer({ name: 'local', connection: 'local' } as never);
    const o = { socketPath: path.join(tmp, 'ours.sock'), stateDir: path.join(tmp, 'state-ours'), bundlesDir: path.join(tmp, 'bundles-ours') };
    const bundle = await loadBundle();
    const first = await ensureDaemon(t, bundle, o);
    const clients = [first.client];
    try {
      // Nothing to push, not even a look, on the way to each run or teardown.
      const execs: string[] = [];
      const counted = new Proxy(t, { get: (o2, k) => (k === 'exec' ? (cmd: string, ...rest: unknown[]) => (execs.push(cmd), (o2.exec as (...a: unknown[]) => unknown)(cmd, ...rest)) : Reflect.get(o2, k)) });
      const again = await ensureDaemon(counted, bundle, o);
      clients.push(again.client);
      assert.deepEqual([again.started, again.client.server.pid, execs], [false, first.client.server.pid, []]);
      assert.ok(existsSync(again.bundle.remotePath), 'the engine the instances and `cli -t` run is there');
    } finally {
      await first.client.request('shutdown', {}).catch(() => undefined);
      for (const c of clients) await c.close();
    }
  });

  // A controller of another build used to shut down any daemon that ran no
  // instance, even one another controller was bringing a run up on (connected,
  // holding the run's lock, nothing started yet): that run lost its daemon.
  it('a daemon of another build that another controller is using is kept, not shut down under it', async () => {
    const t = await connectServer({ name: 'local', connection: 'local' } as never);
    const bundle = await loadBundle();
    const oldPath = path.join(tmp, 'other-build.mjs'); // another build: the bundle with a comment more, no daemon file
    copyFileSync(bundle.localPath, oldPath);
    appendFileSync(oldPath, '\n// another build\n');
    const other = await loadBundle(oldPath);
    const o = { socketPath: path.join(tmp, 'busy.sock'), stateDir: path.join(tmp, 'state-busy'), bundlesDir: path.join(tmp, 'bundles-busy') };
    const first = await ensureDaemon(t, other, o);
    await first.client.request('lock', { key: 'run:m1234', owner: 'the other controller' });
    const ours = await ensureDaemon(t, bundle, o);
    try {
      assert.equal(ours.olderKept, true);
      assert.equal(ours.replaced, false);
      assert.equal(ours.client.server.pid, first.client.server.pid);
      assert.equal(first.client.closed, false, "the other controller's connection is still open");
      assert.deepEqual(await first.client.request('list', {}), { instances: [] });
    } finally {
      for (const c of [ours.client, first.client]) {
        await c.request('shutdown', {}).catch(() => undefined);
        await c.close();
      }
    }
  });

  it('a daemon that cannot start is reported with its exit and last log lines, at once', async () => {
    const t = await connectServer({ name: 'local', connection: 'local' } as never);
    const broken = path.join(tmp, 'broken-bundle.mjs');
    writeFileSync(broken, "console.error('daemon cannot start: no such thing'); process.exit(5);\n");
    const o = { socketPath: path.join(tmp, 'broken.sock'), stateDir: path.join(tmp, 'state-broken'), bundlesDir: path.join(tmp, 'bundles-broken') };
    const started = Date.now();
    await assert.rejects(ensureDaemon(t, { localPath: broken, sha256: 'b'.repeat(64) }, o), (e: MyikeError) => {
      assert.equal(e.code, 'E_DAEMON_START');
      assert.match(e.message, /daemon cannot start: no such thing/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'no retrying a start that failed for another reason than the lock');
  });

  it('preflight, start, spawn, lose the connection, resync from the snapshot, clean up', async () => {
    const t = await connectServer({ name: 'local', connection: 'local' } as never);
    const f = await preflight(t);
    assert.equal(f.streamLocalForwarding, 'not needed');
    const bundle = await loadBundle();
    const link = new DaemonLink(t, bundle, opts());
    const updates: WatchUpdate[] = [];
    try {
      const c = await link.client();
      assert.equal(link.session?.started, true);
      assert.equal(link.session?.bundle.uploaded, true);
      await link.watch((u) => updates.push(u), 'loc');
      const { instance } = await c.request('spawn', { name: 'loc-1', tag: 'loc', argv: ['sleep', '600'], logdir: path.join(tmp, 'logs') });
      await new Promise<void>((resolve) => {
        const check = () => (updates.some((u) => u.kind === 'event' && u.event.event === 'started') ? resolve() : setTimeout(check, 20));
        check();
      });
      // Drop the connection under the client (as a dead SSH channel would).
      const lost = new Promise((r) => link.once('lost', r));
      (c as unknown as { stream: { destroy(): void } }).stream.destroy();
      await lost;
      const c2 = await link.client();
      assert.equal(link.reconnects, 1);
      const snap = updates.filter((u) => u.kind === 'snapshot').at(-1) as { instances: InstanceInfo[] };
      assert.equal(updates.filter((u) => u.kind === 'snapshot').length, 2);
      assert.deepEqual(snap.instances.map((i) => [i.name, i.state, i.pid]), [['loc-1', 'running', instance.pid]]);
      await c2.request('stop', { name: 'loc-1', mode: 'hard' });
      await c2.request('shutdown', { stopInstances: true });
      const stat = existsSync(`/proc/${instance.pid}/stat`) ? (await t.exec(`cat /proc/${instance.pid}/stat`)).stdout : '';
      assert.ok(!stat || / Z /.test(stat), 'instance gone');
    } finally {
      await link.close();
    }
  });
});
