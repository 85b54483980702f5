// Acceptance of issue 4 (transport half): a lab server (real sshd in its own
// namespaces), our bundle pushed there, the daemon started through SSH and
// driven through the SSH-forwarded Unix socket; the SSH connection is cut and
// the controller resynchronises from the daemon's snapshot.
import assert from 'node:assert/strict';
import { copyFileSync, appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InstanceInfo } from '../../src/daemon/protocol.js';
import type { ServerConf } from '../../src/model/config-types.js';
import { daemonFile, loadBundle, type Bundle } from '../../src/transport/bundle.js';
import { connectServer } from '../../src/transport/connect.js';
import { connectDaemon, DaemonLink, ensureDaemon, type WatchUpdate } from '../../src/transport/ensure-daemon.js';
import { preflight } from '../../src/transport/preflight.js';
import type { SshTransport } from '../../src/transport/ssh.js';
import { execChecked, type Transport } from '../../src/transport/transport.js';
import { useLab } from '../support/lab.js';
import { randomTag } from './support/sshd.js';

const N = 50;

describe('daemon over SSH transport @integration', function () {
  this.timeout(120_000);
  // Registered before useLab's hooks, so it runs while the lab is still up (after hooks run in order).
  after(async () => {
    // Whatever happened: stop everything we started on the server, then check.
    if (t) {
      for (const socketPath of [undefined, '/run/myikev2-old/d.sock']) {
        const c = await connectDaemon(t, { socketPath }).catch(() => undefined);
        await c?.request('shutdown', { stopInstances: true }).catch(() => undefined);
        await c?.close();
      }
      await t.exec(`for n in ${nsNames.join(' ')}; do ip netns del $n 2>/dev/null; done; true`).catch(() => undefined);
      const left = await t.exec(`ip netns list | grep -c '^${tag}-'; true`).catch(() => undefined);
      await t.close();
      if (left) assert.equal(left.stdout.trim(), '0', 'namespaces left on the server');
    }
    rmSync(tmp, { recursive: true, force: true });
    assert.ok(!existsSync(tmp));
  });
  const env = useLab({ servers: 1 });
  const tag = `tr${randomTag()}`;
  const nsNames = Array.from({ length: N }, (_, i) => `${tag}-${i}`);
  let tmp: string;
  let t: Transport;
  let bundle: Bundle;
  const opts = () => ({ stateDir: path.join(tmp, 'state'), bundlesDir: path.join(tmp, 'bundles') });

  const conf = (): ServerConf => {
    const s = env.lab.servers[0];
    return {
      name: s.name,
      connection: 'ssh',
      daemonaddr: s.sshAddr,
      daemonport: 0,
      sshaddr: s.sshAddr,
      sshport: s.sshPort,
      sshuser: 'root',
      sshkeypath: env.lab.keyPath,
      knownhosts: env.lab.knownHostsPath,
      hostkeycheck: 'strict',
      mgmtaddrprefix: s.mgmtPrefix,
    };
  };

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), `myikev2-${tag}-`));
    bundle = await loadBundle();
    t = await connectServer(conf());
  });

  it('preflight passes on a lab server', async () => {
    const f = await preflight(t);
    assert.equal(f.streamLocalForwarding, true);
    assert.equal(f.uid, 0);
  });

  it(`spawns ${N} processes in ${N} namespaces; after the SSH connection is cut, the snapshot shows all ${N} running; cleanup leaves nothing`, async () => {
    const link = new DaemonLink(t, bundle, opts());
    const updates: WatchUpdate[] = [];
    try {
      await link.client();
      assert.equal(link.session?.started, true);
      assert.equal(link.session?.bundle.uploaded, true);
      const { version, build } = link.session!.client.session;
      assert.equal(version, 1);
      assert.equal(build, `sha256:${daemonFile(bundle).sha256}`);

      // Namespaces: one ip -batch script over one exec.
      await execChecked(t, 'ip -batch -', 'create namespaces', { stdin: nsNames.map((n) => `netns add ${n}\n`).join('') });
      await link.watch((u) => updates.push(u), tag);
      const c = await link.client();
      const spawned = await Promise.all(
        nsNames.map((ns, i) => c.request('spawn', { name: `${tag}-i${i}`, tag, argv: ['sleep', '600'], netns: ns, logdir: path.join(tmp, 'logs') })),
      );
      const pids = new Map(spawned.map((r) => [r.instance.name, r.instance.pid]));
      assert.equal(new Set(pids.values()).size, N);
      // Each process really is in its own namespace on the server.
      const where = await execChecked(t, [...pids.values()].map((p) => `ip netns identify ${p}`).join('; '), 'identify');
      assert.deepEqual(where.stdout.trim().split('\n'), nsNames);

      // Cut the SSH connection from the server side: kill the sshd process serving it.
      const lost = new Promise((r) => link.once('lost', r));
      const connectsBefore = (t as SshTransport).connects;
      await t.exec('grep -q "@notty" /proc/$PPID/cmdline && kill -9 $PPID').catch(() => undefined);
      await lost;
      const snapshotsBefore = updates.filter((u) => u.kind === 'snapshot').length;

      // Next use reconnects (SSH and daemon) and the watch gets a fresh snapshot.
      const c2 = await link.client();
      assert.notEqual(c2, c);
      assert.equal(link.reconnects, 1);
      assert.equal((t as SshTransport).connects, connectsBefore + 1);
      const snaps = updates.filter((u) => u.kind === 'snapshot') as Array<{ kind: 'snapshot'; instances: InstanceInfo[] }>;
      assert.equal(snaps.length, snapshotsBefore + 1);
      const snap = snaps.at(-1)!.instances;
      assert.equal(snap.length, N);
      assert.ok(snap.every((i) => i.state === 'running' && pids.get(i.name) === i.pid), 'all running with the same pids');
      const { instances } = await c2.request('list', { tag });
      assert.equal(instances.filter((i) => i.state === 'running').length, N);

      // Clean up and prove it is gone.
      const stopped = await c2.request('stop', { tag, mode: 'hard' });
      assert.equal(stopped.instances.length, N);
      await c2.request('remove', { tag });
      assert.deepEqual((await c2.request('list', { tag })).instances, []);
      await execChecked(t, 'ip -batch -', 'delete namespaces', { stdin: nsNames.map((n) => `netns del ${n}\n`).join('') });
      const alive = await t.exec(`for p in ${[...pids.values()].join(' ')}; do [ -e /proc/$p ] && ! grep -q ') Z ' /proc/$p/stat && echo $p; done; true`);
      assert.equal(alive.stdout, '', 'no process left');
      assert.equal((await t.exec(`ip netns list | grep -c '^${tag}-'; true`)).stdout.trim(), '0');
    } finally {
      await link.close();
    }
  });

  it('a second ensureDaemon reuses the running daemon and skips the upload', async () => {
    const s = await ensureDaemon(t, bundle, opts());
    try {
      assert.deepEqual([s.started, s.replaced, s.olderKept, s.bundle.uploaded], [false, false, false, false]);
    } finally {
      await s.client.close();
    }
  });

  it('a daemon of another build is replaced when idle, kept while it runs instances', async () => {
    // "Old" build: the same bundle with a trailing comment (another hash).
    const oldPath = path.join(tmp, 'old-bundle.mjs');
    copyFileSync(bundle.localPath, oldPath);
    appendFileSync(oldPath, '\n// older build\n');
    const old = await loadBundle(oldPath);
    const o = { socketPath: '/run/myikev2-old/d.sock', stateDir: path.join(tmp, 'state-old'), bundlesDir: path.join(tmp, 'bundles') };
    const first = await ensureDaemon(t, old, o);
    assert.equal(first.client.server.build, `sha256:${old.sha256}`);
    await first.client.request('spawn', { name: `${tag}-busy`, argv: ['sleep', '600'] });
    await first.client.close();

    const kept = await ensureDaemon(t, bundle, o);
    assert.equal(kept.olderKept, true);
    assert.equal(kept.client.server.build, `sha256:${old.sha256}`);
    await kept.client.request('stop', { name: `${tag}-busy`, mode: 'hard' });
    await kept.client.request('remove', { name: `${tag}-busy` });
    await kept.client.close();

    const replaced = await ensureDaemon(t, bundle, o);
    try {
      assert.equal(replaced.replaced, true);
      assert.equal(replaced.started, true);
      assert.equal(replaced.client.server.build, `sha256:${daemonFile(bundle).sha256}`);
      assert.notEqual(replaced.client.server.pid, first.client.server.pid);
      // The old daemon has released its lock and socket; give its process a moment to end.
      const p = first.client.server.pid;
      const check = `alive() { [ -e /proc/${p} ] && ! grep -q ') Z ' /proc/${p}/stat; }; for i in $(seq 50); do alive || break; sleep 0.1; done; alive && echo alive; true`;
      assert.equal((await t.exec(check)).stdout, '', 'the old daemon exited');
    } finally {
      await replaced.client.request('shutdown', { stopInstances: true }).catch(() => undefined);
      await replaced.client.close();
    }
  });
});
