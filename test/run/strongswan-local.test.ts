// The local examples on the embedded default (the local machine, no SSH):
// examples/strongswan-local: two strongSwan charons in namespaces bring up a
// tunnel that carries pings; a second run converges; teardown leaves the
// machine as it was; a second teardown is a no-op.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { controllerCli, localRunState, sh } from '../support/machine.js';
import { FIXTURES } from '../support/paths.js';

const RECIPE = 'examples/strongswan-local/recipe.yaml';
const TAG = 'm2102';

const machineState = () => localRunState(TAG, 'ss-');

describe('run/teardown: strongSwan pair on the local machine @integration', function () {
  this.timeout(120_000);
  const { myikev2, cleanup } = controllerCli();
  let baseline = "";

  before(() => {
    baseline = machineState();
  });

  after(() => {
    myikev2('teardown', '--force', '--no-logs', RECIPE);
    sh('ip link del ss-left 2>/dev/null');
    cleanup();
    assert.equal(sh(`ip netns list | grep -c '^${TAG}-' || true`).trim(), '0', 'no namespace of the run is left');
  });

  it('rejects an invalid recipe with exit 2 and touches nothing', () => {
    const dir = join(FIXTURES, 'model', 'dataif-too-long');
    const r = myikev2('run', join(dir, 'recipe.yaml'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /recipe\.yaml:8:15: error: instancelist\.1\.other\.dataif/);
    assert.equal(machineState(), baseline);
  });

  it('brings up two charons whose tunnel carries pings', () => {
    const r = myikev2('run', '--json', RECIPE);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.tag, TAG);
    assert.deepEqual(result.instances.map((i: { instance: string; state: string }) => [i.instance, i.state]), [['right', 'running'], ['left', 'running']]);
    const ns = sh(`ip netns list | awk '{print $1}' | grep '^${TAG}-' | sort`).trim().split('\n');
    assert.deepEqual(ns, [`${TAG}-left`, `${TAG}-right`]);
    // The management address answers from the base namespace through the bridge.
    execFileSync('ping', ['-6', '-c', '1', '-W', '2', result.instances[1].mgmtAddr]);
    // Wait for the tunnel (charon initiates once its config is loaded), then ping through it.
    const vici = `unix:///run/myikev2/runs/${TAG}/left/charon.vici`;
    let sas = '';
    for (let i = 0; i < 50 && !/INSTALLED/.test(sas); i++) {
      sas = sh(`ip netns exec ${TAG}-left swanctl --list-sas --uri ${vici} 2>/dev/null`);
      if (!/INSTALLED/.test(sas)) execFileSync('sleep', ['0.2']);
    }
    assert.match(sas, /ESTABLISHED/);
    const ping = spawnSync('ip', ['netns', 'exec', `${TAG}-left`, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', '10.77.1.1', '10.77.2.1'], { encoding: 'utf8' });
    assert.match(ping.stdout, / 0% packet loss/, ping.stdout + ping.stderr);
    sas = sh(`ip netns exec ${TAG}-left swanctl --list-sas --uri ${vici} 2>/dev/null`);
    const out = /out\s+\w+,\s+(\d+) bytes,\s+(\d+) packets/.exec(sas);
    assert.ok(out && Number(out[2]) >= 3, `charon counted the pings: ${sas}`);
  });

  it('a second run converges: nothing is duplicated', () => {
    const r = myikev2('run', '--json', RECIPE);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sh(`ip netns list | grep -c '^${TAG}-'`).trim(), '2');
    assert.equal(sh(`ip -o link show | grep -c ': ${TAG}h'`).trim(), '2');
  });

  it('teardown removes everything and verifies it; a second teardown is a no-op', () => {
    const r = myikev2('teardown', '--json', RECIPE);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(result.servers, [{ server: 'local', leftovers: [] }]);
    assert.equal(machineState(), baseline);
    const again = myikev2('teardown', RECIPE);
    assert.equal(again.status, 0);
    assert.match(again.stdout, /nothing to tear down/);
  });
});
