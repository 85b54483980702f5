// `teardown RECIPE` needs only the recipe's name: a file broken since the run,
// even its YAML, still names the run when its top-level name is readable.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRecipeName } from '../../src/model/recipe.js';
import { Diagnostics } from '../../src/model/source.js';

describe('model: the name of a recipe for teardown', () => {
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-recipe-name-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const nameOf = (text: string) => {
    const file = join(dir, 'r.yaml');
    writeFileSync(file, text);
    const diag = new Diagnostics();
    return { name: readRecipeName(file, diag), diag };
  };

  it('reads the name from a recipe whose YAML is broken elsewhere', () => {
    const { name, diag } = nameOf('name: pc-starter\ninstancelist:\n  1: {name: a}\ninstancelist: [\n  broken\n');
    assert.equal(name, 'pc-starter');
    assert.ok(diag.ok, diag.errors.map((e) => e.describe()).join('\n'));
  });

  it('without a readable name: the YAML errors, with the way out (--name)', () => {
    const { name, diag } = nameOf('name: [pc-starter\n');
    assert.equal(name, null);
    assert.ok(diag.errors.length >= 1);
    assert.ok(diag.errors.every((e) => /teardown --name NAME/.test(e.hint ?? '')), diag.errors.map((e) => e.describe()).join('\n'));
  });
});
