// `myikev2 shell` scripted without servers: the exit code of a script is that
// of its first failed command, whether commands come on lines or after `;`.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
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

  for (const term of ['dumb', 'xterm']) {
    it(`Ctrl-C at the prompt drops the line being typed: the next Enter does not run it (TERM=${term})`, async function () {
      this.timeout(30_000);
      // A terminal of its own (util-linux script); the keys go in once the shell shows its prompt.
      const cmd = `exec ${process.execPath} ${CLI} shell`;
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...process.env, MYIKEV2_STATE_DIR: state, TERM: term, NO_COLOR: '1' } });
      let out = '';
      // Without the cursor moves of a capable terminal.
      child.stdout.on('data', (d: Buffer) => (out += d.toString().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')));
      const seen = async (re: RegExp, from: number) => {
        for (let i = 0; i < 200 && !re.test(out.slice(from)); i++) await new Promise((r) => setTimeout(r, 50));
        assert.match(out.slice(from), re);
      };
      try {
        await seen(/myikev2> $/, 0);
        child.stdin.write('help lis');
        await seen(/help lis$/, 0);
        let at = out.length;
        child.stdin.write('\x03');
        await seen(/\^C\r?\n.*myikev2> $/, at);
        at = out.length;
        child.stdin.write('help exit\r');
        await seen(/usage: exit[\s\S]*myikev2> $/, at);
        assert.doesNotMatch(out, /no command "lishelp"/, 'the dropped line ran with the next one');
        child.stdin.write('exit\r');
        await new Promise((r) => child.once('exit', r));
      } finally {
        child.kill();
      }
    });
  }

  it('an SSH error of def points at the config line to fix, as on the command line', () => {
    // Nothing listens on port 1 of loopback: refused at once, nothing is touched.
    writeFileSync(join(state, 'controller.yaml'), 'daemonlist:\n  srv1:\n    sshaddr: 127.0.0.1\n    sshport: 1\n    hostkeycheck: "off"\n    mgmtaddrprefix: 2001:db8:1::/64\n');
    writeFileSync(join(state, 'recipe.yaml'), 'name: shell-refused\ninstancelist:\n  1: {name: a, daemonname: srv1, other: {upcmds: sleep 1}}\n');
    const r = shell(['-c', join(state, 'controller.yaml'), '--exec', `def -f ${join(state, 'recipe.yaml')}`]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /controller\.yaml:4:14: error: \[server srv1, step connect\] daemonlist\.srv1\.sshport: cannot connect to root@127\.0\.0\.1:1/);
  });
});
