// teardown's command line: with neither a recipe nor --name, it says which
// runs this controller could tear down.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunManifest } from '../../src/run/manifest.js';
import { writeManifest } from '../../src/run/store.js';
import { CLI, PROJECT_ROOT } from '../support/paths.js';

describe('cli: teardown without a run named', () => {
  const saved = process.env.MYIKEV2_STATE_DIR;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-td-cli-'));
    process.env.MYIKEV2_STATE_DIR = dir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.MYIKEV2_STATE_DIR;
    else process.env.MYIKEV2_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  const teardown = () => spawnSync(process.execPath, [CLI, 'teardown'], { encoding: 'utf8', cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: dir } });
  const record = (name: string, tag: string): RunManifest => ({ version: 1, tag, name, recipeFile: '/x/recipe.yaml', createdAt: '', updatedAt: '', servers: [], instances: [], cleancmds: [] });

  it('lists the runs on record, and how to name one (exit 2, nothing touched)', () => {
    writeManifest(record('zeta', 'm0001'));
    writeManifest(record('big one', 'm0002'));
    const r = teardown();
    assert.equal(r.status, 2);
    assert.match(r.stderr, /error: give either a recipe file or --name NAME\n {2}hint: runs on record on this controller: big one, zeta; e\.g\. myikev2 teardown --name 'big one'\n/);
  });

  it('teardown --name of no run (a typo) lists the runs on record', () => {
    writeManifest(record('zeta', 'm0001'));
    const config = join(dir, 'controller.yaml');
    writeFileSync(config, 'daemonlist:\n  srv1:\n    sshaddr: 127.0.0.1\n    sshport: 1\n    mgmtaddrprefix: fd00:77::/64\n');
    const r = spawnSync(process.execPath, [CLI, 'teardown', '-c', config, '--name', 'zetta'], { encoding: 'utf8', cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: dir } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'nothing to tear down: no run of "zetta"\n');
    assert.match(r.stderr, /^hint: runs on record on this controller: zeta; e\.g\. myikev2 teardown -c \S+controller\.yaml --name zeta$/m, 'with the -c it was given');
  });

  it('says when no run is on record', () => {
    const r = teardown();
    assert.equal(r.status, 2);
    assert.match(r.stderr, /hint: .*\(no run is on record on this controller\)/);
  });
});

describe('cli: an SSH error points at the config line to fix', () => {
  // Wired through the commands that read the config (the daemon's file carries no config code).
  it('run: a refused SSH port is told at daemonlist.NAME.sshport in the config, with its line (loopback port 1: nothing listens)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'myikev2-place-cli-'));
    try {
      const config = join(dir, 'controller.yaml');
      const key = join(dir, 'id_ed25519');
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      writeFileSync(config, `daemonlist:\n  srv1:\n    sshaddr: 127.0.0.1\n    sshport: 1\n    sshkeypath: ${key}\n    mgmtaddrprefix: fd00:77::/64\n`);
      const recipe = join(dir, 'recipe.yaml');
      writeFileSync(recipe, 'name: place-test\ninstancelist:\n  1:\n    name: a\n    daemonname: srv1\n    other:\n      upcmds: exec sleep 5\n');
      const r = spawnSync(process.execPath, [CLI, 'run', '--plain', '-c', config, recipe], { encoding: 'utf8', cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: dir } });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${config.replace(/[.]/g, '\\.')}:4:\\d+: error: .*sshport`), r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});


describe('cli: teardown of a run this controller has no record of', () => {
  it('names the servers it could not ask: the run may be there (loopback port 1: nothing listens)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'myikev2-td-unasked-'));
    try {
      const config = join(dir, 'controller.yaml');
      const key = join(dir, 'id_ed25519');
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      writeFileSync(config, `daemonlist:\n  srv1:\n    sshaddr: 127.0.0.1\n    sshport: 1\n    sshkeypath: ${key}\n    mgmtaddrprefix: fd00:77::/64\n`);
      const r = spawnSync(process.execPath, [CLI, 'teardown', '-c', config, '--name', 'elsewhere'], { encoding: 'utf8', cwd: PROJECT_ROOT, env: { ...process.env, MYIKEV2_STATE_DIR: dir } });
      assert.equal(r.stdout, 'nothing to tear down: no run of "elsewhere"\n');
      assert.match(r.stderr, /warning: this controller has no record of the run, and srv1 \(cannot connect to root@127\.0\.0\.1:1: .*\) could not be asked for one: a run there is not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
