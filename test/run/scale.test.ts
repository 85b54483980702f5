// A thousand instances on one server, the way a user brings up a big test
// bed: they come up (each in its namespace, with its management address),
// and teardown leaves nothing. This once failed: a thousand start requests
// at once outlasted the daemon's answer timeout, and the bridge's thousand
// ports flooded each other with IPv6 neighbour discovery.
import { strict as assert } from 'node:assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTag } from '../../src/run/names.js';
import { controllerCli, sh } from '../support/machine.js';
import { tempPath } from '../support/paths.js';

const COUNT = 1000;

describe('run: a thousand instances on one server @integration', function () {
  this.timeout(300_000);
  const { myikev2, cleanup } = controllerCli();
  const tag = runTag('scale-test');
  const dir = tempPath('myikev2-scale-');
  const recipe = join(dir, 'recipe.yaml');
  const namespaces = () => Number(sh(`ip netns list | awk '{print $1}' | grep -c '^${tag}-' || true`).trim());
  const sleepers = () => Number(sh("pgrep -fc '^sleep 673$' || true").trim());

  before(() => {
    mkdirSync(dir);
    const entries = Array.from({ length: COUNT }, (_, i) => `  ${i + 1}:\n    name: s${i + 1}\n    daemonname: local\n    other: {upcmds: exec sleep 673}\n`);
    writeFileSync(recipe, `name: scale-test\ninstancelist:\n${entries.join('')}`);
  });
  after(() => {
    myikev2('teardown', '--force', '--no-logs', '--name', 'scale-test');
    cleanup();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(namespaces(), 0);
    assert.equal(sleepers(), 0);
  });

  it(`brings ${COUNT} up and tears them down, verified`, () => {
    const r = myikev2('run', '--json', recipe);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const out = JSON.parse(r.stdout) as { instances: { state: string; mgmtAddr: string }[] };
    assert.equal(out.instances.length, COUNT);
    assert.deepEqual([...new Set(out.instances.map((i) => i.state))], ['running']);
    assert.equal(new Set(out.instances.map((i) => i.mgmtAddr)).size, COUNT, 'each its own management address');
    assert.equal(namespaces(), COUNT);
    assert.equal(sleepers(), COUNT);
    // The management veths have no IPv6 link-local address (nothing for the bridge to flood).
    assert.doesNotMatch(sh(`ip netns exec ${tag}-s${COUNT} ip -6 addr show dev mgmt0`), /scope link/);
    // Nor does the bridge flood one namespace's multicast listener reports to the others (2 each: 2 × N² packets).
    const ports = JSON.parse(sh(`ip -j -s link show master myikev2mgmtbrg`)) as { ifname: string; stats64: { tx: { packets: number } } }[];
    const mine = ports.filter((l) => l.ifname.startsWith(`${tag}h`));
    assert.equal(mine.length, COUNT);
    const delivered = mine.reduce((n, l) => n + l.stats64.tx.packets, 0);
    assert.ok(delivered < 20 * COUNT, `${delivered} packets went into the namespaces' management veths`);
    const td = myikev2('teardown', '--no-logs', recipe);
    assert.equal(td.status, 0, td.stderr + td.stdout);
    assert.match(td.stdout, /verified clean on 1 server\(s\)/);
    assert.equal(namespaces(), 0);
    assert.equal(sleepers(), 0);
  });
});
