// Acceptance of the README's main command on the embedded default (the local
// machine, no SSH): a myikev2 engine gateway and client in two namespaces;
// the client's 10 tunnels come up and every one carries pings (read from the
// engine's API with `myikev2 cli`); teardown leaves the machine as it was.
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { readProcStat } from '../../src/daemon/proc.js';
import { controllerCli, localRunState, sh } from '../support/machine.js';

const RECIPE = 'examples/quickstart/recipe.yaml';
const TAG = 'med4f';

const machineState = () => localRunState(TAG, 'qs-');

describe('run/teardown: the quick start (engine pair on the local machine) @integration', function () {
  this.timeout(120_000);
  const { myikev2, cleanup } = controllerCli();
  let baseline = '';

  before(() => {
    baseline = machineState();
  });

  after(() => {
    myikev2('teardown', '--force', '--no-logs', RECIPE);
    sh('ip link del qs-client 2>/dev/null');
    cleanup();
    assert.equal(sh(`ip netns list | grep -c '^${TAG}-' || true`).trim(), '0', 'no namespace of the run is left');
  });

  it('brings up the engines; all 10 tunnels come up and carry pings', async () => {
    const r = myikev2('run', RECIPE);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /gateway\s+local\s+med4f-gateway\s+\S+\s+running/);
    assert.match(r.stdout, /run "quickstart" \(tag med4f\) is up: 2 instance\(s\) on 1 server\(s\) in \d+\.\d s\./);
    assert.match(r.stdout, /myikev2 cli --run-dir \/run\/myikev2\/runs\/med4f\/client/);
    let ping: { total: { sent: number; received: number }; tunnels: { received: number }[] } | undefined;
    for (let i = 0; i < 60; i++) {
      const p = myikev2('cli', '--run-dir', `/run/myikev2/runs/${TAG}/client`, '--exec', 'psummary', '-j');
      if (p.status === 0) {
        ping = JSON.parse(p.stdout);
        if (ping!.tunnels.length === 10 && ping!.tunnels.every((t) => t.received >= 2)) break;
      }
      await sleep(500);
    }
    assert.ok(ping, 'the client engine API answers');
    assert.equal(ping.tunnels.length, 10);
    for (const t of ping.tunnels) assert.ok(t.received >= 2, `every tunnel carries pings: ${JSON.stringify(ping.tunnels)}`);
    const s = myikev2('cli', '--run-dir', `/run/myikev2/runs/${TAG}/gateway`, '--exec', 'summary');
    assert.match(s.stdout, /live 10/);
  });

  it('teardown stops the engines, removes everything and verifies it, and the idle daemon is gone when it returns', () => {
    const daemonPid = sh("pgrep -f '[m]yikev2-daemon.mjs daemon --state-dir /var/lib/myikev2/daemon' || true").trim();
    assert.match(daemonPid, /^\d+$/, 'the run\'s daemon runs');
    const r = myikev2('teardown', '--json', RECIPE);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(JSON.parse(r.stdout).servers, [{ server: 'local', leftovers: [] }]);
    assert.equal(machineState(), baseline);
    // Exited: gone, or a zombie its reaper has not collected yet (this machine's init is seconds late).
    const st = readProcStat(Number(daemonPid));
    assert.ok(st === null || st.state === 'Z', `the daemon has exited, not just closed its socket (state ${st?.state})`);
  });
});
