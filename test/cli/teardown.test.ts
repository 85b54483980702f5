// teardown's command line: with neither a recipe nor --name, it says which
// runs this controller could tear down.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

  it('says when no run is on record', () => {
    const r = teardown();
    assert.equal(r.status, 2);
    assert.match(r.stderr, /hint: .*\(no run is on record on this controller\)/);
  });
});
