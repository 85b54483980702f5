// Failure, drift and teardown by name, on the local machine: a run whose
// instance fails rolls back what it created; --keep-on-failure keeps it for
// inspection; Ctrl-C stops a run and rolls it back; a changed recipe is
// reported as drift and replaced only with --override; teardown --name works
// without the recipe.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_SOCKET } from '../../src/daemon/protocol.js';
import { SERVER_RUNS_DIR, runLinkGroup, runTag } from '../../src/run/names.js';
import { controllerCli, sh } from '../support/machine.js';
import { CLI, FIXTURES, PROJECT_ROOT } from '../support/paths.js';

const dir = join(FIXTURES, 'run');
const namespacesOf = (tag: string) => sh(`ip netns list | awk '{print $1}' | grep '^${tag}-' | sort`).trim();
const vethsInGroup = (group: number) => Number(sh(`ip -o link show group ${group} | wc -l`).trim());
/** Files of a .tar.gz of logs the controller saved, by pattern (fails if the archive or the files are missing). */
const savedLog = (archive: string, pattern: string) => execFileSync('tar', ['-xzOf', archive, '--wildcards', pattern], { encoding: 'utf8' });
const processesOf = (tag: string) => Number(sh(`grep -l -a 'MYIKEV2_TAG=${tag}' /proc/[0-9]*/environ 2>/dev/null | wc -l`).trim());

describe('run: failure, rollback, drift, teardown by name @integration', function () {
  this.timeout(120_000);
  const { myikev2, stateDir, cleanup } = controllerCli();
  const rollbackTag = runTag('rollback-test');
  const driftTag = runTag('drift-test');

  after(() => {
    myikev2('teardown', '--force', '--no-logs', '--name', 'detached-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'escape-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'rollback-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'drift-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'grow-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'interrupt-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'slow-destroy-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'busy-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'slow-setup-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'late-fail-test');
    myikev2('teardown', '--force', '--no-logs', '--name', 'dataif-gone-test');
    sh('ip link del mdgA 2>/dev/null; ip link del mdgB 2>/dev/null; true');
    cleanup();
    assert.equal(namespacesOf(rollbackTag) + namespacesOf(driftTag), '');
  });

  it('a failing instance stops the run with the server, step and output, and rolls back (the daemon it started goes too)', () => {
    const daemonBefore = existsSync(DEFAULT_SOCKET);
    const r = myikev2('run', '--plain', join(dir, 'failing.yaml'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error: \[server local, step start bad\] instance bad did not start: its process exited with 3/);
    assert.match(r.stderr, /cannot start, missing config/);
    assert.match(r.stderr, /rolling back/);
    const logs = /logs of the failed run saved in (\S+)/.exec(r.stderr);
    assert.ok(logs, r.stderr);
    assert.match(savedLog(join(logs[1], 'local.tar.gz'), 'bad/*.log'), /cannot start, missing config/, 'the rollback kept the failing instance\'s output');
    assert.equal(namespacesOf(rollbackTag), '');
    assert.equal(processesOf(rollbackTag), 0);
    if (!daemonBefore) {
      assert.equal(existsSync(DEFAULT_SOCKET), false, 'the daemon the run started has nothing left: it exited');
      assert.equal(existsSync(dirname(DEFAULT_SOCKET)), false, 'with its directory');
    }
  });

  it('an instance that runs a moment and then fails is not called up: the run fails and rolls back', () => {
    const r = myikev2('run', '--json', join(dir, 'late-fail.yaml'));
    assert.equal(r.status, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /instance late did not start: its process exited with 4\nlast output:\nconfig error\n/);
    // A --json reader learns it on stdout.
    const { error } = JSON.parse(r.stdout);
    assert.deepEqual([error.code, error.server, error.step, error.exitCode], ['E_INSTANCE', 'local', 'start late', 1]);
    assert.equal(namespacesOf(runTag('late-fail-test')), '');
  });

  it('--keep-on-failure keeps what was created; teardown --name removes it', () => {
    const r = myikev2('run', '--plain', '--keep-on-failure', join(dir, 'failing.yaml'));
    assert.equal(r.status, 1);
    assert.equal(namespacesOf(rollbackTag), `${rollbackTag}-bad\n${rollbackTag}-good`);
    // The host veth ends carry the run's link group (teardown deletes them by it), but a
    // link of someone else in that group makes teardown leave the group alone.
    const group = runLinkGroup(rollbackTag);
    assert.equal(vethsInGroup(group), 2);
    const foreign = `zfg${process.pid % 100000}`;
    sh(`ip link add ${foreign} group ${group} type veth peer name ${foreign}p`);
    try {
      const withKeep = (keep: string) => spawnSync(process.execPath, [CLI, 'teardown', '--name', 'rollback-test'], { encoding: 'utf8', cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir, MYIKEV2_KEEP_LOGS: keep } });
      const bad = withKeep('all');
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /MYIKEV2_KEEP_LOGS=all: expected a whole number/);
      assert.equal(namespacesOf(rollbackTag), `${rollbackTag}-bad\n${rollbackTag}-good`, 'a bad setting touches nothing');
      const older = join(stateDir, 'logs', 'rollback-test-2001-01-01T00-00-00-000Z'); // an earlier teardown's
      mkdirSync(older, { recursive: true });
      const td = withKeep('1');
      assert.equal(td.status, 0, td.stderr + td.stdout);
      const logs = /logs saved in (\S+) \(removed the \d+ oldest saved logs of this run: the newest 1 are kept/.exec(td.stdout);
      assert.ok(logs, td.stdout);
      assert.equal(existsSync(older), false, 'the older saved logs went');
      assert.deepEqual(readdirSync(join(stateDir, 'logs')).filter((d) => d.startsWith('rollback-test-')), [basename(logs[1])], 'only the newest is kept');
      assert.match(savedLog(join(logs[1], 'local.tar.gz'), 'bad/*.log'), /cannot start, missing config/);
      assert.equal(savedLog(join(logs[1], 'local.tar.gz'), 'good/*.log'), '', 'every instance\'s logs are kept');
      assert.equal(namespacesOf(rollbackTag), '');
      assert.equal(processesOf(rollbackTag), 0);
      assert.equal(sh(`ip -o link show group ${group} | awk -F': ' '{ print $2 }' | sed 's/@.*//'`).trim(), foreign, 'only the foreign link is left');
    } finally {
      sh(`ip link del ${foreign} 2>/dev/null || true`);
    }
    assert.equal(vethsInGroup(group), 0);
  });

  /** Runs the CLI, sends it Ctrl-C (SIGINT) once a process matching `pattern` runs, and waits for it to exit. */
  async function interruptWhenRunning(pattern: string, what: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const running = () => sh(`pgrep -f '${pattern}' || true`).trim();
      for (let i = 0; i < 150 && !running(); i++) await sleep(100);
      assert.ok(running(), what);
      child.kill('SIGINT');
      return { code: await exited, stdout, stderr };
    } finally {
      child.kill('SIGKILL');
    }
  }

  it('Ctrl-C stops a run after its current step and rolls back what it created (exit 130)', async () => {
    // The first instance runs; the second waits 10 s (its waitinterval).
    const { code, stdout, stderr } = await interruptWhenRunning('^sleep 640$', 'the first instance started', 'run', '--plain', join(dir, 'interrupt.yaml'));
    assert.equal(code, 130, stderr);
    assert.doesNotMatch(stdout + stderr, /✖ wave \d+: .*instance\(s\) up/, 'a wave cut short is not called up');
    assert.match(stderr, /interrupted: stopping after the current step, then rolling back/);
    assert.match(stderr, /run cancelled; rolling back what it created/);
    assert.match(stderr, /error: cancelled/);
    const tag = runTag('interrupt-test');
    assert.equal(namespacesOf(tag), '');
    assert.equal(processesOf(tag), 0);
    assert.equal(sh("pgrep -f '^sleep 64[01]$' || true").trim(), '', 'neither instance runs');
  });

  it('Ctrl-C during a teardown lets it finish: nothing is left half removed', async () => {
    assert.equal(myikev2('run', '--json', join(dir, 'slow-destroy.yaml')).status, 0);
    const { code, stderr } = await interruptWhenRunning('^sleep 2.5$', 'the teardown is running destroycmds', 'teardown', '--plain', '--no-logs', '--name', 'slow-destroy-test');
    assert.equal(code, 0, stderr);
    assert.match(stderr, /interrupted: the teardown finishes/);
    const tag = runTag('slow-destroy-test');
    assert.equal(namespacesOf(tag), '');
    assert.equal(processesOf(tag), 0);
  });

  it('a run being brought up is busy: the same run or its teardown from another command is refused, naming who holds it', async () => {
    const first = spawn(process.execPath, [CLI, 'run', '--json', join(dir, 'busy.yaml')], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => first.once('exit', resolve));
    try {
      for (let i = 0; i < 150 && !sh("pgrep -f '^sleep 670$' || true").trim(); i++) await sleep(100);
      const other = controllerCli(); // another controller: only the server can tell
      try {
        const busy = `run ${runTag('busy-test')} is busy: held by myikev2 run on \\S+ \\(pid ${first.pid}\\) since `;
        const run = other.myikev2('run', join(dir, 'busy.yaml'));
        assert.equal(run.status, 1, run.stderr + run.stdout);
        assert.match(run.stderr, new RegExp(`\\[server local, step lock the run\\] ${busy}`));
        const td = other.myikev2('teardown', '--no-logs', '--name', 'busy-test');
        assert.equal(td.status, 1, td.stderr + td.stdout);
        assert.match(td.stdout, new RegExp(`local: could not remove:\\n  not torn down \\(step lock the run\\): ${busy}`));
      } finally {
        other.cleanup();
      }
      assert.equal(await exited, 0, 'the first run was not disturbed');
    } finally {
      first.kill('SIGKILL');
    }
    assert.equal(namespacesOf(runTag('busy-test')), `${runTag('busy-test')}-first\n${runTag('busy-test')}-second`);
    const again = myikev2('run', '--plain', join(dir, 'busy.yaml'));
    assert.equal(again.status, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /wave 2: 1 instance\(s\) already running \(no wait\)/, 'a converging run does not wait out the waitinterval of a wave it keeps');
    assert.equal(myikev2('teardown', '--no-logs', '--name', 'busy-test').status, 0, 'its lock went with its connection');
    assert.equal(namespacesOf(runTag('busy-test')), '');
  });

  it('a teardown that finds no run does not stop a daemon that another run is using, before that run recorded anything', async () => {
    if (existsSync(DEFAULT_SOCKET)) myikev2('teardown', '--no-logs', '--name', 'no-such-run'); // the test starts with no daemon
    assert.equal(existsSync(DEFAULT_SOCKET), false, 'no daemon before');
    const first = spawn(process.execPath, [CLI, 'run', '--json', join(dir, 'slow-setup.yaml')], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    first.stderr!.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => first.once('exit', resolve));
    try {
      for (let i = 0; i < 150 && !sh("pgrep -f '^sleep 2.6$' || true").trim(); i++) await sleep(100);
      assert.ok(sh("pgrep -f '^sleep 2.6$' || true").trim(), 'the run is in its setupcmds');
      const other = controllerCli();
      try {
        const none = other.myikev2('teardown', '--no-logs', '--name', 'no-such-run');
        assert.equal(none.status, 0, none.stderr + none.stdout);
        assert.equal(none.stdout, 'nothing to tear down: no run of "no-such-run"\n', 'the daemon is not idle: the run is connected to it');
        const json = JSON.parse(other.myikev2('teardown', '--no-logs', '--json', '--name', 'no-such-run').stdout);
        assert.deepEqual([json.name, json.found], ['no-such-run', false], 'the JSON names the run asked for, and says it was not found');
      } finally {
        other.cleanup();
      }
      assert.equal(await exited, 0, stderr);
    } finally {
      first.kill('SIGKILL');
    }
    assert.equal(namespacesOf(runTag('slow-setup-test')), `${runTag('slow-setup-test')}-only`);
    assert.equal(myikev2('teardown', '--no-logs', '--name', 'slow-setup-test').status, 0);
    assert.equal(namespacesOf(runTag('slow-setup-test')), '');
    assert.equal(existsSync(DEFAULT_SOCKET), false, 'the daemon went with the last run');
  });

  it('an upcmds that daemonises and exits 0 counts as running (detached); teardown stops what it left', () => {
    const r = myikev2('run', '--json', join(dir, 'detached.yaml'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).instances[0].state, 'running (detached)');
    const tag = runTag('detached-test');
    assert.equal(sh(`ip netns pids ${tag}-forks | wc -l`).trim(), '1', 'the background sleep runs in the namespace');
    // Run again: it runs on, so it is kept (a second `ipsec start` would fail, or start a second daemon).
    const again = myikev2('run', '--json', join(dir, 'detached.yaml'));
    assert.equal(again.status, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).instances[0].state, 'running (detached)');
    assert.deepEqual([JSON.parse(r.stdout).instances[0].change, JSON.parse(again.stdout).instances[0].change], ['created', 'kept'], 'the JSON says what the run did');
    assert.equal(sh(`ip netns pids ${tag}-forks | wc -l`).trim(), '1', 'not started a second time');
    const td = myikev2('teardown', '--name', 'detached-test');
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.equal(sh("pgrep -f '^sleep 603$' || true").trim(), '', 'the daemonised process was stopped');
    assert.equal(namespacesOf(tag), '');
  });

  it('teardown also stops a process of the run that left its namespace (it carries the run\'s tag)', () => {
    const r = myikev2('run', '--json', join(dir, 'escape.yaml'));
    assert.equal(r.status, 0, r.stderr);
    const tag = runTag('escape-test');
    const escaped = sh("pgrep -f '^sleep 604$' || true").trim();
    assert.ok(escaped, 'the child runs');
    assert.equal(sh(`ip netns identify ${escaped}`).trim(), '', 'in the base namespace');
    const td = myikev2('teardown', '--name', 'escape-test');
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.equal(sh("pgrep -f '^sleep 60[45]$' || true").trim(), '', 'both were stopped');
    assert.equal(processesOf(tag), 0);
  });

  it('a changed recipe is drift: reported, and replaced only with --override', () => {
    assert.equal(myikev2('run', '--json', join(dir, 'drift-v1.yaml')).status, 0);
    const pidOf = (name: string) => sh(`pgrep -f '^sleep ${name}$'`).trim();
    const aBefore = pidOf('600');
    const drift = myikev2('run', join(dir, 'drift-v2.yaml'));
    assert.equal(drift.status, 2, 'nothing was changed: exit 2, as for any input to fix');
    assert.match(drift.stderr, /instance b on local: its definition \(recipe entry or setup file\) changed since it was started/);
    assert.match(drift.stderr, /--override/);
    assert.ok(pidOf('601'), 'nothing was replaced without --override');
    const over = myikev2('run', '--json', '--override', join(dir, 'drift-v2.yaml'));
    assert.equal(over.status, 0, over.stderr);
    assert.equal(pidOf('601'), '', 'the old b is gone');
    assert.ok(pidOf('602'), 'the new b runs');
    assert.equal(pidOf('600'), aBefore, 'the unchanged instance was kept');
    const changes = (JSON.parse(over.stdout) as { instances: { instance: string; change: string }[] }).instances.map((i) => `${i.instance} ${i.change}`);
    assert.deepEqual(changes, ['a kept', 'b replaced'], 'the JSON says what the run did');
    assert.equal(namespacesOf(driftTag), `${driftTag}-a\n${driftTag}-b`);
    const td = myikev2('teardown', '--name', 'drift-test');
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.equal(namespacesOf(driftTag), '');
  });

  it('a converging run that fails rolls back to the run as it was: its manifest no longer names what it created', () => {
    const growTag = runTag('grow-test');
    assert.equal(myikev2('run', '--json', join(dir, 'grow-v1.yaml')).status, 0);
    const bad = myikev2('run', '--plain', join(dir, 'grow-bad.yaml'));
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /rolling back/);
    assert.equal(namespacesOf(growTag), `${growTag}-a`, 'the new instance is gone, the old one kept');
    const m = JSON.parse(readFileSync(join(stateDir, 'runs', `${growTag}.json`), 'utf8')) as { instances: { name: string }[] };
    assert.deepEqual(m.instances.map((i) => i.name), ['a'], 'the manifest is the run as it was');
    // The fixed recipe adds the instance: nothing of the failed one is taken for drift.
    const fixed = myikev2('run', '--json', join(dir, 'grow-v2.yaml'));
    assert.equal(fixed.status, 0, fixed.stderr);
    const changes = (JSON.parse(fixed.stdout) as { instances: { instance: string; change: string }[] }).instances.map((i) => `${i.instance} ${i.change}`);
    assert.deepEqual(changes, ['a kept', 'c created']);
    const td = myikev2('teardown', '--name', 'grow-test');
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.equal(namespacesOf(growTag), '');
  });

  it('an instance started again gets its namespace configured again (a run killed between plumbing and configuring it left no management address)', async () => {
    const r = myikev2('run', '--json', join(dir, 'drift-v1.yaml'));
    assert.equal(r.status, 0, r.stderr);
    const a = (JSON.parse(r.stdout) as { instances: { instance: string; namespace: string; mgmtAddr: string }[] }).instances.find((i) => i.instance === 'a')!;
    const mgmt0 = () => sh(`ip -n ${a.namespace} -o addr show dev mgmt0 scope global; ip -n ${a.namespace} -o link show mgmt0; ip -n ${a.namespace} -6 route show default`);
    // What a namespace looks like when the controller died after plumbing it: no address, mgmt0 down; and its process gone.
    sh(`ip -n ${a.namespace} addr flush dev mgmt0 && ip -n ${a.namespace} link set mgmt0 down && pkill -f '^sleep 600$'`);
    for (let i = 0; i < 50 && sh(`pgrep -f '^sleep 600$' || true`).trim(); i++) await sleep(100);
    assert.doesNotMatch(mgmt0(), new RegExp(`inet6 ${a.mgmtAddr}/`));
    const again = myikev2('run', '--json', join(dir, 'drift-v1.yaml'));
    assert.equal(again.status, 0, again.stderr);
    const after = mgmt0();
    assert.match(after, new RegExp(`inet6 ${a.mgmtAddr}/`), after);
    assert.match(after, /state UP|,UP[,>]/, after);
    assert.match(after, /^default via fe80::1 dev mgmt0/m, after);
    assert.equal(spawnSync('ping', ['-6', '-c', '1', '-W', '2', a.mgmtAddr]).status, 0, 'the management address answers from the server again');
    const td = myikev2('teardown', '--name', 'drift-test');
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.equal(namespacesOf(driftTag), '');
  });

  it('a data interface gone with a namespace deleted by hand is told (a warning, nothing of the run left: exit 0); one already back is restored', () => {
    const tag = runTag('dataif-gone-test');
    const link = (where = '') => sh(`ip ${where} -o addr show dev mdgA 2>/dev/null; ip ${where} -o link show mdgA 2>/dev/null || true`);
    // Gone: a veth goes with its namespace when nothing holds it any more (its instance crashed too; one still
    // running keeps the namespace, and teardown gives the interface back: test/run/dataif-lab).
    assert.equal(myikev2('run', '--json', join(dir, 'dataif-gone.yaml')).status, 0);
    sh(`pkill -f '^sleep 604$'; while pgrep -f '^sleep 604$' >/dev/null; do sleep 0.05; done; ip netns del ${tag}-x`);
    let td = myikev2('teardown', '--name', 'dataif-gone-test');
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.match(td.stderr, new RegExp(`warning: local: data interface mdgA of ${tag}-x is gone: it went with its namespace, deleted outside myikev2`));
    assert.equal(link(), '');
    assert.equal(processesOf(tag), 0);
    // Back already (moved by hand, losing its address and going down): given its address and state from before the run.
    assert.equal(myikev2('run', '--json', join(dir, 'dataif-gone.yaml')).status, 0);
    assert.match(link(`-n ${tag}-x`), /inet 10\.213\.0\.1\/24/);
    sh(`ip -n ${tag}-x link set mdgA netns 1`);
    assert.doesNotMatch(link(), /inet /);
    td = myikev2('teardown', '--name', 'dataif-gone-test');
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.doesNotMatch(td.stderr, /warning/);
    const back = link();
    assert.match(back, /inet 10\.213\.9\.1\/24/, back);
    assert.match(back, /<[^>]*\bUP\b/, back);
    assert.equal(namespacesOf(tag), '');
    sh('ip link del mdgA');
  });

  it('a teardown that cannot remove something lists it and exits 1; the server keeps the manifest, so any controller can finish later', () => {
    assert.equal(myikev2('run', '--json', join(dir, 'drift-v1.yaml')).status, 0);
    const runDir = `${SERVER_RUNS_DIR}/${driftTag}`;
    const blocker = `${runDir}/a/blocker`; // a mount point: rm -rf cannot remove it
    sh(`mkdir -p ${blocker} && mount -t tmpfs myikev2-test-blocker ${blocker}`);
    try {
      const td = myikev2('teardown', '--no-logs', '--name', 'drift-test');
      assert.equal(td.status, 1, td.stderr + td.stdout);
      assert.match(td.stdout, new RegExp(`files ${runDir}`));
      assert.match(td.stdout, /teardown of "drift-test" incomplete/);
      assert.equal(namespacesOf(driftTag), '', 'the rest is gone');
    } finally {
      sh(`umount ${blocker}`);
    }
    const other = controllerCli(); // knows nothing of the run: only the server's manifest can tell
    try {
      const td = other.myikev2('teardown', '--no-logs', '--name', 'drift-test');
      assert.equal(td.status, 0, td.stderr + td.stdout);
      assert.match(td.stdout, /verified clean on 1 server\(s\) in \d+\.\d s/);
      assert.equal(existsSync(runDir), false);
      assert.equal(existsSync(DEFAULT_SOCKET), false, 'the daemon exited: nothing was left for it');
    } finally {
      other.cleanup();
    }
  });

  it('teardown --keep-daemon leaves the idle daemon running (with no manifest of the run); a later teardown stops it, even of no run', () => {
    assert.equal(myikev2('run', '--json', join(dir, 'drift-v1.yaml')).status, 0);
    const kept = myikev2('teardown', '--no-logs', '--keep-daemon', '--name', 'drift-test');
    assert.equal(kept.status, 0, kept.stderr + kept.stdout);
    assert.equal(namespacesOf(driftTag), '');
    assert.equal(existsSync(DEFAULT_SOCKET), true, 'the daemon still runs');
    const other = controllerCli(); // only the server could know of the run now: it does not
    try {
      const keptAgain = other.myikev2('teardown', '--no-logs', '--keep-daemon', '--name', 'drift-test');
      assert.equal(keptAgain.stdout, 'nothing to tear down: no run of "drift-test"\n');
      assert.equal(existsSync(DEFAULT_SOCKET), true, 'kept again');
      const none = other.myikev2('teardown', '--no-logs', '--name', 'drift-test');
      assert.equal(none.status, 0, none.stderr + none.stdout);
      assert.equal(none.stdout, 'nothing to tear down: no run of "drift-test"; stopped the idle daemon on local\n');
      assert.equal(existsSync(DEFAULT_SOCKET), false, 'the idle daemon is gone');
      assert.equal(existsSync('/run/myikev2'), false, 'and its directories');
    } finally {
      other.cleanup();
    }
    assert.equal(myikev2('run', '--json', join(dir, 'drift-v1.yaml')).status, 0);
    assert.equal(myikev2('teardown', '--no-logs', '--name', 'drift-test').status, 0);
    assert.equal(existsSync(DEFAULT_SOCKET), false, 'the daemon exited with the last run');
  });

  it('teardown stops later waves first: an instance started after another is stopped before it', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'myikev2-order-'));
    try {
      const order = join(tmp, 'order');
      const recipe = join(tmp, 'order.yaml');
      const instance = (id: number, name: string, onTerm: string, wait = '') =>
        `  ${id}:\n    name: ${name}\n    daemonname: local\n${wait}    other:\n      upcmds: 'trap "${onTerm}echo ${name} >> ${order}; exit 0" TERM; while :; do sleep 0.2; done'\n`;
      // The later one takes a second to stop: stopped at the same time, the first would be done first.
      writeFileSync(recipe, `name: stop-order-test\ninstancelist:\n${instance(1, 'first', '')}${instance(2, 'second', 'sleep 1; ', '    waitinterval: 100ms\n')}`);
      const up = myikev2('run', '--json', recipe);
      assert.equal(up.status, 0, up.stderr);
      const td = myikev2('teardown', '--no-logs', recipe);
      assert.equal(td.status, 0, td.stderr + td.stdout);
      assert.equal(readFileSync(order, 'utf8'), 'second\nfirst\n');
    } finally {
      myikev2('teardown', '--force', '--no-logs', '--name', 'stop-order-test');
      rmSync(tmp, { recursive: true, force: true });
    }
    assert.equal(namespacesOf(runTag('stop-order-test')), '');
  });

  it('teardown RECIPE needs only the recipe\'s name: a recipe broken since the run still tears its run down', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'myikev2-broken-'));
    try {
      const recipe = join(tmp, 'recipe.yaml');
      writeFileSync(recipe, readFileSync(join(dir, 'drift-v1.yaml'), 'utf8'));
      assert.equal(myikev2('run', '--json', recipe).status, 0);
      assert.equal(namespacesOf(driftTag), `${driftTag}-a\n${driftTag}-b`);
      writeFileSync(recipe, 'name: drift-test\ninstancelist:\n  1:\n    name: a\n    daemonname: nowhere\n    bogus: 1\n');
      assert.equal(myikev2('validate', recipe).status, 2, 'the recipe is invalid now');
      const td = myikev2('teardown', '--no-logs', recipe);
      assert.equal(td.status, 0, td.stderr + td.stdout);
      assert.equal(namespacesOf(driftTag), '');
      // A recipe renamed since it ran: its run is up under the old name, and teardown says so.
      writeFileSync(recipe, readFileSync(join(dir, 'drift-v1.yaml'), 'utf8'));
      assert.equal(myikev2('run', '--json', recipe).status, 0);
      writeFileSync(recipe, readFileSync(join(dir, 'drift-v1.yaml'), 'utf8').replace('name: drift-test', 'name: drift-test-renamed'));
      const renamed = myikev2('teardown', '--no-logs', recipe);
      assert.equal(renamed.status, 0, renamed.stderr);
      assert.match(renamed.stdout, /nothing to tear down: no run of "drift-test-renamed"\nbut \S+recipe\.yaml started the run "drift-test" \(its name then\), still on record: myikev2 teardown --name drift-test\n/);
      assert.equal(myikev2('teardown', '--no-logs', '--name', 'drift-test').status, 0);
      assert.equal(namespacesOf(driftTag), '');
      writeFileSync(recipe, 'instancelist: {}\n');
      const noName = myikev2('teardown', recipe);
      assert.equal(noName.status, 2);
      assert.match(noName.stderr, /recipe\.yaml:1:1: error: name: the recipe has no usable name/);
      assert.match(noName.stderr, /--name NAME/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
