// The controller's run records: a recipe file whose text is the one a run
// started from names that run without being parsed; saved logs are kept per
// run up to a number.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { textSha256 } from '../../src/model/source.js';
import type { RunManifest } from '../../src/run/manifest.js';
import { runTag } from '../../src/run/names.js';
import { DEFAULT_LOGS_KEPT, logsDirFor, logsKeptPerRun, pruneLogs, runNameOfRecipeFile, writeManifest } from '../../src/run/store.js';

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

  it('finds the run of a recipe file deleted since, by the path it was run from', () => {
    writeManifest({ ...manifest('gone', 'm0004', 'name: gone\n'), recipeFile: join(dir, 'deleted.yaml') });
    assert.equal(runNameOfRecipeFile(join(dir, 'deleted.yaml')), 'gone');
    assert.equal(runNameOfRecipeFile(join(dir, 'other.yaml')), null);
  });

  describe('saved logs', () => {
    const savedKeep = process.env.MYIKEV2_KEEP_LOGS;
    afterEach(() => {
      if (savedKeep === undefined) delete process.env.MYIKEV2_KEEP_LOGS;
      else process.env.MYIKEV2_KEEP_LOGS = savedKeep;
    });
    const saveAt = (name: string, iso: string) => {
      const d = logsDirFor(name, new Date(iso));
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'srv1.tar.gz'), 'x');
      return d;
    };
    const left = () => readdirSync(join(dir, 'state', 'logs')).sort();

    it('keeps the newest of one run, and leaves other runs\' and foreign directories alone', () => {
      for (const day of ['03', '01', '04', '02']) saveAt('big one', `2026-11-${day}T10:00:00.000Z`);
      saveAt('big one-b', '2026-10-01T10:00:00.000Z'); // a run whose name starts the same
      saveAt('other', '2026-09-01T10:00:00.000Z');
      mkdirSync(join(dir, 'state', 'logs', 'big_one-mine'));
      assert.equal(pruneLogs('big one', 2), 2);
      const [big, bigB] = [runTag('big one'), runTag('big one-b')];
      assert.deepEqual(left(), [
        `big_one-${big}-2026-11-03T10-00-00-000Z`,
        `big_one-${big}-2026-11-04T10-00-00-000Z`,
        `big_one-b-${bigB}-2026-10-01T10-00-00-000Z`,
        'big_one-mine',
        'other-2026-09-01T10-00-00-000Z',
      ].sort());
      assert.equal(pruneLogs('big one', 2), 0, 'nothing more to remove');
      assert.equal(pruneLogs('big one', 0), 0);
      assert.equal(left().length, 5, '0 keeps all');
      assert.equal(pruneLogs('never ran', 1), 0);
    });

    it("runs whose names are one once made safe for a file name ('a/b', 'a_b') do not prune each other's", () => {
      for (const day of ['01', '02', '03']) {
        saveAt('a/b', `2026-11-${day}T10:00:00.000Z`);
        saveAt('a_b', `2026-11-${day}T11:00:00.000Z`);
      }
      assert.equal(pruneLogs('a/b', 1), 2);
      assert.equal(pruneLogs('a_b', 1), 2);
      assert.deepEqual(left(), [`a_b-${runTag('a/b')}-2026-11-03T10-00-00-000Z`, 'a_b-2026-11-03T11-00-00-000Z'].sort());
    });

    it('keeps 20 per run unless MYIKEV2_KEEP_LOGS says how many; anything else is a usage error', () => {
      delete process.env.MYIKEV2_KEEP_LOGS;
      assert.equal(logsKeptPerRun(), DEFAULT_LOGS_KEPT);
      assert.equal(DEFAULT_LOGS_KEPT, 20);
      process.env.MYIKEV2_KEEP_LOGS = '3';
      assert.equal(logsKeptPerRun(), 3);
      process.env.MYIKEV2_KEEP_LOGS = '0';
      assert.equal(logsKeptPerRun(), 0);
      for (const bad of ['-1', '1.5', 'all', ' 2']) {
        process.env.MYIKEV2_KEEP_LOGS = bad;
        assert.throws(() => logsKeptPerRun(), (e: Error & { exitCode?: number }) => e.exitCode === 2 && e.message.includes(`MYIKEV2_KEEP_LOGS=${bad}: expected a whole number`), bad);
      }
    });
  });
});
