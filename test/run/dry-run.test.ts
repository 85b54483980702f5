import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInputs } from '../../src/model/load.js';
import { dryRunText } from '../../src/run/dry-run.js';

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
    assert.match(a, /# instance x in m[0-9a-f]{4}-x \(wave 1\)\n# setupcmds:\n# {3}echo hello world > greeting\n# upcmds:\n# {3}exec sleep 100\n# destroycmds \(at teardown\):\n# {3}echo bye world/);
    assert.match(text.slice(text.indexOf('######## server b')), /^# cleancmds \(at teardown\): rm -f \/tmp\/dry-world$/m);
  });
});
