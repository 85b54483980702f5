// `myikev2 shell` scripted without servers: the exit code of a script is that
// of its first failed command, whether commands come on lines or after `;`.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../support/paths.js';

describe('shell: scripted exit codes and errors', () => {
  let state = '';
  before(() => (state = mkdtempSync(join(tmpdir(), 'myikev2-shell-script-'))));
  after(() => rmSync(state, { recursive: true, force: true }));
  const shell = (args: string[], input = '') =>
    spawnSync(process.execPath, [CLI, 'shell', ...args], { input, encoding: 'utf8', env: { ...process.env, MYIKEV2_STATE_DIR: state } });

  it('a failed command followed by one that works: the failure\'s code, with --exec as with stdin lines', () => {
    assert.equal(shell(['--exec', 'frob; help']).status, 2);
    assert.equal(shell([], 'frob\nhelp\n').status, 2);
    assert.equal(shell([], 'frob; help\n').status, 2);
    assert.equal(shell(['--exec', 'help; help']).status, 0);
    assert.equal(shell(['--exec', 'frob; exit 0']).status, 0, 'exit CODE wins');
  });

  it('an SSH error of def points at the config line to fix, as on the command line', () => {
    // Nothing listens on port 1 of loopback: refused at once, nothing is touched.
    writeFileSync(join(state, 'controller.yaml'), 'daemonlist:\n  srv1:\n    sshaddr: 127.0.0.1\n    sshport: 1\n    hostkeycheck: "off"\n    mgmtaddrprefix: 2001:db8:1::/64\n');
    writeFileSync(join(state, 'recipe.yaml'), 'name: shell-refused\ninstancelist:\n  1: {name: a, daemonname: srv1, other: {upcmds: sleep 1}}\n');
    const r = shell(['-c', join(state, 'controller.yaml'), '--exec', `def -f ${join(state, 'recipe.yaml')}`]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /controller\.yaml:4:14: error: \[server srv1, step connect\] daemonlist\.srv1\.sshport: cannot connect to root@127\.0\.0\.1:1/);
  });
});
