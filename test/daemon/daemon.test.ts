import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DaemonClient, type InstanceSubscription } from '../../src/daemon/client.js';
import { readToken } from '../../src/daemon/daemon.js';
import { readProcStat } from '../../src/daemon/proc.js';
import type { InstanceInfo } from '../../src/daemon/protocol.js';
import {
  BUNDLE,
  Reaper,
  killIfSame,
  TestDaemon,
  netnsAdd,
  netnsDelete,
  procAlive,
  removeDir,
  tempDir,
  waitUntil,
} from './harness.js';

const run = promisify(execFile);

/** Runs the bundle's CLI, returning its exit code and output (never throws on exit code). */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BUNDLE, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** True once pid runs `sleep` (the shell before it has set its traps). */
function isSleep(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
  } catch {
    return false;
  }
}

/** A TCP port on loopback that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Raw NDJSON session: send objects or text, read parsed lines. */
class Raw {
  private buf = '';
  private readonly got: Record<string, any>[] = [];
  constructor(readonly sock: Socket) {
    sock.on('data', (c) => {
      this.buf += c.toString();
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.got.push(JSON.parse(this.buf.slice(0, nl)));
        this.buf = this.buf.slice(nl + 1);
      }
    });
  }
  static open(path: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }
  send(msg: unknown): void {
    this.sock.write(typeof msg === 'string' ? msg : JSON.stringify(msg) + '\n');
  }
  async next(pred: (m: Record<string, any>) => boolean = () => true): Promise<Record<string, any>> {
    let found: Record<string, any> | undefined;
    await waitUntil(() => {
      const i = this.got.findIndex(pred);
      if (i >= 0) found = this.got.splice(i, 1)[0];
      return found !== undefined;
    }, 'a message from the daemon', 10_000);
    return found!;
  }
  close(): void {
    this.sock.destroy();
  }
}

describe('daemon @integration', function () {
  this.timeout(120_000);
  let reaper: Reaper;
  let dir: string;
  let daemons: TestDaemon[];
  let clients: DaemonClient[];
  let namespaces: string[];
  const tag = `t${process.pid}`;

  async function newDaemon(extraArgs: string[] = [], env: Record<string, string> = {}): Promise<TestDaemon> {
    const d = await new TestDaemon(reaper, dir, extraArgs, env).start();
    daemons.push(d);
    return d;
  }
  async function client(d: TestDaemon): Promise<DaemonClient> {
    const c = await d.connect();
    clients.push(c);
    return c;
  }
  /** Every pid the daemon's state file ever recorded (our instances). */
  function recordedPids(): { pid: number; procStartTime: number | null }[] {
    try {
      return JSON.parse(readFileSync(join(dir, 'state', 'state.json'), 'utf8')).instances.filter((i: InstanceInfo) => i.pid);
    } catch {
      return [];
    }
  }

  beforeEach(async () => {
    reaper = await Reaper.start();
    dir = tempDir('myikev2-daemon');
    daemons = [];
    clients = [];
    namespaces = [];
  });

  afterEach(async () => {
    for (const c of clients) await c.close();
    const instances = recordedPids();
    for (const d of daemons) if (d.alive()) process.kill(d.pid, 'SIGKILL');
    for (const { pid, procStartTime } of instances) {
      const st = readProcStat(pid);
      if (st && st.state !== 'Z' && st.startTime === procStartTime) {
        for (const target of [-pid, pid]) {
          try {
            process.kill(target, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
    }
    await reaper.close();
    for (const { pid, procStartTime } of instances) {
      assert.notEqual(readProcStat(pid)?.startTime, procStartTime ?? -1, `instance pid ${pid} is gone`);
    }
    for (const d of daemons) assert.equal(readProcStat(d.pid), null, `daemon pid ${d.pid} is gone`);
    netnsDelete(namespaces);
    removeDir(dir);
  });

  it('runs 50 instances in 50 namespaces, re-adopts all 50 after SIGKILL, and reports one that died meanwhile as lost', async () => {
    const ns = Array.from({ length: 50 }, (_, i) => `mkd${process.pid}n${i}`);
    namespaces.push(...ns);
    netnsAdd(ns);
    const d1 = await newDaemon();
    const c1 = await client(d1);
    await Promise.all(ns.map((n, i) => c1.request('spawn', { name: `i${i}`, tag, argv: ['sleep', '600'], netns: n })));
    const { instances } = await c1.request('list', { tag });
    assert.equal(instances.length, 50);
    for (const [i, inst] of instances.sort((a, b) => Number(a.name.slice(1)) - Number(b.name.slice(1))).entries()) {
      assert.equal(inst.state, 'running');
      assert.ok(procAlive(inst.pid!), `${inst.name} alive`);
      // Really inside its namespace: same network namespace inode.
      assert.equal(statSync(`/proc/${inst.pid}/ns/net`).ino, statSync(`/run/netns/${ns[i]}`).ino, `${inst.name} in ${ns[i]}`);
    }

    process.kill(d1.pid, 'SIGKILL');
    await waitUntil(() => !d1.alive(), 'daemon 1 to die');
    // Started again, it re-adopts all 50.
    const dA = await newDaemon();
    const cA = await client(dA);
    const adopted = (await cA.request('list', { tag })).instances;
    assert.equal(adopted.filter((i) => i.state === 'running' && i.adopted).length, 50, 'all 50 re-adopted');
    assert.deepEqual(adopted.map((i) => i.pid).sort(), instances.map((i) => i.pid).sort());
    process.kill(dA.pid, 'SIGKILL');
    await waitUntil(() => !dA.alive(), 'the second daemon to die');

    // One instance dies while no daemon watches: an orphan nobody reaps stays a zombie.
    const victim = instances[0];
    process.kill(victim.pid!, 'SIGKILL');
    await waitUntil(() => readProcStat(victim.pid!)?.state === 'Z', 'the victim to be a zombie');
    process.kill(victim.pid!, 0); // kill -0 "succeeds" on the zombie: it lies

    const d2 = await newDaemon();
    const c2 = await client(d2);
    const sub = await c2.subscribe({ tag });
    const byName = new Map(sub.initial.map((i) => [i.name, i]));
    assert.equal(byName.size, 50);
    assert.equal(byName.get(victim.name)!.state, 'lost');
    assert.match(byName.get(victim.name)!.error!, /ended while the daemon was down/);
    for (const inst of instances.slice(1)) {
      const now = byName.get(inst.name)!;
      assert.equal(now.state, 'running', `${inst.name} re-adopted`);
      assert.equal(now.adopted, true);
      assert.equal(now.pid, inst.pid);
    }

    // A re-adopted process is watched through /proc: its death is noticed.
    const watched = instances[1];
    process.kill(watched.pid!, 'SIGKILL');
    const ev = await sub.waitFor((e) => e.event === 'exited' && e.instance.name === watched.name);
    assert.equal(ev.instance.state, 'exited');
    assert.equal(ev.instance.exitCode, null, 'exit status of a non-child is unknowable');

    // And the daemon can still stop re-adopted processes.
    const stopped = await c2.request('stop', { tag, mode: 'hard' });
    assert.deepEqual(
      stopped.instances.filter((i) => i.state === 'stopped').length,
      48,
    );
    for (const inst of instances) assert.equal(procAlive(inst.pid!), false, `${inst.name} gone`);
  });

  it('an instance keeps logging while no daemon runs, and its logs are still rotated after re-adoption', async () => {
    const d1 = await newDaemon();
    const c1 = await client(d1);
    const pad = '.'.repeat(150);
    const { instance } = await c1.request('spawn', {
      name: 'ticker',
      tag,
      argv: ['sh', '-c', `i=0; while :; do echo "tick $i ${pad}"; i=$((i+1)); sleep 0.05; done`],
      logMaxBytes: 4000,
    });
    process.kill(d1.pid, 'SIGKILL');
    await waitUntil(() => !d1.alive(), 'daemon 1 to die');
    const prev = instance.stdoutPath + '.prev';
    rmSync(prev, { force: true });
    const sizeThen = statSync(instance.stdoutPath).size;
    await waitUntil(
      () => statSync(instance.stdoutPath).size > Math.max(sizeThen, 4000) + 1000,
      `output while no daemon runs (size then ${sizeThen})`,
    ).catch((e) => {
      const st = readProcStat(instance.pid!);
      throw new Error(`${e.message}; size now ${statSync(instance.stdoutPath).size}; ticker ${JSON.stringify(st)} want start ${instance.procStartTime}`);
    });
    assert.equal(existsSync(prev), false, 'nobody rotated while no daemon ran');
    const d2 = await newDaemon();
    const c2 = await client(d2);
    assert.equal((await c2.request('status', { name: 'ticker' })).instance!.adopted, true);
    await waitUntil(() => existsSync(prev), 'the re-adopting daemon to rotate the log');
    // The writer goes on in the truncated file.
    await waitUntil(
      async () => /^tick \d+/.test((await c2.logs({ name: 'ticker', stream: 'stdout', tail: 1 })).initial[0]?.line ?? ''),
      'new lines after the rotation',
    );
    assert.ok(statSync(prev).size > 5000, 'the .prev holds what was written while no daemon ran');
    assert.equal(readFileSync(instance.stdoutPath).includes(0), false, 'no NUL hole: the writer appends');
    await c2.request('stop', { name: 'ticker' });
  });

  // Every way of starting an instance behaves the same: the python3 spawner
  // (default), the perl helper (no python3) and `ip netns exec` from Node.
  const parentOf = { auto: 'python3', perl: 'perl', off: 'node' } as const;
  for (const helper of ['auto', 'perl', 'off'] as const) {
    it(`namespace helper ${helper}: configures namespaces, starts in the namespace as 'ip netns exec' does, reports exit codes and signals`, async () => {
      const ns = `mkd${process.pid}h${helper}`;
      namespaces.push(ns);
      netnsAdd([ns]);
      const etc = `/etc/netns/${ns}`;
      execFileSync('mkdir', ['-p', etc]);
      writeFileSync(join(etc, 'hosts'), '# hosts of the namespace\n');
      try {
        const d = await newDaemon([], helper === 'auto' ? {} : { MYIKEV2_NS_HELPER: helper });
        const c = await client(d);
        // A line the helper does not speak itself (link add) sends the batch through `ip`.
        await c.request('netns.configure', { batches: [{ netns: ns, commands: 'link add dummy0 type veth peer name dummy1\n' }] });
        const batch = 'link set lo up\nlink set dummy0 addrgenmode none\nlink set dummy0 up\nlink set dummy1 up\naddr add fd00:77::5/64 dev dummy0 nodad\nroute add ::/0 via fd00:77::1 dev dummy0\nxfrm state flush\nxfrm policy flush\n';
        const res = await c.request('netns.configure', { batches: [{ netns: ns, commands: batch }] });
        assert.deepEqual(res, { configured: 1, via: helper === 'off' ? 'ip' : 'helper' });
        const ip = (args: string) => execFileSync('ip', ['-n', ns, ...args.split(' ')], { encoding: 'utf8' });
        assert.match(ip('-6 addr show dev dummy0'), /inet6 fd00:77::5\/64 scope global nodad/);
        assert.doesNotMatch(ip('-6 addr show dev dummy0'), /scope link/, 'addrgenmode none: no link-local address');
        assert.match(ip('-6 addr show dev dummy1'), /scope link/, 'its peer (up, with the default mode) has one');
        assert.match(ip('-6 route show default'), /default via fd00:77::1 dev dummy0/);
        assert.match(ip('link show lo'), /<LOOPBACK,UP/);
        // A failing line is named with its namespace and error; nothing else is touched.
        await assert.rejects(c.request('netns.configure', { batches: [{ netns: ns, commands: 'addr add fd00:77::5/64 dev dummy0 nodad\n' }] }), (e: Error) => {
          assert.match(e.message, new RegExp(`${ns}: .*(File exists|already assigned)`));
          return true;
        });
        // replace lines may run again (a restarted instance's namespace is configured anew), in the helper itself.
        const again = 'addr replace fd00:77::5/64 dev dummy0 nodad\nroute replace ::/0 via fd00:77::1 dev dummy0\naddr replace fd00:77::6/64 dev dummy0 nodad\n';
        for (let i = 0; i < 2; i++) assert.deepEqual(await c.request('netns.configure', { batches: [{ netns: ns, commands: again }] }), { configured: 1, via: helper === 'off' ? 'ip' : 'helper' });
        assert.match(ip('-6 addr show dev dummy0'), /inet6 fd00:77::6\/64 scope global nodad/);
        assert.equal(ip('-6 route show default').trim().split('\n').length, 1, 'one default route');

        const out = join(dir, 'probe.out');
        const probe = `readlink /proc/self/ns/net; ls /sys/class/net; cat /etc/hosts; pwd; echo "FOO=$FOO"; echo oops >&2; exit 3`;
        const { instance } = await c.request('spawn', { name: `probe-${helper}`, tag, argv: ['sh', '-c', `(${probe}) > ${out}`], netns: ns, env: { FOO: 'a b\u00a0ü%41\n' }, cwd: dir });
        await waitUntil(async () => (await c.request('list', { tag })).instances.some((i) => i.name === instance.name && i.state === 'exited'), 'the probe to exit');
        const done = (await c.request('list', { tag })).instances.find((i) => i.name === instance.name)!;
        assert.equal(done.exitCode, 3);
        const [netLink, ...lines] = readFileSync(out, 'utf8').trim().split('\n').filter(Boolean);
        assert.equal(netLink, `net:[${statSync(`/run/netns/${ns}`).ino}]`);
        assert.deepEqual(lines, ['dummy0', 'dummy1', 'lo', '# hosts of the namespace', dir, 'FOO=a b\u00a0ü%41']);
        assert.equal(readFileSync(done.stderrPath, 'utf8'), 'oops\n');
        // Both streams in one file, in the order written.
        const { instance: chatty } = await c.request('spawn', { name: `chatty-${helper}`, tag, argv: ['sh', '-c', 'echo one; echo two >&2; echo three'], netns: ns });
        await waitUntil(async () => (await c.request('list', { tag })).instances.some((i) => i.name === chatty.name && i.state === 'exited'), 'chatty to exit');
        assert.equal(chatty.stdoutPath, join(chatty.logdir, `${chatty.name}.log`));
        assert.equal(chatty.stderrPath, chatty.stdoutPath);
        assert.deepEqual((await c.request('logs', { name: chatty.name })).lines, ['one', 'two', 'three'].map((line) => ({ stream: 'output', line })));

        const { instance: sleeper } = await c.request('spawn', { name: `sleeper-${helper}`, tag, argv: ['sleep', '600'], netns: ns });
        assert.equal(readProcStat(sleeper.pid!)?.state !== undefined, true);
        const ps = (field: string, pid: number) => execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8' }).trim();
        assert.equal(ps('sid', sleeper.pid!), String(sleeper.pid), 'leads its own session');
        assert.equal(ps('comm', Number(ps('ppid', sleeper.pid!))), parentOf[helper], 'started by the expected helper');
        const status = readFileSync(`/proc/${sleeper.pid}/status`, 'utf8');
        // Signals 1-31: glibc's posix_spawn always leaves its own internal signals (32, 33) ignored, harmlessly.
        const ignored = BigInt('0x' + /^SigIgn:\s+(\w+)$/m.exec(status)![1]) & 0x7fffffffn;
        assert.equal(ignored, 0n, 'no signal ignored (python ignores SIGPIPE itself)');
        assert.match(status, /^SigBlk:\s+0+$/m, 'no signal blocked');
        process.kill(sleeper.pid!, 'SIGKILL');
        await waitUntil(async () => (await c.request('list', { tag })).instances.some((i) => i.name === sleeper.name && i.signal === 'SIGKILL'), 'the kill to be reported');

        await assert.rejects(c.request('spawn', { name: `missing-${helper}`, tag, argv: ['/nonexistent/prog'], netns: ns }), /not found/);
      } finally {
        rmSync(etc, { recursive: true, force: true });
      }
    });
  }

  it('the namespace helper dying loses nothing: its instances are watched through /proc, and the next start has a new helper', async () => {
    const d = await newDaemon();
    const c = await client(d);
    const { instance } = await c.request('spawn', { name: 'survivor', tag, argv: ['sleep', '600'] });
    const helperPid = Number(execFileSync('pgrep', ['-P', String(d.pid), '-x', 'python3'], { encoding: 'utf8' }).trim());
    assert.ok(helperPid > 0, 'the daemon runs the python3 spawner');
    assert.equal(execFileSync('ps', ['-o', 'ppid=', '-p', String(instance.pid)], { encoding: 'utf8' }).trim(), String(helperPid));
    process.kill(helperPid, 'SIGKILL');
    await waitUntil(async () => (await c.request('status', { name: 'survivor' })).instance!.adopted, 'the survivor to be watched through /proc');
    assert.equal((await c.request('status', { name: 'survivor' })).instance!.state, 'running');
    process.kill(instance.pid!, 'SIGKILL');
    await waitUntil(async () => (await c.request('status', { name: 'survivor' })).instance!.state === 'exited', 'its end to be seen');
    const { instance: next } = await c.request('spawn', { name: 'after', tag, argv: ['sh', '-c', 'exit 4'] });
    await waitUntil(async () => (await c.request('status', { name: 'after' })).instance!.state === 'exited', 'the next instance to end');
    assert.equal((await c.request('status', { name: 'after' })).instance!.exitCode, 4, 'a new helper reports exit codes again');
    const newHelper = Number(execFileSync('pgrep', ['-P', String(d.pid), '-x', 'python3'], { encoding: 'utf8' }).trim());
    assert.ok(newHelper > 0 && newHelper !== helperPid, `a new helper runs (pid ${newHelper})`);
    assert.ok(next.pid);
  });

  it('a graceful stop of a process that ignores SIGTERM ends with SIGKILL after the timeout', async () => {
    const d = await newDaemon();
    const c = await client(d);
    const sub = await c.subscribe({ tag });
    const events: { event: string; at: number; inst: InstanceInfo }[] = [];
    sub.on('event', (e) => events.push({ event: e.event, at: Date.now(), inst: (e as { instance: InstanceInfo }).instance }));
    // Ignored signals stay ignored across exec.
    const { instance } = await c.request('spawn', { name: 'stubborn', tag, argv: ['sh', '-c', "trap '' TERM; exec sleep 600"], stopTimeoutMs: 700 });
    await waitUntil(() => isSleep(instance.pid!), 'the shell to ignore SIGTERM and exec sleep');
    const { instances } = await c.request('stop', { name: 'stubborn' });
    assert.equal(instances[0].state, 'stopped');
    assert.equal(instances[0].signal, 'SIGKILL');
    await waitUntil(() => events.some((e) => e.event === 'exited'), 'the exited event');
    assert.deepEqual(events.map((e) => e.event), ['started', 'stopping', 'killed', 'exited']);
    const [, stopping, killed] = events;
    assert.ok(killed.at - stopping.at >= 600, `SIGKILL came ${killed.at - stopping.at} ms after SIGTERM`);
    assert.equal(events[3].inst.signal, 'SIGKILL');
  });

  it('an instance is its whole session: stop also ends what its leader left behind', async () => {
    const d = await newDaemon();
    const c = await client(d);
    const pidFile = join(dir, 'bg.pid');
    // The leader exits at once and leaves a background process in its session.
    await c.request('spawn', { name: 'leaver', tag, argv: ['sh', '-c', `sleep 600 & echo $! > ${pidFile}`] });
    await waitUntil(async () => (await c.request('status', { name: 'leaver' })).instance!.state === 'exited', 'the leader to exit');
    const bg = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(procAlive(bg), 'the background process outlived its leader');
    await assert.rejects(c.request('remove', { name: 'leaver' }), (e: any) => e.code === 'E_EXISTS');
    const { instances } = await c.request('stop', { name: 'leaver' });
    assert.equal(instances[0].state, 'stopped');
    assert.equal(procAlive(bg), false, 'stop ended the process left in the session');
    assert.deepEqual((await c.request('remove', { name: 'leaver' })).removed, ['leaver']);

    // The leader dies on SIGTERM, a child ignoring it is killed after the timeout.
    const pidFile2 = join(dir, 'stubborn.pid');
    await c.request('spawn', {
      name: 'parent',
      tag,
      argv: ['sh', '-c', `sh -c "trap '' TERM; exec sleep 600" & echo $! > ${pidFile2}; wait`],
      stopTimeoutMs: 500,
    });
    await waitUntil(() => existsSync(pidFile2) && readFileSync(pidFile2, 'utf8').endsWith('\n'), 'the child pid');
    const child = Number(readFileSync(pidFile2, 'utf8'));
    await waitUntil(() => isSleep(child), 'the child to ignore SIGTERM and exec sleep');
    const sub = await c.subscribe({ tag });
    const seen: string[] = [];
    sub.on('event', (e) => seen.push(e.event));
    const started = Date.now();
    const res = await c.request('stop', { name: 'parent' });
    assert.ok(Date.now() - started >= 450, 'waited for the stubborn child');
    assert.equal(res.instances[0].state, 'stopped');
    assert.equal(procAlive(child), false);
    await waitUntil(() => seen.includes('exited'), 'the exited event');
    assert.deepEqual(seen, ['stopping', 'killed', 'exited']);
  });

  it('a second daemon on the same state directory or socket refuses to start (exit 2, naming the pid)', async () => {
    const d = await newDaemon();
    const again = await cli(['daemon', '--socket', join(dir, 'other.sock'), '--state-dir', d.stateDir]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, new RegExp(`already running \\(pid ${d.pid}`));
    const detached = await cli(['daemon', '--detach', '--socket', d.socket, '--state-dir', d.stateDir]);
    assert.equal(detached.code, 2);
    assert.match(detached.stderr, new RegExp(`pid ${d.pid}`));
    const sameSocket = await cli(['daemon', '--socket', d.socket, '--state-dir', join(dir, 'state2')]);
    assert.equal(sameSocket.code, 2);
    assert.match(sameSocket.stderr, /already answers on/);
    assert.ok(d.alive() && existsSync(d.socket), 'the first daemon and its socket are untouched');
    assert.equal((statSync(d.socket).mode & 0o777).toString(8), '600');
    assert.equal((statSync(join(dir, 'run')).mode & 0o777).toString(8), '700');
  });

  it('refuses to start where /proc is another PID namespace\'s (it could not tell its children from strangers)', async () => {
    const socket = join(dir, 'foreign.sock');
    const r = await run('unshare', ['--pid', '--fork', '--kill-child', process.execPath, BUNDLE, 'daemon', '--socket', socket, '--state-dir', join(dir, 'foreign')], { timeout: 10_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot supervise processes here: \/proc belongs to another PID namespace \(it shows this process as \d+, not 1\)/);
    assert.match(r.stderr, /--mount-proc/);
    assert.equal(existsSync(socket), false);
  });

  it('a socket or state directory it cannot create is an error naming the path (exit 1), not a bug report', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    for (const args of [
      ['--socket', join(file, 'd.sock'), '--state-dir', join(dir, 'st1')],
      ['--detach', '--socket', join(file, 'd.sock'), '--state-dir', join(dir, 'st2')],
      ['--socket', join(dir, 'ok.sock'), '--state-dir', join(file, 'state')],
      ['--detach', '--socket', join(dir, 'ok.sock'), '--state-dir', join(file, 'state')],
    ]) {
      const r = await cli(['daemon', ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`cannot use (socket|state directory) ${file}/.*ENOTDIR`), args.join(' '));
      assert.doesNotMatch(r.stderr, /bug in myikev2/, args.join(' '));
    }
  });

  it('subscribe gives the snapshot first, then the changes of its tag only', async () => {
    const d = await newDaemon();
    const c = await client(d);
    await c.request('spawn', { name: 'a', tag, argv: ['sleep', '600'] });
    await c.request('spawn', { name: 'other', tag: 'othertag', argv: ['sleep', '600'] });
    const sub = await c.subscribe({ tag });
    assert.deepEqual(sub.initial.map((i) => [i.name, i.state]), [['a', 'running']]);
    const seen: string[] = [];
    sub.on('event', (e) => seen.push(`${e.event}:${(e as { instance: InstanceInfo }).instance.name}`));
    await c.request('stop', { name: 'other' });
    await c.request('spawn', { name: 'b', tag, argv: ['true'] });
    await waitUntil(() => seen.includes('exited:b'), 'b to exit');
    await c.request('remove', { name: 'b' });
    await waitUntil(() => seen.includes('removed:b'), 'b removed');
    assert.deepEqual(seen, ['started:b', 'exited:b', 'removed:b']);
    await sub.close();
    await c.request('stop', { tag: 'othertag' });
    await c.request('stop', { tag });
  });

  it('restarts per policy with growing back-off, and a stop cancels the pending restart', async () => {
    const d = await newDaemon();
    const c = await client(d);
    const sub: InstanceSubscription = await c.subscribe({ tag });
    // Daemon-side times: when each run ended and when the next one started.
    const exits: number[] = [];
    const starts: number[] = [];
    sub.on('event', (e) => {
      if (e.instance.name !== 'flaky') return;
      if (e.event === 'restarted') starts.push(Date.parse(e.instance.startedAt!));
      if (e.event === 'exited') exits.push(Date.parse(e.instance.exitedAt!));
    });
    await c.request('spawn', {
      name: 'flaky',
      tag,
      argv: ['sh', '-c', 'exit 3'],
      restart: 'on-failure',
      backoff: { initialMs: 100, factor: 2, maxMs: 400, resetAfterMs: 60_000 },
    });
    await waitUntil(() => starts.length >= 4, 'four restarts');
    const want = [100, 200, 400, 400];
    want.forEach((w, i) => assert.ok(starts[i] - exits[i] >= w - 2, `restart ${i + 1} came ${starts[i] - exits[i]} ms after the exit, want >= ${w}`));
    // Just after a restart the new run has not exited yet: wait for its exit (in backoff again).
    await waitUntil(async () => (await c.request('status', { name: 'flaky' })).instance!.state === 'backoff', 'the restarted run to exit');
    const s = await c.request('status', { name: 'flaky' });
    assert.ok(s.instance!.restarts >= 4);
    assert.equal(s.instance!.exitCode, 3);
    await c.request('stop', { name: 'flaky' });
    const after = (await c.request('status', { name: 'flaky' })).instance!;
    assert.equal(after.state, 'stopped');
    const n = starts.length;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(starts.length, n, 'no restart after stop');
    assert.equal((await c.request('status', { name: 'flaky' })).instance!.state, 'stopped');

    // on-failure does not restart a clean exit; always does; never does not.
    await c.request('spawn', { name: 'clean', tag, argv: ['true'], restart: 'on-failure' });
    await c.request('spawn', { name: 'again', tag, argv: ['true'], restart: 'always', backoff: { initialMs: 50 } });
    await c.request('spawn', { name: 'once', tag, argv: ['false'] });
    await sub.waitFor((e) => e.event === 'restarted' && e.instance.name === 'again');
    const settled = async () => {
      const all = (await c.request('list', { tag })).instances;
      return all.filter((i) => ['clean', 'once'].includes(i.name) && i.exitedAt).length === 2;
    };
    await waitUntil(settled, 'clean and once to exit');
    const list = new Map((await c.request('list', { tag })).instances.map((i) => [i.name, i]));
    assert.equal(list.get('clean')!.state, 'exited');
    assert.equal(list.get('clean')!.exitCode, 0);
    assert.equal(list.get('once')!.state, 'exited');
    assert.equal(list.get('once')!.exitCode, 1);
    await c.request('stop', { name: 'again' });
  });

  it('writes output straight to log files, rotates at the cap to one .prev, and tails/follows them', async () => {
    const d = await newDaemon();
    const c = await client(d);
    // A burst well over the cap, then slow lines that land after the rotation.
    const script =
      'i=0; while [ $i -lt 2000 ]; do echo "line $i ................................"; i=$((i+1)); done; ' +
      'echo err-line >&2; j=0; while [ $j -lt 50 ]; do echo "after $j"; j=$((j+1)); sleep 0.1; done; sleep 600';
    const { instance } = await c.request('spawn', { name: 'chatty', tag, argv: ['sh', '-c', script], logMaxBytes: 20_000 });
    const prev = instance.stdoutPath + '.prev';
    await waitUntil(() => existsSync(prev), 'a rotation');
    // Sizes are checked periodically: a burst may overshoot the cap until the next check rotates again.
    await waitUntil(() => readFileSync(instance.stdoutPath, 'utf8').includes('after') && statSync(instance.stdoutPath).size < 20_000, 'lines written after the last rotation');
    const current = readFileSync(instance.stdoutPath);
    // O_APPEND: after the truncation the writer goes on at the new end, no hole of NUL bytes.
    assert.equal(current.includes(0), false, 'no NUL bytes after rotation');
    assert.ok(current.length < 20_000, `current log is ${current.length} bytes`);
    assert.ok(statSync(prev).size > 20_000);
    assert.match(readFileSync(prev, 'utf8'), /^line \d+/);
    // stderr goes to the same file, after the burst it followed (the last rotation may have moved it to .prev).
    assert.equal(instance.stderrPath, instance.stdoutPath);
    assert.match(readFileSync(prev, 'utf8') + readFileSync(instance.stdoutPath, 'utf8'), /^line 1999 \.+\nerr-line\nafter 0$/m);

    // Follow: new output arrives as log events.
    await c.request('spawn', { name: 'ticker', tag, argv: ['sh', '-c', 'echo first; echo oops >&2; sleep 0.5; echo second; sleep 600'] });
    await waitUntil(() => readFileSync(join(d.stateDir, 'logs', 'ticker.log'), 'utf8').includes('oops'), 'first lines');
    const follow = await c.logs({ name: 'ticker', tail: 10, follow: true });
    assert.deepEqual(follow.initial, [{ stream: 'output', line: 'first' }, { stream: 'output', line: 'oops' }]);
    const ev = await follow.waitFor((e) => e.data.includes('second'));
    assert.equal(ev.stream, 'output');
    await follow.close();
    await c.request('stop', { tag });
  });

  it('replaces its state file atomically: a concurrent reader never sees a partial file', async () => {
    const d = await newDaemon();
    const c = await client(d);
    const statePath = join(d.stateDir, 'state.json');
    // A separate process reads in a tight loop while the daemon rewrites the file.
    const reader = run(process.execPath, [
      '-e',
      `const fs=require('fs');let ok=0,bad=0;const end=Date.now()+2500;
       while(Date.now()<end){try{JSON.parse(fs.readFileSync(${JSON.stringify(statePath)},'utf8'));ok++}catch(e){bad++}}
       console.log(JSON.stringify({ok,bad}))`,
    ]);
    for (let round = 0; round < 4; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => c.request('spawn', { name: `s${i}`, tag, argv: ['sleep', '600'], replace: true })));
      await c.request('stop', { tag, mode: 'hard' });
    }
    const { ok, bad } = JSON.parse((await reader).stdout);
    assert.equal(bad, 0, `${bad} partial reads`);
    assert.ok(ok > 100, `reader made ${ok} reads`);
    const saved = JSON.parse(readFileSync(statePath, 'utf8'));
    assert.equal(saved.instances.length, 20);
    assert.ok(saved.instances.every((i: InstanceInfo) => i.state === 'stopped'));
  });

  it('speaks the protocol: hello first, ids echoed, unknown fields ignored, errors with codes', async () => {
    const d = await newDaemon();
    const raw = await Raw.open(d.socket);
    const hello = await raw.next((m) => m.type === 'hello');
    assert.deepEqual(hello.versions, [1]);
    assert.match(hello.build, /^sha256:[0-9a-f]{64}$/);
    assert.ok(hello.features.includes('spawn') && hello.features.includes('manifest.put'));
    raw.send({ id: 'x1', method: 'list' });
    assert.equal((await raw.next((m) => m.id === 'x1')).error.code, 'E_HELLO_REQUIRED');
    raw.send({ id: 1, method: 'hello', params: { versions: [1, 99], future: { a: 1 } }, extra: true });
    assert.equal((await raw.next((m) => m.id === 1)).result.version, 1);
    raw.send('this is not json\n');
    assert.equal((await raw.next((m) => m.id === null)).error.code, 'E_PARSE');
    raw.send({ id: 2, method: 'nope' });
    assert.equal((await raw.next((m) => m.id === 2)).error.code, 'E_UNKNOWN_METHOD');
    raw.send({ id: 3, method: 'spawn', params: { name: 'bad name!', argv: ['true'] } });
    const badName = await raw.next((m) => m.id === 3);
    assert.equal(badName.error.code, 'E_BAD_REQUEST');
    assert.match(badName.error.message, /params\.name/);
    raw.send({ id: 4, method: 'spawn', params: { name: 'nons', argv: ['true'], netns: `missing${process.pid}` } });
    const noNs = await raw.next((m) => m.id === 4);
    assert.equal(noNs.error.code, 'E_SPAWN');
    assert.match(noNs.error.message, /network namespace missing\d+ does not exist/);
    raw.send({ id: 5, method: 'spawn', params: { name: 'noprog', argv: ['/nonexistent/prog'] } });
    assert.equal((await raw.next((m) => m.id === 5)).error.code, 'E_SPAWN');
    raw.send({ id: 6, method: 'spawn', params: { name: 'u', tag, argv: ['sleep', '600'], futureOption: 'x', restart: 'never' }, trace: 'abc' });
    const spawned = await raw.next((m) => m.id === 6);
    assert.equal(spawned.result.instance.state, 'running');
    raw.send({ id: 7, method: 'spawn', params: { name: 'u', argv: ['true'] } });
    assert.equal((await raw.next((m) => m.id === 7)).error.code, 'E_EXISTS');
    raw.send({ id: 8, method: 'status', params: { name: 'ghost' } });
    assert.equal((await raw.next((m) => m.id === 8)).error.code, 'E_NOT_FOUND');
    raw.send({ id: 9, method: 'stop', params: { name: 'u', mode: 'hard' } });
    assert.equal((await raw.next((m) => m.id === 9)).result.instances[0].state, 'stopped');
    // Nothing was started by the refused requests.
    raw.send({ id: 10, method: 'list' });
    assert.deepEqual((await raw.next((m) => m.id === 10)).result.instances.map((i: InstanceInfo) => i.name), ['u']);
    raw.close();
  });

  it('starts its namespace helpers when a run records its manifest, before any configure or spawn', async () => {
    const d = await newDaemon();
    const c = await client(d);
    const children = () => spawnSync('pgrep', ['-l', '-P', String(d.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.split(' ')[1]).filter((n) => n === 'python3' || n === 'perl').sort();
    await c.request('list', {});
    assert.deepEqual(children(), [], 'a daemon only asked for its list starts no helper');
    await c.request('manifest.put', { key: 'run/warm', value: {} });
    await waitUntil(() => children().length === 2, 'the python3 spawner and the perl helper to start');
    assert.deepEqual(children(), ['perl', 'python3']);
    await c.request('manifest.delete', { key: 'run/warm' });
  });

  it('a daemon whose socket and state were removed by hand goes once idle, leaving the files to the daemon started since', async () => {
    const d1 = await newDaemon();
    const c1 = await client(d1);
    const { instance } = await c1.request('spawn', { name: 'orphaned', tag, argv: ['sleep', '600'] });
    await c1.close();
    // rm -rf /run/myikev2: unreachable for good; a controller then starts a daemon anew.
    rmSync(join(dir, 'run'), { recursive: true, force: true });
    rmSync(d1.stateDir, { recursive: true, force: true });
    const d2 = await newDaemon();
    const c2 = await client(d2);
    await waitUntil(() => !d1.alive(), 'the cut-off daemon to exit', 10_000);
    assert.ok(d2.alive() && existsSync(d2.socket) && existsSync(join(d2.stateDir, 'daemon.lock')), 'the new daemon, its socket and lock stay');
    const saved = existsSync(join(d2.stateDir, 'state.json')) ? readFileSync(join(d2.stateDir, 'state.json'), 'utf8') : '';
    assert.doesNotMatch(saved, /orphaned/, `the old daemon did not write its state over the new one: ${saved} ${readFileSync(d1.log, 'utf8')}`);
    assert.equal((await c2.request('status', {})).counts.running ?? 0, 0);
    killIfSame(instance.pid!, instance.procStartTime);
  });

  it('keeps manifests across daemon restarts and shuts down on request', async () => {
    const d1 = await newDaemon();
    const c1 = await client(d1);
    await c1.request('manifest.put', { key: 'run/t1', value: { servers: ['a'], n: 1 } });
    await c1.request('manifest.put', { key: 'run/t2', value: [1, 2] });
    await c1.request('manifest.put', { key: 'other', value: null });
    assert.equal((await c1.request('manifest.delete', { key: 'run/t2' })).deleted, true);
    assert.equal((await c1.request('manifest.delete', { key: 'run/t2' })).deleted, false);
    await c1.request('spawn', { name: 'keeps', tag, argv: ['sleep', '600'] });
    // A client that never closes its half must not keep the daemon alive.
    const idle = await Raw.open(d1.socket);
    idle.sock.allowHalfOpen = true;
    await c1.request('shutdown', {});
    await waitUntil(() => !d1.alive(), 'daemon 1 to exit after shutdown');
    assert.equal(existsSync(d1.socket), false, 'socket removed on shutdown');
    assert.equal(existsSync(join(d1.stateDir, 'daemon.lock')), false, 'lock released');
    idle.close();

    const d2 = await newDaemon();
    const c2 = await client(d2);
    assert.deepEqual((await c2.request('manifest.list', { prefix: 'run/' })).keys, ['run/t1']);
    assert.deepEqual((await c2.request('manifest.get', { key: 'run/t1' })).value, { servers: ['a'], n: 1 });
    assert.deepEqual((await c2.request('manifest.get', { key: 'other' })).value, null);
    await assert.rejects(c2.request('manifest.get', { key: 'run/t2' }), (e: any) => e.code === 'E_NOT_FOUND');
    const s = await c2.request('status', {});
    assert.equal(s.counts.running, 1, 'the instance outlived the shutdown and was re-adopted');
    await c2.request('shutdown', { stopInstances: true });
    await waitUntil(() => !d2.alive(), 'daemon 2 to exit');
    const saved = JSON.parse(readFileSync(join(d2.stateDir, 'state.json'), 'utf8'));
    assert.equal(saved.instances[0].state, 'stopped');
  });

  it('listens on TCP only with a token, and refuses a wrong one', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'a'.repeat(40) + '\n', { mode: 0o600 });
    const noToken = await cli(['daemon', '--socket', join(dir, 'x.sock'), '--state-dir', join(dir, 'x'), '--listen', '127.0.0.1:1']);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /--listen needs --token-file/);
    const openTokenFile = join(dir, 'token-644');
    writeFileSync(openTokenFile, 'b'.repeat(40) + '\n', { mode: 0o644 });
    // readToken, not the CLI: without the check a daemon would start and stay.
    assert.throws(
      () => readToken(openTokenFile),
      (e: any) => e.exitCode === 2 && /readable by group or others/.test(e.message) && /chmod 600/.test(e.hint) && !JSON.stringify(e).includes('b'.repeat(40)),
    );
    const port = await freePort();
    const d = await newDaemon(['--listen', `127.0.0.1:${port}`, '--token-file', tokenFile]);
    const tcp = () =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    await assert.rejects(DaemonClient.connect(await tcp(), { token: 'wrong-token-wrong-token' }), (e: any) => e.code === 'E_AUTH');
    await assert.rejects(DaemonClient.connect(await tcp()), (e: any) => e.code === 'E_AUTH');
    const good = await DaemonClient.connect(await tcp(), { token: 'a'.repeat(40) });
    clients.push(good);
    assert.equal(good.server.auth, 'token');
    assert.equal((await good.request('status', {})).pid, d.pid);
    assert.ok(!readFileSync(d.log, 'utf8').includes('a'.repeat(40)), 'the token is not logged');
  });

  it('--detach returns once the socket answers, and the daemon outlives its parent', async () => {
    const socket = join(dir, 'det', 'd.sock');
    const stateDir = join(dir, 'state');
    const started = Date.now();
    const parent = await reaper.spawn([process.execPath, BUNDLE, 'daemon', '--detach', '--socket', socket, '--state-dir', stateDir], join(dir, 'detach.out'));
    assert.equal(await reaper.wait(parent), 0);
    const took = Date.now() - started;
    const out = readFileSync(join(dir, 'detach.out'), 'utf8');
    const pid = Number(/pid (\d+)/.exec(out)![1]);
    const d = new TestDaemon(reaper, dir);
    d.pid = pid;
    daemons.push(d);
    assert.ok(d.alive(), `detached daemon ${pid} alive after its parent exited (${took} ms)`);
    const c = await DaemonClient.connectUnix(socket);
    clients.push(c);
    assert.equal(c.server.pid, pid);
    assert.match(readFileSync(join(stateDir, 'daemon.log'), 'utf8'), /listening on/);
    await c.request('shutdown', {});
    await waitUntil(() => !d.alive(), 'detached daemon to exit');
  });
});
