// Data interfaces and other instances' lifecycle on a lab of real SSH
// servers: a data interface comes back as it was (address options, routes
// through it), also when its namespace was deleted by hand; a run wanting an
// interface another run has is refused before anything is done; an instance
// started again does not run its setupcmds a second time.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useLab, sshRun, serverState, type Lab, type LabServer } from '../support/lab.js';
import { controllerCli } from '../support/machine.js';
import { runTag } from '../../src/run/names.js';

describe('run: data interfaces and restarts on the lab @integration', function () {
  this.timeout(150_000);
  const { myikev2, cleanup } = controllerCli();
  const env = useLab({ servers: 2 });
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-dataif-lab-')))); // not at load: a run of other tests loads this file too
  after(() => {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const on = async (s: LabServer, cmd: string) => {
    const r = await sshRun(env.lab, s, cmd);
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  const recipe = (name: string, text: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `name: ${name}\n${text}`);
    return file;
  };
  const run = (file: string) => myikev2('run', '--json', '-c', env.lab.controllerConfigPath, file);
  const teardown = (file: string) => myikev2('teardown', '--no-logs', '-c', env.lab.controllerConfigPath, file);

  it('gives a data interface back with its MTU, address options and the routes through it, also when its namespace was deleted by hand while its instance ran', async () => {
    const lab: Lab = env.lab;
    const [srv1, srv2] = lab.servers;
    const tag = runTag('dataif-back');
    // What an engineer's server may have on its data interface besides its address.
    const extras = [
      `ip addr add 100.64.250.1/32 dev ${srv1.dataIf} label ${srv1.dataIf}:t`,
      `ip addr add fd00:250::1/64 dev ${srv1.dataIf} nodad noprefixroute`,
      `ip route add 10.250.0.0/16 via ${srv2.dataAddr4} dev ${srv1.dataIf}`,
      `ip -6 route add fd00:251::/48 via ${srv2.dataAddr6} dev ${srv1.dataIf}`,
      `ip route add 10.251.0.0/16 dev ${srv1.dataIf} table 100 metric 5`,
    ];
    await on(srv1, extras.join(' && '));
    const detail = () => on(srv1, `ip -o link show dev ${srv1.dataIf} | grep -o 'mtu [0-9]*'; ip -o addr show dev ${srv1.dataIf} | sed 's/ tentative//; s/valid_lft.*//' | sort; ip route show table 100`);
    const before = [await serverState(lab, srv1, tag), await detail()];
    const file = recipe('dataif-back', `instancelist:\n  1:\n    name: a\n    daemonname: srv1\n    other:\n      setupcmds: ip link set ${srv1.dataIf} mtu 1380\n      upcmds: exec sleep 701\n      dataif: ${srv1.dataIf}\n      dataifaddr: 192.168.250.1/24\n`);
    try {
      const r = run(file);
      assert.equal(r.status, 0, r.stderr);
      await on(srv1, `ip netns del ${tag}-a`);
      const td = teardown(file);
      assert.equal(td.status, 0, td.stderr + td.stdout);
      assert.doesNotMatch(td.stderr, /warning/, 'nothing was lost');
      assert.deepEqual([await serverState(lab, srv1, tag), await detail()], before);
    } finally {
      teardown(file);
      await sshRun(lab, srv1, `ip route del 10.250.0.0/16; ip -6 route del fd00:251::/48; ip route del 10.251.0.0/16 table 100; ip addr del 100.64.250.1/32 dev ${srv1.dataIf}; ip addr del fd00:250::1/64 dev ${srv1.dataIf}`);
    }
  });

  it('refuses a run whose data interface another run has, on every server before any setupcmds, naming that run', async () => {
    const lab: Lab = env.lab;
    const [srv1, srv2] = lab.servers;
    const holder = recipe('dataif-holder', `instancelist:\n  2:\n    name: c\n    daemonname: srv2\n    other:\n      upcmds: exec sleep 702\n      dataif: ${srv2.dataIf}\n`);
    const marker = join(dir, 'setupcmds-ran');
    const wanting = recipe(
      'dataif-wanting',
      `setupcmds:\n  - daemonname: srv1\n    cmds: touch ${marker}\n  - daemonname: srv2\n    cmds: touch ${marker}\ninstancelist:\n  3:\n    name: f\n    daemonname: srv2\n    other:\n      upcmds: exec sleep 703\n      dataif: ${srv2.dataIf}\n  4:\n    name: g\n    daemonname: srv1\n    other:\n      upcmds: exec sleep 704\n`,
    );
    const tag = runTag('dataif-wanting');
    const before = await Promise.all([srv1, srv2].map((s) => serverState(lab, s, tag)));
    try {
      assert.equal(run(holder).status, 0);
      const namespaces = () => on(srv2, 'ip -all netns list | sort');
      const holderNamespaces = await namespaces();
      const r = run(wanting);
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stderr, new RegExp(`data interface ${srv2.dataIf} of instance f is taken on server srv2: run "dataif-holder" \\(tag ${runTag('dataif-holder')}\\) has it in namespace ${runTag('dataif-holder')}-c \\(its instance c\\)`));
      assert.match(r.stderr, /myikev2 teardown --name dataif-holder/);
      assert.equal(existsSync(marker), false, 'no setupcmds ran, on either server');
      assert.equal(await serverState(lab, srv1, tag), before[0]);
      assert.equal(await namespaces(), holderNamespaces, 'srv2: nothing of the refused run, and the interface stays where it is');
    } finally {
      assert.equal(teardown(holder).status, 0);
    }
  });

  it('an other instance started again after it crashed does not run its setupcmds a second time', async () => {
    const lab: Lab = env.lab;
    const [srv1] = lab.servers;
    const tag = runTag('restart-setup');
    const file = recipe('restart-setup', `instancelist:\n  5:\n    name: s\n    daemonname: srv1\n    other:\n      setupcmds: ip addr add 10.252.0.1/32 dev lo\n      upcmds: exec sleep 705\n`);
    try {
      assert.equal(run(file).status, 0);
      await on(srv1, `pkill -f '^sleep 705$'; while pgrep -f '^sleep 705$' >/dev/null; do sleep 0.05; done`);
      const again = run(file);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).instances[0].state, 'running');
      assert.match(await on(srv1, `ip -n ${tag}-s -o addr show dev lo`), /10\.252\.0\.1\/32/);
    } finally {
      assert.equal(teardown(file).status, 0);
    }
  });
});
