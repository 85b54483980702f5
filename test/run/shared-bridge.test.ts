// Two runs on one server share its management bridge: a run whose instance
// would take a management address another run uses is refused before
// anything is touched; tearing one run down keeps the bridge and the other
// run's host routes (its instances still answer); the last one removes the
// bridge, leaving the machine as it was. Runs take turns on the bridge: a
// run creating or joining it and a teardown deleting it wait for each other.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_SOCKET } from '../../src/daemon/protocol.js';
import { MGMT_BRIDGE, runTag, SERVER_LOCK_DIR } from '../../src/run/names.js';
import { controllerCli, sh } from '../support/machine.js';
import { CLI, FIXTURES, PROJECT_ROOT } from '../support/paths.js';

const dir = join(FIXTURES, 'run');
const bridgeExists = () => sh(`ip link show ${MGMT_BRIDGE} >/dev/null 2>&1 && echo yes`).trim() === 'yes';
const hostRoute = (addr: string) => sh(`ip -6 route show ${addr}/128`).trim();
const namespacesOf = (tag: string) => sh(`ip netns list | awk '{print $1}' | grep '^${tag}-' | sort`).trim();

describe('run: two runs on one server share the management bridge @integration', function () {
  this.timeout(120_000);
  const { myikev2, stateDir, cleanup } = controllerCli();
  const bridgeBefore = bridgeExists();
  const started: ChildProcess[] = [];
  const lockHolders: number[] = []; // process groups

  /** Holds the bridge lock (as another run's plumbing would) until released. */
  async function holdBridgeLock(): Promise<() => void> {
    // Its own process group: flock's child (the sleep) holds the lock too.
    const holder = spawn('flock', [SERVER_LOCK_DIR, 'sleep', '30'], { stdio: 'ignore', detached: true });
    lockHolders.push(holder.pid!);
    for (let i = 0; i < 50 && sh(`flock -n ${SERVER_LOCK_DIR} true && echo free`).trim() === 'free'; i++) await sleep(20);
    return () => process.kill(-holder.pid!, 'SIGKILL');
  }
  /** The CLI in the background; resolves with its exit code. */
  function background(...args: string[]): { exited: Promise<number | null>; done: () => boolean } {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: 'ignore' });
    started.push(child);
    let finished = false;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => ((finished = true), resolve(code))));
    return { exited, done: () => finished };
  }

  after(() => {
    for (const c of started) c.kill('SIGKILL');
    for (const pid of lockHolders) sh(`kill -KILL -- -${pid} 2>/dev/null`);
    for (const name of ['shared-a', 'shared-b', 'shared-clash']) myikev2('teardown', '--force', '--no-logs', '--name', name);
    cleanup();
    for (const name of ['shared-a', 'shared-b', 'shared-clash']) assert.equal(namespacesOf(runTag(name)), '');
    assert.equal(bridgeExists(), bridgeBefore, 'the bridge is as it was before the test');
  });

  it('refuses an instance whose management address another run uses; tearing one run down keeps the other reachable; the last removes the bridge', () => {
    const a = myikev2('run', '--json', join(dir, 'shared-a.yaml'));
    assert.equal(a.status, 0, a.stderr);
    const b = myikev2('run', '--json', join(dir, 'shared-b.yaml'));
    assert.equal(b.status, 0, b.stderr);
    const addrOf = (out: string) => (JSON.parse(out).instances as { mgmtAddr: string }[]).map((i) => i.mgmtAddr);
    const [a1, a2] = addrOf(a.stdout);
    const [b3] = addrOf(b.stdout);

    const clash = myikev2('run', join(dir, 'shared-clash.yaml'));
    assert.equal(clash.status, 1, clash.stderr);
    assert.match(clash.stderr, new RegExp(`management address ${a2} of instance c2 is already in use on server local`));
    // It names the run that has the address, and how to tear that run down.
    assert.match(clash.stderr, new RegExp(`run "shared-a" \\(tag ${runTag('shared-a')}\\) has ${a2} on local, for its instance \\S+ \\(this recipe's instance c2 would get it\\)`));
    assert.match(clash.stderr, /ids no other run on the server uses.*tear that run down first \(myikev2 teardown --name shared-a\)/);
    assert.equal(namespacesOf(runTag('shared-clash')), '', 'nothing of the refused run was created');
    assert.equal(sh("pgrep -f '^sleep 623$' || true").trim(), '');
    assert.match(hostRoute(a2), new RegExp(`dev ${MGMT_BRIDGE}`), 'shared-a keeps its route');

    const tdA = myikev2('teardown', '--no-logs', '--name', 'shared-a');
    assert.equal(tdA.status, 0, tdA.stderr + tdA.stdout);
    assert.equal(hostRoute(a1) + hostRoute(a2), '', "shared-a's host routes are gone");
    assert.ok(bridgeExists(), 'the bridge stays: shared-b is on it');
    assert.match(hostRoute(b3), new RegExp(`dev ${MGMT_BRIDGE}`), "shared-b's host route stays");
    assert.equal(sh(`ping -6 -c 1 -W 2 ${b3} >/dev/null 2>&1 && echo ok`).trim(), 'ok', "shared-b's instance still answers on its management address");

    const tdB = myikev2('teardown', '--no-logs', '--name', 'shared-b');
    assert.equal(tdB.status, 0, tdB.stderr + tdB.stdout);
    assert.equal(hostRoute(b3), '');
    if (!bridgeBefore) assert.equal(bridgeExists(), false, 'the last run on the bridge removed it');
  });

  it('two teardowns at once both finish clean, and the last one stops the idle daemon', async () => {
    const daemonBefore = existsSync(DEFAULT_SOCKET);
    for (const f of ['shared-a.yaml', 'shared-b.yaml']) assert.equal(myikev2('run', '--json', join(dir, f)).status, 0);
    const [a, b] = [background('teardown', '--no-logs', '--name', 'shared-a'), background('teardown', '--no-logs', '--name', 'shared-b')];
    assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
    assert.equal(namespacesOf(runTag('shared-a')) + namespacesOf(runTag('shared-b')), '');
    if (!bridgeBefore) assert.equal(bridgeExists(), false);
    // Each saw the other's run when it began; whichever finished last found the daemon idle.
    if (!daemonBefore) assert.equal(existsSync(dirname(DEFAULT_SOCKET)), false, 'the idle daemon exited, its directory removed');
  });

  it('takes turns on the bridge: a run waits to plumb, and a teardown to delete the bridge, while another run holds it', async () => {
    let release = await holdBridgeLock();
    const run = background('run', '--json', join(dir, 'shared-b.yaml'));
    await sleep(1500);
    assert.equal(run.done(), false, 'the run waits for the lock');
    assert.equal(namespacesOf(runTag('shared-b')), '', 'and has created nothing yet');
    release();
    assert.equal(await run.exited, 0);
    assert.equal(namespacesOf(runTag('shared-b')), `${runTag('shared-b')}-b3`);

    release = await holdBridgeLock();
    const td = background('teardown', '--no-logs', '--name', 'shared-b');
    await sleep(1500);
    assert.equal(td.done(), false, 'the teardown waits for the lock');
    assert.ok(bridgeExists(), 'and has not deleted the bridge');
    release();
    assert.equal(await td.exited, 0);
    if (!bridgeBefore) assert.equal(bridgeExists(), false);
    assert.equal(namespacesOf(runTag('shared-b')), '');
  });
});
