// A run edited and run again on the lab: what leaves the recipe goes from
// its server, even a server the recipe no longer names, and nothing of the
// run (namespace, daemon, the run's record) stays there.
import { strict as assert } from 'node:assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runTag } from '../../src/run/names.js';
import { serverState, sshRun, useLab } from '../support/lab.js';
import { controllerCli } from '../support/machine.js';
import { tempPath } from '../support/paths.js';

function recipe(name: string, instances: { id: number; server: string; upcmds: string }[]): string {
  const list = Object.fromEntries(instances.map((i) => [String(i.id), { name: `i${i.id}`, daemonname: i.server, other: { upcmds: i.upcmds } }]));
  return stringify({ name, instancelist: list });
}

describe('run again on the lab after the recipe changed @integration', function () {
  this.timeout(120_000);
  const { myikev2, cleanup } = controllerCli();
  const labRef = useLab({ servers: 2 });
  const tmp = tempPath('myikev2-converge-lab-');
  before(() => mkdirSync(tmp));
  const names = ['lab-leave-server-test'];

  after(() => {
    for (const name of names) myikev2('teardown', '--force', '--no-logs', '-c', labRef.lab.controllerConfigPath, '--name', name);
    cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

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
});
