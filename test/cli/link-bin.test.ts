// scripts/link-bin.sh (run by setup.sh) puts `myikev2` on the PATH, as the
// commands the tool prints are typed: a link to this checkout's build; a link
// of another clone's build is replaced, anything else is left.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, PROJECT_ROOT } from '../support/paths.js';

describe('cli: myikev2 on the PATH (scripts/link-bin.sh)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-bin-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const link = () => spawnSync('bash', [join(PROJECT_ROOT, 'scripts', 'link-bin.sh')], { encoding: 'utf8', env: { ...process.env, MYIKEV2_BIN_DIR: dir } });
  const bin = () => join(dir, 'myikev2');

  it('links this build, which runs as `myikev2`', () => {
    const r = link();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readlinkSync(bin()), CLI);
    const v = spawnSync(bin(), ['--version'], { encoding: 'utf8' });
    assert.equal(v.stdout.trim(), JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).version, v.stderr);
  });

  it('replaces the link of another clone\'s build (even one that is gone)', () => {
    symlinkSync('/gone/clone/dist/cli/myikev2.js', bin());
    assert.equal(link().status, 0);
    assert.equal(readlinkSync(bin()), CLI);
  });

  it('leaves anything else, saying so', () => {
    writeFileSync(bin(), '#!/bin/sh\necho mine\n', { mode: 0o755 });
    const r = link();
    assert.equal(r.status, 0);
    assert.match(r.stderr, /is not a link to a myikev2 build; left as it is/);
    assert.equal(readFileSync(bin(), 'utf8'), '#!/bin/sh\necho mine\n');
  });
});
