// `npx myikev2` in the checkout (the README's way without setup's link). npm runs a
// project's own bin by installing the checkout into its npx cache, which runs
// the package's install-time scripts: a build there (a `prepare` script) made
// the first `npx myikev2` take ~12 s more. It must run the CLI as
// setup built it.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, PROJECT_ROOT } from '../support/paths.js';

describe('cli: npx myikev2 in the checkout', function () {
  this.timeout(120_000);
  let cache: string;
  before(() => (cache = mkdtempSync(join(tmpdir(), 'myikev2-npx-cache-'))));
  after(() => rmSync(cache, { recursive: true, force: true }));

  it('runs the built command line on first use (empty npm cache, offline), rebuilding nothing', () => {
    const built = statSync(CLI).mtimeMs;
    const r = spawnSync('npx', ['--offline', 'myikev2', '--version'], { encoding: 'utf8', cwd: PROJECT_ROOT, env: { ...process.env, NPM_CONFIG_CACHE: cache } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).version);
    assert.equal(statSync(CLI).mtimeMs, built, 'the command line was not built again');
  });
});
