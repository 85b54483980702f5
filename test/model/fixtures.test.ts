// The corpus of broken inputs: each fixture directory holds a recipe (and a
// controller config, setup files) with mistakes, and expect.yaml lists the
// exact file:line:col and key path of every error it must produce.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { InputErrors } from '../../src/errors.js';
import { loadInputs } from '../../src/model/load.js';
import { FIXTURES } from '../support/paths.js';

const root = join(FIXTURES, 'model');
const cases = readdirSync(root).sort();

describe('model: broken inputs (test/fixtures/model)', () => {
  it('has a corpus of at least 40 broken inputs', () => {
    assert.ok(cases.length >= 40, `only ${cases.length} fixtures`);
  });

  for (const name of cases) {
    it(name, () => {
      const dir = join(root, name);
      const expected: string[] = parse(readFileSync(join(dir, 'expect.yaml'), 'utf8')).errors;
      const config = existsSync(join(dir, 'config.yaml')) ? join(dir, 'config.yaml') : undefined;
      let thrown: unknown;
      try {
        loadInputs(join(dir, 'recipe.yaml'), config);
      } catch (err) {
        thrown = err;
      }
      assert.ok(thrown instanceof InputErrors, `expected input errors, got ${thrown === undefined ? 'none' : String(thrown)}`);
      const got = thrown.errors.map((e) => `${basename(e.location!.file)}:${e.location!.line}:${e.location!.col} ${e.keyPath ?? '-'}`);
      assert.deepEqual(got, expected, thrown.describe());
      for (const e of thrown.errors) {
        assert.equal(e.exitCode, 2);
        assert.ok(e.message.length > 10, 'the message says what is wrong');
      }
    });
  }
});
