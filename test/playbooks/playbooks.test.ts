// The scenarios under playbooks/: each recipe is brought up on a lab of real
// SSH servers with `myikev2 run`, its expect.yaml checks run inside the
// instances' namespaces, and `myikev2 teardown` must leave every server as it
// was (namespaces, links, routes, processes, files).
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { useLab, sshRun, serverState, type Lab } from '../support/lab.js';
import { controllerCli } from '../support/machine.js';
import { PROJECT_ROOT } from '../support/paths.js';
import { inNamespace } from '../../src/run/instances.js';
import { runTag, instanceNames } from '../../src/run/names.js';
import type { InstanceRecord } from '../../src/run/manifest.js';

interface Check {
  instance: string;
  cmd: string;
  expect: string;
}

const playbooks = readdirSync(join(PROJECT_ROOT, 'playbooks')).sort();

describe('playbooks on the lab @integration', function () {
  this.timeout(180_000);
  const { myikev2, cleanup } = controllerCli();
  const labRef = useLab({ servers: 2 });
  after(cleanup);

  for (const name of playbooks) {
    it(`${name}: run, checks pass, teardown leaves every server as it was`, async () => {
      const lab: Lab = labRef.lab;
      const dir = join(PROJECT_ROOT, 'playbooks', name);
      const recipeFile = join(dir, 'recipe.yaml');
      const recipe = parse(readFileSync(recipeFile, 'utf8'));
      const checks: Check[] = parse(readFileSync(join(dir, 'expect.yaml'), 'utf8')).checks;
      const stateOf = () => Promise.all(lab.servers.map((s) => serverState(lab, s, runTag(recipe.name))));
      const before = await stateOf();
      try {
        const run = myikev2('run', '--json', '-c', lab.controllerConfigPath, recipeFile);
        assert.equal(run.status, 0, run.stderr);
        const result = JSON.parse(run.stdout);
        assert.ok(result.instances.every((i: { state: string }) => i.state.startsWith('running')), run.stdout);
        const tag = runTag(recipe.name);
        for (const c of checks) {
          const inst = Object.entries(recipe.instancelist as Record<string, { name: string; daemonname: string }>).find(([, v]) => v.name === c.instance)!;
          const server = lab.servers.find((s) => s.name === inst[1].daemonname)!;
          const record = { ...instanceNames(tag, Number(inst[0]), c.instance), name: c.instance, dataIf: null } as InstanceRecord;
          let out = '';
          for (let attempt = 0; attempt < 30; attempt++) {
            const r = await sshRun(lab, server, inNamespace(tag, record, c.cmd));
            out = r.stdout + r.stderr;
            if (new RegExp(c.expect).test(out)) break;
            await new Promise((res) => setTimeout(res, 300));
          }
          assert.match(out, new RegExp(c.expect), `check on ${c.instance}: ${c.cmd}`);
        }
      } finally {
        const td = myikev2('teardown', '--json', '--no-logs', '-c', lab.controllerConfigPath, recipeFile);
        assert.equal(td.status, 0, td.stderr + td.stdout);
      }
      assert.deepEqual(await stateOf(), before);
    });
  }
});
