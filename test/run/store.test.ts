// The controller's run records: a recipe file whose text is the one a run
// started from names that run without being parsed.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { textSha256 } from '../../src/model/source.js';
import type { RunManifest } from '../../src/run/manifest.js';
import { runNameOfRecipeFile, writeManifest } from '../../src/run/store.js';

describe('run: the controller\'s run records', () => {
  const saved = process.env.MYIKEV2_STATE_DIR;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-store-'));
    process.env.MYIKEV2_STATE_DIR = join(dir, 'state');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.MYIKEV2_STATE_DIR;
    else process.env.MYIKEV2_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  const manifest = (name: string, tag: string, text: string | undefined): RunManifest => ({
    version: 1, tag, name, recipeFile: '/elsewhere/recipe.yaml', recipeSha256: text === undefined ? undefined : textSha256(text),
    createdAt: '', updatedAt: '', servers: [], instances: [], cleancmds: [],
  });

  it('finds the run a recipe file with the same text started, wherever the file is now', () => {
    const text = 'name: "big one"\ninstancelist: {}\n';
    writeManifest(manifest('other', 'm0001', 'name: other\n'));
    writeManifest(manifest('big one', 'm0002', text));
    writeManifest(manifest('old', 'm0003', undefined)); // a run recorded before recipe hashes
    const file = join(dir, 'copy.yaml');
    writeFileSync(file, text);
    assert.equal(runNameOfRecipeFile(file), 'big one');
  });

  it('knows nothing of an edited, unknown or missing file (teardown then reads the name from it)', () => {
    writeManifest(manifest('big one', 'm0002', 'name: "big one"\n'));
    const file = join(dir, 'r.yaml');
    writeFileSync(file, 'name: "big one"\n# edited\n');
    assert.equal(runNameOfRecipeFile(file), null);
    assert.equal(runNameOfRecipeFile(join(dir, 'missing.yaml')), null);
  });
});
