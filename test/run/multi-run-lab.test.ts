// One run, several commands on the lab: edited and run again (what leaves
// the recipe goes from its server, even a server the recipe no longer names,
// with the run's record and daemon there), torn down while another command
// holds it on one server (nothing is touched); its controller killed while
// setupcmds ran (the run is on record: teardown runs cleancmds); torn down by
// another controller and run again (setupcmds run again), or changed by
// another controller (teardown from an older record does not call it clean).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runTag } from '../../src/run/names.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { serverState, sshArgs, sshRun, useLab } from '../support/lab.js';
import { controllerCli } from '../support/machine.js';
import { CLI, PROJECT_ROOT, tempPath } from '../support/paths.js';

function recipe(name: string, instances: { id: number; server: string; upcmds: string }[]): string {
  const list = Object.fromEntries(instances.map((i) => [String(i.id), { name: `i${i.id}`, daemonname: i.server, other: { upcmds: i.upcmds } }]));
  return stringify({ name, instancelist: list });
}

describe('one run, several commands on the lab @integration', function () {
  this.timeout(120_000);
  const { myikev2, stateDir, cleanup } = controllerCli();
  // Registered before useLab's hooks, so it runs while the lab is still up (after hooks run in order).
  after(() => {
    for (const name of names) myikev2('teardown', '--force', '--no-logs', '-c', labRef.lab.controllerConfigPath, '--name', name);
    cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });
  const labRef = useLab({ servers: 2 });
  const tmp = tempPath('myikev2-converge-lab-');
  before(() => mkdirSync(tmp));
  const names = ['lab-leave-server-test', 'lab-busy-teardown-test', 'lab-other-controller-test', 'lab-changed-elsewhere-test', 'lab-tearing-down-test'];

  it('-o with the only instance of a server gone from the recipe removes it there, with the run\'s record and the idle daemon', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers;
    const tag = runTag(names[0]);
    // /var/log is shared by the lab's servers: i1's logs on the other one are there too.
    const state = async () => { const s = await serverState(lab, two, tag); return s.slice(0, s.lastIndexOf('---')); };
    const before = await state();
    const file = join(tmp, 'leave.yaml');
    writeFileSync(file, recipe(names[0], [{ id: 1, server: one.name, upcmds: 'exec sleep 671' }, { id: 2, server: two.name, upcmds: 'exec sleep 672' }]));
    let r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(file, recipe(names[0], [{ id: 1, server: one.name, upcmds: 'exec sleep 671' }]));
    r = myikev2('run', '--plain', '-o', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`removed \\(no longer in the recipe\\): i2 \\(${two.name}\\)`), 'the summary names what the run removed');
    assert.equal(await state(), before, `${two.name} is as it was before the run`);
    assert.equal((await sshRun(lab, one, "pgrep -f '^sleep 671$'")).code, 0, 'i1 runs on');
    assert.notEqual((await sshRun(lab, two, "pgrep -f '[m]yikev2-daemon.mjs'")).code, 0, `no daemon is left on ${two.name}`);
    r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
    // No record of the run is left anywhere: the run of the first recipe again is a new run, not one that differs.
    writeFileSync(file, recipe(names[0], [{ id: 1, server: one.name, upcmds: 'exec sleep 673' }, { id: 2, server: two.name, upcmds: 'exec sleep 674' }]));
    r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
    r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
  });

  it('a run torn down by another controller is set up anew by this one: its setupcmds run again', async () => {
    const { lab } = labRef;
    const [one] = lab.servers;
    const other = controllerCli(); // its own state directory
    try {
      const made = join(tmp, 'made-for-other-controller'); // /tmp is shared with the lab's servers
      const file = join(tmp, 'other.yaml');
      const doc = { name: names[2], setupcmds: [{ daemonname: one.name, cmds: `mkdir ${made}` }], cleancmds: [{ daemonname: one.name, cmds: `rmdir ${made}` }], instancelist: { 1: { name: 'i1', daemonname: one.name, other: { upcmds: 'exec sleep 678' } } } };
      writeFileSync(file, stringify(doc));
      let r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
      assert.equal(r.status, 0, r.stderr);
      r = other.myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, '--name', names[2]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!existsSync(made), 'cleancmds ran');
      r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(existsSync(made), `setupcmds ran again:\n${r.stderr}`);
      r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, file);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!existsSync(made), 'cleancmds ran');
    } finally {
      other.cleanup();
    }
  });

  it('a teardown from a controller whose record is older (another one added an instance on another server) does not call the run clean, and the next one finishes it', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers;
    const other = controllerCli(); // its own state directory
    try {
      const file = join(tmp, 'changed-elsewhere.yaml');
      writeFileSync(file, recipe(names[3], [{ id: 1, server: one.name, upcmds: 'exec sleep 679' }]));
      let r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
      assert.equal(r.status, 0, r.stderr);
      const grown = join(tmp, 'changed-elsewhere-2.yaml');
      writeFileSync(grown, recipe(names[3], [{ id: 1, server: one.name, upcmds: 'exec sleep 679' }, { id: 2, server: two.name, upcmds: 'exec sleep 680' }]));
      r = other.myikev2('run', '--plain', '-c', lab.controllerConfigPath, grown);
      assert.equal(r.status, 0, r.stderr);
      r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, '--name', names[3]);
      assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, new RegExp(`${two.name}: could not remove:\\n  not torn down: the run has a part here since another controller changed it`));
      r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, '--name', names[3]);
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.notEqual((await sshRun(lab, two, "pgrep -f '^sleep 680$'")).code, 0, `i2 is gone from ${two.name}`);
    } finally {
      other.cleanup();
    }
  });

  it('a run being torn down is busy until the teardown is done, its cleancmds included: the same run from another controller is refused', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers;
    const tag = runTag(names[4]);
    const file = join(tmp, 'tearing-down.yaml');
    // The cleancmds wait until the test lets them go (the file goes), 30 s at most; /tmp is shared with the lab's servers.
    const held = join(tmp, 'teardown-in-cleancmds');
    const doc = { name: names[4], cleancmds: [{ daemonname: one.name, cmds: `touch ${held}; i=0; while [ -e ${held} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done` }], instancelist: { 1: { name: 'i1', daemonname: one.name, other: { upcmds: 'exec sleep 681' } }, 2: { name: 'i2', daemonname: two.name, other: { upcmds: 'exec sleep 682' } } } };
    writeFileSync(file, stringify(doc));
    let r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
    const td = spawn(process.execPath, [CLI, 'teardown', '--plain', '--no-logs', '-c', lab.controllerConfigPath, file], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    td.stdout!.on('data', (d: Buffer) => (out += d));
    td.stderr!.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((resolve) => td.once('exit', resolve));
    const other = controllerCli(); // its own state directory
    try {
      for (let i = 0; i < 600 && !existsSync(held); i++) await sleep(50);
      assert.ok(existsSync(held), `the teardown is in its cleancmds on ${one.name}:\n${out}`);
      assert.notEqual((await sshRun(lab, one, `ip netns list | grep '^${tag}-'`)).code, 0, 'the namespaces are gone by then');
      r = other.myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
      assert.equal(r.status, 1, `${r.stdout}${r.stderr}\nthe teardown's output:\n${out}`);
      assert.match(r.stderr, new RegExp(`\\[server ${one.name}, step lock the run\\] run ${tag} is busy: held by myikev2 teardown on \\S+ \\(pid ${td.pid}\\)`));
      rmSync(held);
      assert.equal(await exited, 0, out);
    } finally {
      rmSync(held, { force: true });
      other.cleanup();
      td.kill('SIGKILL');
    }
    for (const s of [one, two]) {
      assert.equal((await sshRun(lab, s, `ip netns list | grep '^${tag}-'; pgrep -f '^sleep 68[12]$'`)).stdout, '', `nothing of the run on ${s.name}`);
      assert.notEqual((await sshRun(lab, s, "pgrep -f '[m]yikev2-daemon.mjs'")).code, 0, `no daemon is left on ${s.name}`);
    }
  });

  it('a teardown that meets the run busy on one server (another command holds it there) touches no server', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers;
    const tag = runTag(names[1]);
    const file = join(tmp, 'busy.yaml');
    writeFileSync(file, recipe(names[1], [{ id: 1, server: one.name, upcmds: 'exec sleep 675' }, { id: 2, server: two.name, upcmds: 'exec sleep 676' }]));
    let r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
    // Another command holds the run on the second server (in name order: the first is locked first).
    const holder = spawn('ssh', [...sshArgs(lab, two), `node -e '${HOLD_LOCK.replace('KEY', `run:${tag}`)}'`], { stdio: ['pipe', 'pipe', 'inherit'] });
    const gone = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        holder.once('exit', () => reject(new Error('the lock holder ended before it held the lock')));
      });
      r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, file);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`run ${tag} is busy: held by the test`));
      assert.match(r.stdout + r.stderr, new RegExp(`${one.name}: could not remove:\\n  not torn down \\(step lock the run\\): nothing torn down: the run could not be locked on ${two.name}\\n`));
      assert.equal((await sshRun(lab, one, "pgrep -f '^sleep 675$'")).code, 0, `i1 runs on, on ${one.name}:\n${r.stderr}`);
      assert.equal((await sshRun(lab, two, "pgrep -f '^sleep 676$'")).code, 0, `i2 runs on, on ${two.name}`);
    } finally {
      holder.kill();
      await gone;
    }
    r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('a run whose controller was killed while setupcmds ran @integration', function () {
  this.timeout(120_000);
  const { myikev2, stateDir, cleanup } = controllerCli();
  // Registered before useLab's hooks, so it runs while the lab is still up (after hooks run in order).
  after(() => {
    myikev2('teardown', '--force', '--no-logs', '-c', labRef.lab.controllerConfigPath, '--name', name);
    cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });
  const labRef = useLab({ servers: 1 });
  const tmp = tempPath('myikev2-killed-lab-');
  before(() => mkdirSync(tmp));
  const name = 'lab-killed-setupcmds-test';

  it('is on record: teardown runs its cleancmds, and the run again does not set it up twice', async () => {
    const { lab } = labRef;
    const [one] = lab.servers;
    const made = join(tmp, 'made-by-setupcmds'); // /tmp is shared with the lab's servers
    const file = join(tmp, 'killed.yaml');
    const doc = { name, setupcmds: [{ daemonname: one.name, cmds: `mkdir ${made}; sleep 3` }], cleancmds: [{ daemonname: one.name, cmds: `rmdir ${made}` }], instancelist: { 1: { name: 'i1', daemonname: one.name, other: { upcmds: 'exec sleep 677' } } } };
    writeFileSync(file, stringify(doc));
    for (const then of ['teardown', 'run'] as const) {
      const child = spawn(process.execPath, [CLI, 'run', '--plain', '-c', lab.controllerConfigPath, file], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: 'ignore' });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      for (let i = 0; i < 200 && !existsSync(made); i++) await sleep(25);
      child.kill('SIGKILL');
      await exited;
      assert.ok(existsSync(made), 'setupcmds ran');
      if (then === 'run') {
        // mkdir would fail a second time: the run knows they ran.
        const r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
        assert.equal(r.status, 0, r.stderr);
      }
      const r = myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, '--name', name);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /nothing to tear down/);
      assert.ok(!existsSync(made), `cleancmds ran (then: ${then})`);
    }
  });
});

/** Holds a lock on the server's daemon (as a controller running a command does) for 20 s, or until its input ends; says `locked`. */
const HOLD_LOCK = [
  "const c = require(\"net\").connect(\"/run/myikev2/daemon.sock\"); process.stdin.on(\"end\", () => process.exit(0)); process.stdin.resume();",
  "c.on(\"data\", (d) => { for (const l of d.toString().split(\"\\n\")) { if (!l.trim()) continue; const m = JSON.parse(l);",
  "if (m.type === \"hello\") c.write(JSON.stringify({ id: 1, method: \"hello\", params: { versions: [1] } }) + \"\\n\");",
  "else if (m.id === 1) c.write(JSON.stringify({ id: 2, method: \"lock\", params: { key: \"KEY\", owner: \"the test\" } }) + \"\\n\");",
  "else if (m.id === 2) { if (m.error) { console.error(m.error.message); process.exit(1); } console.log(\"locked\"); setTimeout(() => process.exit(0), 20000); } } });",
].join(' ');
