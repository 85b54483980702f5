// `run --dry-run` shows everything the run would do on each server: the
// scripts, and how each instance is started (its setupcmds, its program or
// the engine's command line, with its environment), and at teardown its
// destroycmds and the recipe's cleancmds.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInputs } from '../../src/model/load.js';
import { dryRunText } from '../../src/run/dry-run.js';
import { PROJECT_ROOT } from '../support/paths.js';

const dry = (example: string) => dryRunText(loadInputs(join(PROJECT_ROOT, 'examples', example, 'recipe.yaml')));

describe('run: --dry-run', () => {
  it('shows how each other instance starts, its destroycmds and the cleancmds', () => {
    const text = dry('strongswan-local');
    assert.match(text, /^# instance right \(wave 1\): started by the daemon in namespace m2102-right, in \/run\/myikev2\/runs\/m2102\/right, logs in \/var\/log\/myikev2\/m2102\/right$/m);
    assert.match(text, /^# its setupcmds first:\nmkdir -p \/run\/myikev2\/runs\/m2102\/right && .* ip netns exec m2102-right sh -e -c 'ip addr add 10\.77\.2\.1\/32 dev lo$/m);
    assert.match(text, /^env MYIKEV2_TAG=m2102 MYIKEV2_INSTANCE=left .* sh -c 'mount --bind .*exec \/usr\/lib\/ipsec\/charon'$/m);
    assert.match(text, /^# destroycmds of left \(first\): .*swanctl --terminate/m);
    assert.match(text, /^# cleancmds \(at teardown\): ip link del ss-left 2>\/dev\/null \|\| true$/m);
  });

  it('shows the engine command line of a myikev2 instance and which setup file it gets, not the file itself', () => {
    const text = dry('quickstart');
    assert.match(text, /^# its setup file: \S+\/examples\/quickstart\/client\.yaml \(copied to \/run\/myikev2\/runs\/med4f\/client\/setup\.yaml\)$/m);
    assert.match(text, /^env MYIKEV2_TAG=med4f MYIKEV2_INSTANCE=client .* node --max-semi-space-size=1 \/var\/lib\/myikev2\/bundles\/BUILD\/myikev2-server\.mjs exec -f \/run\/myikev2\/runs\/med4f\/client\/setup\.yaml --run-dir \/run\/myikev2\/runs\/med4f\/client --no-netconf$/m);
    assert.ok(!text.includes('change-me-please'), 'the PSK of the setup file is not shown');
  });
});

describe('run/dry-run', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-dry-run-'));
    writeFileSync(join(dir, 'controller.yaml'), 'daemonlist:\n  a: {connection: local, mgmtaddrprefix: "2001:db8:1::/64"}\n  b: {connection: local, mgmtaddrprefix: "2001:db8:2::/64"}\nvarlist:\n  WHO: world\n');
    writeFileSync(
      join(dir, 'recipe.yaml'),
      [
        'name: dry',
        'cleancmds:',
        '  - {daemonname: b, cmds: "rm -f /tmp/dry-%WHO%"}',
        'instancelist:',
        '  1:',
        '    name: x',
        '    daemonname: a',
        '    waitinterval: 1s',
        '    other:',
        '      setupcmds: "echo hello %WHO% > greeting"',
        '      upcmds: exec sleep 100',
        '      destroycmds: "echo bye %WHO%"',
        '',
      ].join('\n'),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shows what each instance runs in its namespace, and the cleancmds, with variables substituted; a server with only cleancmds too', () => {
    const text = dryRunText(loadInputs(join(dir, 'recipe.yaml'), join(dir, 'controller.yaml')));
    const a = text.slice(text.indexOf('######## server a'), text.indexOf('######## server b'));
    assert.match(a, /^# instance x \(wave 1\): started by the daemon in namespace m[0-9a-f]{4}-x/m);
    assert.match(a, /^# its setupcmds first:\n.* sh -e -c 'echo hello world > greeting'$/m);
    assert.match(a, /^env MYIKEV2_TAG=\S+ .* sleep 100$/m);
    assert.match(a, /^# destroycmds of x \(first\): .*echo bye world/m);
    assert.match(text.slice(text.indexOf('######## server b')), /^# cleancmds \(at teardown\): rm -f \/tmp\/dry-world$/m);
  });
});
