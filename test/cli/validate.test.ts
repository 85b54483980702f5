// The command line as a user runs it: exit codes and the error format.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, FIXTURES, PROJECT_ROOT } from '../support/paths.js';

function myikev2(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: PROJECT_ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cli: validate, example, usage', () => {
  it('validate prints ok and a summary for a valid recipe (exit 0)', () => {
    const r = myikev2('validate', '-c', 'examples/starter/controller.yaml', 'examples/starter/recipe.yaml');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ok: recipe "starter": 2 instances on 2 servers (srv1: 1, srv2: 1)\n');
  });

  it('validate reports every error as FILE:LINE:COL: error: ... and exits 2', () => {
    const dir = join(FIXTURES, 'model', 'several-errors-at-once');
    const r = myikev2('validate', '-c', join(dir, 'config.yaml'), join(dir, 'recipe.yaml'));
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    const heads = r.stderr.split('\n').filter((l) => / error: /.test(l));
    assert.equal(heads.length, 4, r.stderr);
    assert.match(heads[0], /recipe\.yaml:1:7: error: name: wrong type \(expected string\)$/);
    assert.match(heads[1], /recipe\.yaml:5:17: error: instancelist\.1\.daemonname: "svr9" is not a server/);
    assert.match(r.stderr, /client\.yaml:7:16: error: ikeconf\.dpdinterval: "often" is not a duration/);
    assert.match(r.stderr, /hint: /);
  });

  it('never prints a secret from the input', () => {
    const dir = join(FIXTURES, 'model', 'setup-bad-duration');
    const r = myikev2('validate', '-c', join(dir, 'config.yaml'), join(dir, 'recipe.yaml'));
    assert.equal(r.code, 2);
    assert.ok(!r.stderr.includes('test-psk') && !r.stdout.includes('test-psk'));
  });

  it('bad usage exits 2, --help exits 0', () => {
    assert.equal(myikev2('no-such-command').code, 2);
    assert.equal(myikev2('validate').code, 2);
    const help = myikev2('validate', '--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: myikev2 validate/);
  });

  it('no command word is bad usage (exit 2, usage on stderr); `help` exits 0', () => {
    for (const args of [[], ['lab']]) {
      const r = myikev2(...args);
      assert.equal(r.code, 2, `myikev2 ${args.join(' ')}`);
      assert.match(r.stderr, /Usage: myikev2/);
    }
    assert.equal(myikev2('help').code, 0);
    assert.equal(myikev2('help', 'run').code, 0);
    assert.equal(myikev2('lab', 'help').code, 0);
  });

  it('bad usage with --json prints the error as JSON on stdout too (exit 2)', () => {
    for (const args of [
      ['run', '--json', '--bogus', 'a.yaml'],
      ['run', '--json'],
      ['teardown', '--json', 'a.yaml', 'b.yaml'],
      ['lab', 'status', '--json', '--dir'],
    ]) {
      const r = myikev2(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const { error } = JSON.parse(r.stdout);
      assert.equal(error.code, 'E_USAGE');
      assert.equal(error.exitCode, 2);
      assert.ok(r.stderr.includes(error.message), `${error.message} / ${r.stderr}`);
    }
    assert.equal(myikev2('run', '--bogus', 'a.yaml').stdout, '', 'without --json, stdout stays empty');
  });

  it('a word too many is bad usage (exit 2), not ignored, at every level', () => {
    for (const args of [
      ['validate', '-c', 'examples/starter/controller.yaml', 'examples/starter/recipe.yaml', 'examples/quickstart/recipe.yaml'],
      ['teardown', 'a.yaml', 'b.yaml'],
      ['lab', 'status', '--dir', '/nonexistent/lab', 'extra'],
      ['example', '-o', '/nonexistent/example', 'extra'],
    ]) {
      const r = myikev2(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /error: too many arguments for '\w+'/);
    }
  });

  it('run --dry-run --json is refused (exit 2): the dry run prints scripts, which a JSON reader would choke on', () => {
    const r = myikev2('run', '--dry-run', '--json', '-c', 'examples/starter/controller.yaml', 'examples/starter/recipe.yaml');
    assert.equal(r.code, 2, r.stdout);
    assert.equal(JSON.parse(r.stdout).error.code, 'E_USAGE');
    assert.match(r.stderr, /--dry-run prints scripts, not JSON/);
  });

  it('with --json, an error is JSON on stdout too (each input error with file, line, column and key), and no secret', () => {
    const dir = join(FIXTURES, 'model', 'several-errors-at-once');
    const r = myikev2('run', '--json', '-c', join(dir, 'config.yaml'), join(dir, 'recipe.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /recipe\.yaml:1:7: error: name: wrong type/, 'the terminal still gets the message');
    const { error } = JSON.parse(r.stdout) as { error: { code: string; exitCode: number; errors: Record<string, unknown>[] } };
    assert.equal(error.code, 'E_INPUT');
    assert.equal(error.exitCode, 2);
    assert.equal(error.errors.length, 4);
    assert.deepEqual({ ...error.errors[0], message: undefined, hint: undefined }, { code: 'E_INPUT', message: undefined, hint: undefined, file: join(dir, 'recipe.yaml'), line: 1, col: 7, key: 'name', exitCode: 2 });
    assert.match(String(error.errors[0].message), /wrong type \(expected string\)/);
    const secret = join(FIXTURES, 'model', 'setup-bad-duration');
    const s = myikev2('run', '--json', '-c', join(secret, 'config.yaml'), join(secret, 'recipe.yaml'));
    assert.equal(s.code, 2, s.stderr);
    assert.equal(JSON.parse(s.stdout).error.code, 'E_INPUT');
    assert.ok(!s.stdout.includes('test-psk') && !s.stderr.includes('test-psk'));
  });

  it('cli refuses an engine named twice (--socket and --run-dir, or --addr) rather than pick one', () => {
    const r = myikev2('cli', '--socket', '/nonexistent/a.sock', '--run-dir', '/nonexistent/b', '--exec', 'summary');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--socket and --run-dir name the engine twice/);
  });

  it('example writes files that validate, and refuses to overwrite them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'myikev2-example-'));
    try {
      const out = join(dir, 'ex');
      assert.equal(myikev2('example', '-o', out).code, 0);
      for (const f of ['controller.yaml', 'recipe.yaml', 'client.yaml', 'gateway.yaml']) assert.ok(existsSync(join(out, f)), f);
      const v = myikev2('validate', '-c', join(out, 'controller.yaml'), join(out, 'recipe.yaml'));
      assert.equal(v.code, 0, v.stderr);
      const again = myikev2('example', '-o', out);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /already exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(!existsSync(dir));
  });
});
