// What a run records of how each instance was written: its recipe entry as
// the user wrote it, and its setup file's text, not the model a build makes
// of them (a build that adds a setting fills in its default).
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readControllerConfig } from '../../src/model/config.js';
import { readRecipe } from '../../src/model/recipe.js';
import { Diagnostics, textSha256 } from '../../src/model/source.js';
import { PROJECT_ROOT } from '../support/paths.js';

describe('model: an instance as written', () => {
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-recipe-written-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps each entry without the defaults validation fills in, and the setup file text hash', () => {
    copyFileSync(join(PROJECT_ROOT, 'examples', 'starter', 'gateway.yaml'), join(dir, 'gw.yaml'));
    const file = join(dir, 'r.yaml');
    writeFileSync(file, 'name: w\ninstancelist:\n  1: {name: gw, daemonname: srv1, myikev2: {setuppath: gw.yaml}}\n  2: {name: sl, daemonname: srv1, other: {upcmds: sleep 60}}\n');
    const diag = new Diagnostics();
    const recipe = readRecipe(file, null, diag);
    assert.ok(recipe, diag.errors.map((e) => e.describe()).join('\n'));
    const [gw, sl] = recipe.instances;
    assert.deepEqual(JSON.parse(gw.written), { name: 'gw', daemonname: 'srv1', myikev2: { setuppath: 'gw.yaml' } });
    assert.deepEqual(JSON.parse(sl.written), { name: 'sl', daemonname: 'srv1', other: { upcmds: 'sleep 60' } });
    assert.equal(sl.other!.setupcmds, '', 'the model has the defaults');
    assert.equal(gw.myikev2!.setup.sha256, textSha256(readFileSync(join(dir, 'gw.yaml'), 'utf8')));
  });
});

describe('model: names a recipe refers to', () => {
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-recipe-names-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('suggests the server or variable meant by a misspelt one', () => {
    const config = join(dir, 'controller.yaml');
    writeFileSync(config, 'daemonlist:\n  srv1: {sshaddr: 192.0.2.1, mgmtaddrprefix: "2001:db8:1::/64"}\nvarlist:\n  DURATION: "5"\n');
    const file = join(dir, 'r.yaml');
    writeFileSync(file, 'name: n\ninstancelist:\n  1: {name: a, daemonname: svr1, other: {upcmds: sleep %DURATON% %NOPE%}}\n');
    const diag = new Diagnostics();
    readRecipe(file, readControllerConfig(config, diag).config, diag);
    assert.deepEqual(diag.errors.map((e) => e.hint?.replace(/ Else .*|^add .*/, '')), ['did you mean "srv1"?', 'did you mean %DURATION%?', '']);
  });
});
