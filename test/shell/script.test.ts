// `myikev2 shell` scripted without servers: the exit code of a script is that
// of its first failed command, whether commands come on lines or after `;`.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../support/paths.js';

describe('shell: scripted exit codes', () => {
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
});
