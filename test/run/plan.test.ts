// The planner and script generators are pure: golden files show exactly what
// a run would do on each server.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MyikeError } from '../../src/errors.js';
import { loadInputs } from '../../src/model/load.js';
import { DETACHED, planRun, type RunPlan, type ServerFacts } from '../../src/run/plan.js';
import { renderNamespaceBatches, renderNamespaceScript, renderPlumbScript, renderTeardownScript, renderVerifyScript } from '../../src/run/render.js';
import { assertGolden } from '../support/golden.js';
import { PROJECT_ROOT } from '../support/paths.js';

const dir = join(PROJECT_ROOT, 'examples', 'starter');
const NOW = '2026-11-24T00:00:00.000Z';

function facts(): Record<string, ServerFacts> {
  const data0 = { exists: true as const, addrs: ['10.99.0.1/24', 'fd00:99::1/64'], up: true };
  return {
    srv1: { netns: [], links: { data0 }, daemonInstances: [], mgmtRoutes: [] },
    srv2: { netns: [], links: { data0: { ...data0, addrs: ['10.99.0.2/24'] } }, daemonInstances: [], mgmtRoutes: [] },
  };
}

describe('run: planner and scripts', () => {
  const { recipe, config } = loadInputs(join(dir, 'recipe.yaml'), join(dir, 'controller.yaml'));

  it('plans a fresh run: names, waves, manifest, scripts (golden)', () => {
    const plan = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    assert.equal(plan.tag, 'm' + plan.tag.slice(1));
    assert.equal(plan.waves.length, 2, 'the client waits 1s after the gateway');
    assert.deepEqual(plan.waves.map((w) => w.instances.map((i) => i.conf.name)), [['gateway'], ['client']]);
    const stable = JSON.stringify({ ...plan.manifest, recipeFile: 'examples/starter/recipe.yaml' }, null, 2) + '\n';
    assertGolden('run/starter.manifest.json', stable);
    for (const sp of plan.servers) {
      const recs = sp.create.map((p) => p.record);
      for (const r of recs) assert.ok(Buffer.byteLength(r.vethHost) <= 15, r.vethHost);
      const prefix = config.servers[sp.server].mgmtaddrprefix;
      assertGolden(`run/starter.${sp.server}.plumb.sh`, renderPlumbScript(plan.tag, sp.server, prefix, recs));
      assertGolden(`run/starter.${sp.server}.netns.json`, JSON.stringify(renderNamespaceBatches(sp.create, prefix), null, 2) + '\n');
      assertGolden(`run/starter.${sp.server}.ns-config.sh`, renderNamespaceScript(plan.tag, sp.server, renderNamespaceBatches(sp.create, prefix)));
      assertGolden(`run/starter.${sp.server}.teardown.sh`, renderTeardownScript(plan.tag, sp.server, recs, { wholeRun: true, saveLogs: true }));
      assertGolden(`run/starter.${sp.server}.verify.sh`, renderVerifyScript(plan.tag, sp.server, recs));
    }
  });

  it('generates scripts sh accepts (sh -n over every golden script)', () => {
    const golden = join(PROJECT_ROOT, 'test', 'golden', 'run');
    const scripts = readdirSync(golden).filter((f) => f.endsWith('.sh'));
    assert.ok(scripts.length >= 8);
    for (const f of scripts) {
      const r = spawnSync('sh', ['-n', join(golden, f)], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    }
  });

  /** The servers' facts once the first plan's instances are up. */
  function upFacts(first: RunPlan): Record<string, ServerFacts> {
    const f = facts();
    for (const r of first.manifest.instances) {
      f[r.server].netns.push(r.netns);
      delete f[r.server].links.data0; // now inside the namespace
      f[r.server].links[r.vethHost] = { exists: true, addrs: [], up: true };
      f[r.server].daemonInstances.push({ name: r.daemonName, state: 'running' });
      f[r.server].mgmtRoutes.push(r.mgmtAddr); // its own: no clash
    }
    return f;
  }

  it('keeps running, unchanged instances on a second run (converges)', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const again = planRun(recipe, config, upFacts(first), first.manifest, { override: false, now: NOW });
    assert.deepEqual(again.servers.map((s) => [s.create.length, s.keep.length, s.remove.length]), [[0, 1, 0], [0, 1, 0]]);
    assert.deepEqual(again.manifest.instances, first.manifest.instances);
    assert.deepEqual(again.repairs, []);
  });

  it('keeps setupcmds and cleancmds a pair: setupcmds changed since the run was created keep its cleancmds (said); the same setupcmds take new cleancmds', () => {
    const withCmds = (setup: string, clean: string) => ({ ...recipe, setupcmds: [{ server: 'srv1', cmds: setup }], cleancmds: [{ server: 'srv1', cmds: clean }] });
    const created = planRun(withCmds('make 1..12', 'remove 1..12'), config, facts(), null, { override: false, now: NOW });
    assert.deepEqual(created.manifest.setupcmds, [{ server: 'srv1', cmds: 'make 1..12' }], 'recorded with the run');
    assert.deepEqual(created.notes, []);
    const f = upFacts(created);
    const shrunk = planRun(withCmds('make 1..10', 'remove 1..10'), config, f, created.manifest, { override: true, now: NOW });
    assert.deepEqual([shrunk.manifest.setupcmds, shrunk.manifest.cleancmds], [created.manifest.setupcmds, created.manifest.cleancmds], 'what teardown runs undoes what ran');
    assert.equal(shrunk.notes.length, 1);
    assert.match(shrunk.notes[0], /setupcmds changed since the run was brought up: they are not run again .* teardown runs the cleancmds recorded with the setupcmds that ran, not the recipe's new ones; to apply them, tear the run down/);
    const fixed = planRun(withCmds('make 1..12', 'remove 1..12 || true'), config, f, created.manifest, { override: false, now: NOW });
    assert.deepEqual(fixed.manifest.cleancmds, [{ server: 'srv1', cmds: 'remove 1..12 || true' }], 'a fix to cleancmds is taken');
    assert.deepEqual(fixed.notes, []);
    const { setupcmds: _, ...older } = created.manifest; // recorded by an older build: setupcmds unknown
    const fromOlder = planRun(withCmds('make 1..10', 'remove 1..10'), config, f, older, { override: false, now: NOW });
    assert.deepEqual([fromOlder.manifest.cleancmds, fromOlder.manifest.setupcmds, fromOlder.notes], [[{ server: 'srv1', cmds: 'remove 1..10' }], undefined, []]);
  });

  it('keeps an instance whose upcmds daemonised (detached) and restarts one that exited', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const f = upFacts(first);
    f.srv1.daemonInstances[0].state = DETACHED;
    f.srv2.daemonInstances[0].state = 'exited';
    const again = planRun(recipe, config, f, first.manifest, { override: false, now: NOW });
    assert.deepEqual(again.servers.map((s) => [s.keep.length, s.restart.length]), [[1, 0], [0, 1]]);
  });

  it('replaces an instance whose namespace, veth or host route was removed by hand (what is left of it goes first), and says so', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const gateway = first.manifest.instances.find((r) => r.name === 'gateway')!;
    const cases: [string, (f: Record<string, ServerFacts>) => void, RegExp][] = [
      ['namespace', (f) => (f.srv2.netns = f.srv2.netns.filter((n) => n !== gateway.netns)), new RegExp(`instance gateway on srv2: its namespace ${gateway.netns} is gone \\(removed outside myikev2\\); it is made anew`)],
      ['veth', (f) => delete f.srv2.links[gateway.vethHost], new RegExp(`its veth ${gateway.vethHost} is gone`)],
      ['route', (f) => (f.srv2.mgmtRoutes = []), new RegExp(`its host route to ${gateway.mgmtAddr.replace(/\./g, '\\.')} is gone`)],
    ];
    for (const [what, breakIt, said] of cases) {
      const f = upFacts(first);
      breakIt(f);
      f.srv2.daemonInstances[0].state = what === 'route' ? 'exited' : 'running'; // running or not: replaced either way
      const again = planRun(recipe, config, f, first.manifest, { override: false, now: NOW });
      const srv2 = again.servers.find((s) => s.server === 'srv2')!;
      assert.deepEqual([srv2.remove.map((r) => r.name), srv2.create.map((p) => p.conf.name), srv2.keep.length, srv2.restart.length], [['gateway'], ['gateway'], 0, 0], what);
      assert.deepEqual(again.servers.find((s) => s.server === 'srv1')!.keep.map((r) => r.name), ['client'], `${what}: the intact instance is kept`);
      assert.equal(again.repairs.length, 1, what);
      assert.match(again.repairs[0], said);
      const rebuilt = again.manifest.instances.find((r) => r.name === 'gateway')!;
      assert.deepEqual(rebuilt.dataIfOrig, gateway.dataIfOrig, `${what}: teardown still gives data0 back as it was before the run`);
    }
  });

  it('reports drift, and replaces changed instances only with override', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const changed = structuredClone(recipe);
    changed.instances[1].myikev2!.setup.numberoftunnels = 20;
    changed.instances[1].myikev2!.setup.sha256 = 'edited'; // as an edit of the file makes it
    assert.throws(
      () => planRun(changed, config, facts(), first.manifest, { override: false, now: NOW }),
      (e: MyikeError) => e.code === 'E_DRIFT' && e.exitCode === 2 && /instance client on srv1: its definition \(recipe entry or setup file\) changed/.test(e.message) && /--override/.test(e.hint!),
    );
    const moved = structuredClone(recipe);
    moved.instances[0].server = 'srv1';
    moved.instances[0].id = 7;
    assert.throws(() => planRun(moved, config, facts(), first.manifest, { override: false, now: NOW }), /instance gateway on srv2: moved to srv1; id 1 → 7; its definition/);
    const replaced = planRun(changed, config, facts(), first.manifest, { override: true, now: NOW });
    const srv1 = replaced.servers.find((s) => s.server === 'srv1')!;
    assert.deepEqual([srv1.remove.map((r) => r.name), srv1.create.map((p) => p.conf.name)], [['client'], ['client']]);
  });

  // A build that adds a setting (with its default) models every instance
  // anew, so the hash of the model differs from the one the older build
  // recorded: a converging run after an upgrade refused every engine
  // instance ("its definition changed") though the user had changed nothing.
  it('keeps an instance unchanged as written though the build that started it modelled it otherwise', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const byOlderBuild = structuredClone(first.manifest);
    for (const r of byOlderBuild.instances) r.hash = '0123456789abcdef';
    const again = planRun(recipe, config, upFacts(first), byOlderBuild, { override: false, now: NOW });
    assert.deepEqual(again.servers.map((s) => [s.create.length, s.keep.length, s.remove.length]), [[0, 1, 0], [0, 1, 0]]);
    // What the user wrote changed too: drift, as before.
    const edited = structuredClone(recipe);
    edited.instances[1].myikev2!.setup.sha256 = 'edited';
    assert.throws(() => planRun(edited, config, upFacts(first), byOlderBuild, { override: false, now: NOW }), /instance client on srv1: its definition/);
    const vars = { ...config, varlist: { ...config.varlist, '%X%': 'y' } };
    assert.throws(() => planRun(recipe, vars, upFacts(first), byOlderBuild, { override: false, now: NOW }), /instance gateway on srv2: its definition/);
  });

  it('a replaced instance keeps the data interface state from before the run, for teardown to restore', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const f = facts();
    for (const r of first.manifest.instances) {
      f[r.server].netns.push(r.netns);
      delete f[r.server].links.data0; // inside the old namespace until it is removed
      f[r.server].daemonInstances.push({ name: r.daemonName, state: 'running' });
      f[r.server].mgmtRoutes.push(r.mgmtAddr);
    }
    const changed = structuredClone(recipe);
    changed.instances[1].myikev2!.setup.numberoftunnels = 20;
    const replaced = planRun(changed, config, f, first.manifest, { override: true, now: NOW });
    const client = replaced.manifest.instances.find((r) => r.name === 'client')!;
    assert.deepEqual(client.dataIfOrig, { addrs: ['10.99.0.1/24', 'fd00:99::1/64'], up: true });
  });

  it('a renamed instance (the old one removed with override) takes over the data interface the old one gives back', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const f = facts();
    for (const r of first.manifest.instances) {
      f[r.server].netns.push(r.netns);
      delete f[r.server].links.data0;
      f[r.server].daemonInstances.push({ name: r.daemonName, state: 'running' });
      f[r.server].mgmtRoutes.push(r.mgmtAddr);
    }
    const renamed = structuredClone(recipe);
    renamed.instances[0].name = 'gw2';
    assert.throws(
      () => planRun(renamed, config, f, first.manifest, { override: false, now: NOW }),
      (e: MyikeError) => /instance gateway on srv2 is no longer in the recipe/.test(e.message) && /-o\/--override to .*remove those no longer in the recipe/.test(e.hint!),
    );
    const plan = planRun(renamed, config, f, first.manifest, { override: true, now: NOW });
    const srv2 = plan.servers.find((s) => s.server === 'srv2')!;
    assert.deepEqual([srv2.remove.map((r) => r.name), srv2.create.map((p) => p.conf.name)], [['gateway'], ['gw2']]);
    assert.deepEqual(plan.manifest.instances.find((r) => r.name === 'gw2')!.dataIfOrig, { addrs: ['10.99.0.2/24'], up: true });
  });

  it('refuses a management address another run uses on the server (same id), before touching anything', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const client = first.manifest.instances.find((r) => r.name === 'client')!;
    const f = facts();
    f[client.server].mgmtRoutes.push(client.mgmtAddr.replace('::', ':0:0::')); // written differently by ip: same address
    assert.throws(
      () => planRun(recipe, config, f, null, { override: false, now: NOW }),
      (e: MyikeError) =>
        e.code === 'E_MGMT_ADDR_IN_USE' && e.message.includes(`management address ${client.mgmtAddr} of instance client is already in use on server ${client.server}`) && /ids no other run/.test(e.hint!),
    );
    // The same run's own address (its namespace is gone, recreated) is no clash.
    assert.equal(planRun(recipe, config, f, first.manifest, { override: false, now: NOW }).servers.find((s) => s.server === client.server)!.create.length, 1);
  });

  it('refuses a data interface that carries the address the controller reaches the server by (it would cut the server off)', () => {
    const f = facts();
    f.srv1.sshAddr = '10.99.0.1';
    assert.throws(
      () => planRun(recipe, config, f, null, { override: false, now: NOW }),
      (e: MyikeError) => e.code === 'E_PLAN' && /instance client: its data interface data0 has 10\.99\.0\.1, the address this controller reaches server srv1 by \(SSH\)/.test(e.message),
    );
    f.srv1.sshAddr = '10.1.1.1'; // another interface's
    assert.doesNotThrow(() => planRun(recipe, config, f, null, { override: false, now: NOW }));
  });

  it('refuses, on the controller\'s own machine, a data interface that carries its default route (it would cut the machine off)', () => {
    const qs = loadInputs(join(PROJECT_ROOT, 'examples', 'quickstart', 'recipe.yaml'));
    const link = (routes: string[]) => ({ exists: true as const, addrs: [], up: true, ...(routes.length ? { routes } : {}) });
    const local = (routes: string[]): Record<string, ServerFacts> => ({ local: { netns: [], links: { 'qs-client': link(routes), 'qs-gateway': link([]) }, daemonInstances: [], mgmtRoutes: [] } });
    for (const route of ['default via 192.0.2.1', '::/0 via fd00::1 metric 1024 pref medium'])
      assert.throws(
        () => planRun(qs.recipe, qs.config, local([route]), null, { override: false, now: NOW }),
        (e: MyikeError) => e.code === 'E_PLAN' && /instance client: its data interface qs-client carries the default route of local, the controller's own machine/.test(e.message),
        route,
      );
    assert.doesNotThrow(() => planRun(qs.recipe, qs.config, local(['10.0.0.0/8 via 192.0.2.1', 'default via 192.0.2.1 table 220']), null, { override: false, now: NOW }), 'another route, or a default of another table');
  });

  it('refuses a data interface the server does not have', () => {
    const f = facts();
    delete f.srv1.links.data0;
    assert.throws(() => planRun(recipe, config, f, null, { override: false, now: NOW }), /server srv1 has no interface data0/);
  });

  it('says that a run up already does not run its setupcmds again, when a new instance\'s data interface is missing', () => {
    const first = planRun(recipe, config, facts(), null, { override: false, now: NOW });
    const client = recipe.instances.find((i) => i.name === 'client')!;
    const grown = {
      ...recipe,
      setupcmds: [{ server: client.server, cmds: 'ip link add data9 type dummy' }],
      instances: [...recipe.instances, { ...client, id: 9, name: 'client9', dataIf: 'data9', mgmtAddr: client.mgmtAddr.replace(/:[0-9a-f]+$/, ':9') }],
    };
    const f = upFacts(first);
    assert.throws(
      () => planRun(grown, config, f, first.manifest, { override: false, now: NOW }),
      (e: MyikeError) =>
        e.code === 'E_PLAN' && /has no interface data9/.test(e.message) && new RegExp(`the run is up already, so its setupcmds \\(on ${client.server}\\) are not run again`).test(e.hint!),
    );
    // A fresh run does run them: no such words.
    assert.throws(
      () => planRun(grown, config, facts(), null, { override: false, now: NOW }),
      (e: MyikeError) => e.code === 'E_PLAN' && !/up already/.test(e.hint!),
    );
  });
});
