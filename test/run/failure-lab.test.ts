// A run across several servers that cannot finish: an unreachable server
// stops it before anything is created, an instance failing on one server
// rolls the run back on every server; either way each server is left as it
// was (no namespace, link, route, file, nor the daemon the run started).
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runTag } from '../../src/run/names.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { serverState, sshRun, useLab } from '../support/lab.js';
import { controllerCli } from '../support/machine.js';
import { CLI, PROJECT_ROOT, tempPath } from '../support/paths.js';

function recipe(name: string, instances: { server: string; upcmds: string }[]): string {
  const list = Object.fromEntries(instances.map((i, k) => [String(k + 1), { name: `i${k + 1}`, daemonname: i.server, other: { upcmds: i.upcmds } }]));
  return stringify({ name, instancelist: list });
}

describe('run on the lab: an unreachable server, a failing instance @integration', function () {
  this.timeout(120_000);
  const { myikev2, stateDir, cleanup } = controllerCli();
  // Registered before useLab's hooks, so it runs while the lab is still up (after hooks run in order).
  after(() => {
    for (const name of names) myikev2('teardown', '--force', '--no-logs', '-c', labRef.lab.controllerConfigPath, '--name', name);
    cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });
  const labRef = useLab({ servers: 2 });
  const tmp = tempPath('myikev2-failure-lab-');
  before(() => mkdirSync(tmp));
  const names = ['lab-unreachable-test', 'lab-failing-test', 'lab-typo-test', 'lab-half-teardown-test', 'lab-lost-test', 'lab-fastfail-test', 'lab-undo-setupcmds-test', 'lab-twice-test', 'lab-slow-setupcmds-test', 'lab-keep-test', 'lab-ssh-lost-test', 'lab-rundir-gone-test', 'lab-lost-in-teardown-test'];

  const states = (tag: string) => Promise.all(labRef.lab.servers.map((s) => serverState(labRef.lab, s, tag)));

  it('a server that cannot be reached stops the run, naming it; the others are left as they were', async () => {
    const { lab } = labRef;
    // A fourth server at an address of the lab's network where nothing answers.
    const config = parse(readFileSync(lab.controllerConfigPath, 'utf8'));
    const srv1 = config.daemonlist[lab.servers[0].name];
    config.daemonlist.gone = { ...srv1, sshaddr: srv1.sshaddr.replace(/:[0-9a-f]+$/, ':1ee'), mgmtaddrprefix: 'fd00:6d79:ee::/64' };
    const cfg = join(tmp, 'controller.yaml');
    writeFileSync(cfg, stringify(config), { mode: 0o600 });
    const file = join(tmp, 'unreachable.yaml');
    writeFileSync(file, recipe(names[0], [{ server: lab.servers[0].name, upcmds: 'exec sleep 660' }, { server: 'gone', upcmds: 'exec sleep 661' }]));
    const before = await states(runTag(names[0]));
    const r = myikev2('run', '--plain', '-c', cfg, file);
    assert.equal(r.status, 1, r.stderr);
    // On the config line to fix (no sshport written: the address).
    assert.match(r.stderr, /controller\.yaml:\d+:\d+: error: \[server gone, step connect\] daemonlist\.gone\.sshaddr: cannot connect to root@/);
    assert.deepEqual(await states(runTag(names[0])), before, 'nothing is left on the reachable servers, not even the daemon the run started');
  });

  it('a server refused at once (its host key) stops the run before setupcmds run anywhere, and no daemon is left behind', async () => {
    const { lab } = labRef;
    // srv2 under another name, checked against an empty known_hosts: refused at the key exchange,
    // while srv1 is still starting its daemon.
    const config = parse(readFileSync(lab.controllerConfigPath, 'utf8'));
    const emptyKnownHosts = join(tmp, 'known_hosts.empty');
    writeFileSync(emptyKnownHosts, '');
    config.daemonlist.stranger = { ...config.daemonlist[lab.servers[1].name], knownhosts: emptyKnownHosts, mgmtaddrprefix: 'fd00:6d79:ef::/64' };
    const cfg = join(tmp, 'controller-stranger.yaml');
    writeFileSync(cfg, stringify(config), { mode: 0o600 });
    const file = join(tmp, 'fastfail.yaml');
    const doc = parse(recipe(names[5], [{ server: lab.servers[0].name, upcmds: 'exec sleep 663' }, { server: 'stranger', upcmds: 'exec sleep 664' }]));
    doc.setupcmds = [{ daemonname: lab.servers[0].name, cmds: 'touch /run/fastfail-setupcmds-ran' }];
    writeFileSync(file, stringify(doc));
    const before = await states(runTag(names[5]));
    const r = myikev2('run', '--plain', '-c', cfg, file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /controller-stranger\.yaml:\d+:\d+: error: \[server stranger, step host key check\] daemonlist\.stranger: host key of /);
    assert.deepEqual(await states(runTag(names[5])), before, 'srv1 is as it was: no setupcmds ran, no daemon is left');
  });

  it('a run that fails after its setupcmds ran runs the cleancmds: what setupcmds made does not stay behind', async () => {
    const { lab } = labRef;
    const srv = lab.servers[0].name;
    const file = join(tmp, 'undo-setupcmds.yaml');
    const doc = parse(recipe(names[6], [{ server: srv, upcmds: 'exec sleep 665' }]));
    doc.setupcmds = [{ daemonname: srv, cmds: 'ip link add undo-a type veth peer name undo-b' }];
    doc.cleancmds = [{ daemonname: srv, cmds: 'ip link del undo-a' }];
    doc.instancelist['1'].other.dataif = 'undo-c'; // a typo for undo-b: the plan fails, after setupcmds
    writeFileSync(file, stringify(doc));
    const before = await states(runTag(names[6]));
    const r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /server \S+ has no interface undo-c in its base namespace/);
    assert.match(r.stderr, /running cleancmds, as the run's setupcmds ran there/);
    assert.deepEqual(await states(runTag(names[6])), before, 'the veth of setupcmds is gone, as is the daemon');
    // So the same run, fixed, can run its setupcmds again.
    doc.instancelist['1'].other.dataif = 'undo-b';
    writeFileSync(file, stringify(doc));
    const again = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(myikev2('teardown', '--plain', '-c', lab.controllerConfigPath, file).status, 0);
    assert.deepEqual(await states(runTag(names[6])), before);
  });

  it("when one server's setupcmds fail, another's still running end before its cleancmds run: nothing they make stays", async () => {
    const { lab } = labRef;
    const [srv1, srv2] = lab.servers.map((s) => s.name);
    const file = join(tmp, 'slow-setupcmds.yaml');
    const doc = parse(recipe(names[8], [{ server: srv1, upcmds: 'exec sleep 667' }, { server: srv2, upcmds: 'exec sleep 668' }]));
    doc.setupcmds = [
      { daemonname: srv1, cmds: 'echo srv1 setupcmds fail; false' },
      { daemonname: srv2, cmds: 'sleep 1; ip link add slowset-a type veth peer name slowset-b' },
    ];
    doc.cleancmds = [{ daemonname: srv2, cmds: 'ip link del slowset-a' }];
    writeFileSync(file, stringify(doc));
    const before = await states(runTag(names[8]));
    const r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /srv1 setupcmds fail/);
    assert.match(r.stderr, new RegExp(`waiting for ${srv2} to end its step under way before undoing anything`));
    assert.doesNotMatch(r.stderr, /cleancmds .*failed|Cannot find device/, `the cleancmds found what the setupcmds made:\n${r.stderr}`);
    assert.deepEqual(await states(runTag(names[8])), before, 'the veth of the slow setupcmds is gone, as are the daemons');
  });

  it('an instance that fails on one server rolls the run back on every server', async () => {
    const { lab } = labRef;
    const file = join(tmp, 'failing.yaml');
    writeFileSync(
      file,
      recipe(names[1], [
        { server: lab.servers[0].name, upcmds: 'exec sleep 662' },
        { server: lab.servers[1].name, upcmds: 'echo cannot start, missing config >&2; exit 3' },
      ]),
    );
    const before = await states(runTag(names[1]));
    const r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error: \\[server ${lab.servers[1].name}, step start i2\\] instance i2 did not start: its process exited with 3`));
    assert.match(r.stderr, /cannot start, missing config/);
    assert.match(r.stderr, /run failed; rolling back what it created/);
    assert.equal(r.stderr.match(/logs of the failed run saved in/g)?.length, 1, `said once, not once per server:\n${r.stderr}`);
    // The server's copy of the logs went with the rollback: the hint names the saved one.
    const hint = /hint: its logs are in (\S+\.tar\.gz) \(the run was rolled back/.exec(r.stderr);
    assert.ok(hint && hint[1].endsWith(`/${lab.servers[1].name}.tar.gz`), r.stderr);
    assert.match(execFileSync('tar', ['-xzOf', hint[1], '--wildcards', 'i2/*.log'], { encoding: 'utf8' }), /cannot start, missing config/);
    assert.deepEqual(await states(runTag(names[1])), before, 'every server is as it was');
  });

  it('an upcmds whose program is not there names the instance, the step and what to fix', async () => {
    const { lab } = labRef;
    const file = join(tmp, 'typo.yaml');
    writeFileSync(file, recipe(names[2], [{ server: lab.servers[1].name, upcmds: 'exec sleeep 663' }]));
    const before = await states(runTag(names[2]));
    const r = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error: \\[server ${lab.servers[1].name}, step start i1\\] instance i1 could not be started: program sleeep not found or not executable`));
    assert.match(r.stderr, /hint: fix other\.upcmds of instance 1 \(i1\) in the recipe/);
    assert.deepEqual(await states(runTag(names[2])), before, 'the server is as it was');
  });

  it('--keep-on-failure says the run is kept and how to look inside and remove it; teardown --name removes it', async () => {
    const { lab } = labRef;
    const name = 'lab-keep-test';
    const file = join(tmp, 'keep.yaml');
    writeFileSync(file, recipe(name, [{ server: lab.servers[0].name, upcmds: 'exec sleep 664' }, { server: lab.servers[0].name, upcmds: 'exec sleeep 664' }]));
    // A daemon an earlier test left idle may still be exiting: compare from a quiet server.
    for (let i = 0; i < 50 && (await sshRun(lab, lab.servers[0], "pgrep -f '[m]yikev2-daemon.mjs'")).code === 0; i++) await sleep(100);
    const before = await states(runTag(name));
    const r = myikev2('run', '--plain', '--keep-on-failure', '-c', lab.controllerConfigPath, file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /warning: run failed; what it created is kept for inspection \(--keep-on-failure\): .*`myikev2 teardown --name lab-keep-test` \(with the same -c\) removes it/);
    assert.notDeepEqual(await states(runTag(name)), before, 'kept');
    const td = myikev2('teardown', '-c', lab.controllerConfigPath, '--name', name);
    assert.equal(td.status, 0, td.stderr);
    // The idle daemon exits while the teardown's script runs: give it a moment.
    let after = await states(runTag(name));
    for (let i = 0; i < 30 && JSON.stringify(after) !== JSON.stringify(before); i++) after = (await sleep(100), await states(runTag(name)));
    assert.deepEqual(after, before, 'the server is as it was');
  });

  it('a server lost midway (its daemon killed) names the server and step, and the run is rolled back on every server', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers;
    const file = join(tmp, 'lost.yaml');
    // i2 starts 6 s after i1: its server's daemon is killed meanwhile.
    const list = { 1: { name: 'i1', daemonname: one.name, other: { upcmds: 'exec sleep 666' } }, 2: { name: 'i2', daemonname: two.name, waitinterval: '6s', other: { upcmds: 'exec sleep 667' } } };
    writeFileSync(file, stringify({ name: names[4], instancelist: list }));
    const before = await states(runTag(names[4]));
    const child = spawn(process.execPath, [CLI, 'run', '--plain', '-c', lab.controllerConfigPath, file], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    for (let i = 0; i < 100 && (await sshRun(lab, one, "pgrep -f '^sleep 666$'")).code !== 0; i++) await sleep(50);
    assert.equal((await sshRun(lab, two, "pkill -KILL -f '[m]yikev2-daemon.mjs'")).code, 0, 'the daemon was there to kill');
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, new RegExp(`error: \\[server ${two.name}, step start i2\\] connection to the daemon on ${two.name} closed\n  hint: `));
    assert.doesNotMatch(stderr, /rollback incomplete|not rolled back/, stderr);
    assert.deepEqual(await states(runTag(names[4])), before, `every server is as it was: the lost one through a new daemon, which went again\n${stderr}`);
  });

  it('a server whose SSH connection is lost midway (its daemon still up) is rolled back, and the daemon the run started there goes again', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers;
    const file = join(tmp, 'ssh-lost.yaml');
    // i2 starts 6 s after i1: the controller's SSH sessions to its server are killed meanwhile, not the daemon.
    const list = { 1: { name: 'i1', daemonname: one.name, other: { upcmds: 'exec sleep 668' } }, 2: { name: 'i2', daemonname: two.name, waitinterval: '6s', other: { upcmds: 'exec sleep 669' } } };
    writeFileSync(file, stringify({ name: names[10], instancelist: list }));
    const before = await states(runTag(names[10]));
    const child = spawn(process.execPath, [CLI, 'run', '--plain', '-c', lab.controllerConfigPath, file], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    for (let i = 0; i < 100 && (await sshRun(lab, one, "pgrep -f '^sleep 668$'")).code !== 0; i++) await sleep(50);
    // Every SSH session on the server but the one running this command (its sshd is our parent).
    const cut = await sshRun(lab, two, 'n=0; for p in $(pgrep -f "^sshd: root@"); do [ "$p" != "$PPID" ] && kill -9 "$p" && n=$((n+1)); done; echo $n');
    assert.notEqual(cut.stdout.trim(), '0', 'the controller had a session to cut');
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, new RegExp(`error: \\[server ${two.name}, step start i2\\] connection to the daemon on ${two.name} closed`));
    assert.doesNotMatch(stderr, /not rolled back/, stderr);
    assert.deepEqual(await states(runTag(names[10])), before, `every server is as it was, also without the daemon the run started\n${stderr}`);
  });

  it('an instance started again whose run directory was removed by hand (/run cleaned) is started in a new one', async () => {
    const { lab } = labRef;
    const srv = lab.servers[0];
    const file = join(tmp, 'rundir-gone.yaml');
    writeFileSync(file, recipe(names[11], [{ server: srv.name, upcmds: 'exec sleep 670' }]));
    const before = await states(runTag(names[11]));
    assert.equal(myikev2('run', '--plain', '-c', lab.controllerConfigPath, file).status, 0);
    assert.equal((await sshRun(lab, srv, `pkill -KILL -f '^sleep 670$' && rm -rf /run/myikev2/runs/${runTag(names[11])}`)).code, 0);
    const again = myikev2('run', '--plain', '-c', lab.controllerConfigPath, file);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout + again.stderr, /1 to restart/);
    assert.equal((await sshRun(lab, srv, "pgrep -f '^sleep 670$'")).code, 0, 'running again');
    assert.equal(myikev2('teardown', '--no-logs', '-c', lab.controllerConfigPath, file).status, 0);
    assert.deepEqual(await states(runTag(names[11])), before);
  });

  it('a teardown losing a server while it stops its instances names the server and the step; the next teardown finishes', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers;
    const file = join(tmp, 'lost-in-teardown.yaml');
    const list = { 1: { name: 'i1', daemonname: one.name, other: { upcmds: 'exec sleep 671' } }, 2: { name: 'i2', daemonname: two.name, other: { upcmds: 'exec sleep 672', destroycmds: 'sleep 5.5' } } };
    writeFileSync(file, stringify({ name: names[12], instancelist: list }));
    const before = await states(runTag(names[12]));
    assert.equal(myikev2('run', '--plain', '-c', lab.controllerConfigPath, file).status, 0);
    const child = spawn(process.execPath, [CLI, 'teardown', '--plain', '--no-logs', '-c', lab.controllerConfigPath, file], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    for (let i = 0; i < 100 && (await sshRun(lab, two, "pgrep -f '^sleep 5.5$'")).code !== 0; i++) await sleep(50);
    assert.equal((await sshRun(lab, two, "pkill -KILL -f '[m]yikev2-daemon.mjs'")).code, 0, 'the daemon was there to kill');
    assert.equal(await exited, 1, out);
    assert.match(out, new RegExp(`${two.name}: could not remove:\\n  not torn down \\(step stop instances\\): connection to the daemon on ${two.name} closed`));
    const again = myikev2('teardown', '--plain', '--no-logs', '-c', lab.controllerConfigPath, file);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.deepEqual(await states(runTag(names[12])), before);
  });

  it('a teardown that cannot reach a server says so once, with what to do, and its line is not ticked; --forget drops the run here, and the server finishes it once back', async () => {
    const { lab } = labRef;
    const [one, two] = lab.servers.map((s) => s.name);
    const file = join(tmp, 'half.yaml');
    writeFileSync(file, recipe(names[3], [{ server: one, upcmds: 'exec sleep 664' }, { server: two, upcmds: 'exec sleep 665' }]));
    const before = await states(runTag(names[3]));
    assert.equal(myikev2('run', '--json', '-c', lab.controllerConfigPath, file).status, 0);
    // The same servers, the second at an address of the lab's network where nothing answers.
    const config = parse(readFileSync(lab.controllerConfigPath, 'utf8'));
    config.daemonlist[two].sshaddr = config.daemonlist[two].sshaddr.replace(/:[0-9a-f]+$/, ':1ef');
    const cut = join(tmp, 'cut-off.yaml');
    writeFileSync(cut, stringify(config), { mode: 0o600 });
    const td = myikev2('teardown', '--plain', '--no-logs', '-c', cut, file);
    assert.equal(td.status, 1, td.stderr + td.stdout);
    assert.match(td.stdout, new RegExp(`${two}: could not remove:\\n  not torn down \\(step connect\\): cannot connect to root@\\S+: .+ — check sshaddr/sshport and that sshd runs on the server\\n`));
    assert.match(td.stdout, /incomplete: .*run the same teardown again/);
    assert.match(td.stderr, new RegExp(`✖ Tear down run "${names[3]}" \\S+ on 2 server\\(s\\) \\[FAILED: 1 of 2 server\\(s\\) not torn down: ${two}\\]`));
    assert.doesNotMatch(td.stdout + td.stderr, /✔ Tear down run/);
    assert.doesNotMatch(td.stderr, /warning: error:/, 'told once, in the result');
    assert.match(td.stdout, /the run stays on record until then \(--forget drops it/);
    // What is left to do is on record; the server torn down clean is not (list would show its instances as stopped).
    const kept = JSON.parse(readFileSync(join(stateDir, 'runs', `${runTag(names[3])}.json`), 'utf8')) as { servers: string[]; instances: { name: string; server: string }[] };
    assert.deepEqual([kept.servers, kept.instances.map((r) => `${r.name}@${r.server}`)], [[two], [`i2@${two}`]]);
    // A server gone for good: the controller forgets the run; the server's daemon keeps its record.
    const forgot = myikev2('teardown', '--plain', '--no-logs', '--forget', '-c', cut, file);
    assert.equal(forgot.status, 1, 'still not clean');
    assert.match(forgot.stdout, /the run is forgotten on this controller as asked/);
    const none = myikev2('teardown', '--no-logs', '-c', cut, '--name', names[3]);
    assert.equal(none.status, 0, none.stderr + none.stdout);
    assert.match(none.stdout, /nothing to tear down: no run of/);
    assert.match(none.stderr, new RegExp(`warning: this controller has no record of the run, and ${two} \\(.*\\) could not be asked for one`), 'the server it could not ask may hold the run');
    // The server is back: its daemon's record finds the run, and the teardown finishes.
    const back = myikev2('teardown', '--plain', '--no-logs', '-c', lab.controllerConfigPath, '--name', names[3]);
    assert.equal(back.status, 0, back.stderr + back.stdout);
    assert.deepEqual(await states(runTag(names[3])), before, 'every server is as it was');
  });

  it('the same run started twice at the same moment: one brings it up, the other is refused or finds it up; never both refused', async () => {
    const { lab } = labRef;
    const name = names[7];
    const file = join(tmp, 'twice.yaml');
    writeFileSync(file, recipe(name, [{ server: lab.servers[0].name, upcmds: 'exec sleep 668' }, { server: lab.servers[1].name, upcmds: 'exec sleep 669' }]));
    const before = await states(runTag(name));
    const start = () =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'run', '--plain', '-c', lab.controllerConfigPath, file], { cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    // Two rounds (the order the servers come up in varies; run/servers.test has the race that refused both, made certain).
    for (let round = 0; round < 2; round++) {
      const both = await Promise.all([start(), start()]);
      assert.ok(both.some((r) => r.code === 0), `one brings the run up:\n${both.map((r) => r.stderr).join('\n---\n')}`);
      for (const r of both.filter((x) => x.code !== 0)) assert.match(r.stderr, /error: \[server \S+, step lock the run\] run \S+ is busy: held by myikev2 run/);
      for (const s of lab.servers) assert.equal((await sshRun(lab, s, `ip netns list | grep -c '^${runTag(name)}-'`)).stdout.trim(), '1', `one namespace on ${s.name}`);
      const td = myikev2('teardown', '--plain', '--no-logs', '-c', lab.controllerConfigPath, file);
      assert.equal(td.status, 0, td.stderr + td.stdout);
    }
    assert.deepEqual(await states(runTag(name)), before, 'every server is as it was');
  });
});
