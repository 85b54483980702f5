// ssh2 loaded on first use: the compiled tree uses the package, the command
// line's bundle its one-file copy (dist/cli/ssh2.cjs), which must still find
// ssh2's native crypto binding in the package.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ssh2 } from '../src/ssh2-lib.js';
import { CLI, PROJECT_ROOT } from './support/paths.js';

describe('ssh2-lib: ssh2 loaded when first needed', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-ssh2lib-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is the package itself in the compiled tree', () => {
    assert.equal(ssh2(), createRequire(import.meta.url)('ssh2'));
  });

  it('is the bundled copy for the command line, with the native binding the package built, and no module of the package', () => {
    const key = join(dir, 'id_test');
    writeFileSync(key, ssh2().utils.generateKeyPairSync('ed25519').private);
    chmodSync(key, 0o600);
    const config = join(dir, 'controller.yaml');
    writeFileSync(config, `daemonlist:\n  srv1:\n    sshaddr: 192.0.2.1\n    sshkeypath: ${key}\n    mgmtaddrprefix: 2001:db8:1::/64\n`);
    chmodSync(config, 0o600);
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(recipe, 'name: lib\ninstancelist:\n  1:\n    name: a\n    daemonname: srv1\n    other:\n      upcmds: exec sleep 1\n');
    // Records every file the process loads as a CommonJS module (validate parses the key with ssh2).
    const hook = join(dir, 'loads.cjs');
    writeFileSync(hook, `const M = require('module'); const seen = []; const load = M._load;
M._load = function (req, parent, isMain) { const out = load.apply(this, arguments); try { seen.push(M._resolveFilename(req, parent, isMain)); } catch {} return out; };
process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(join(dir, 'loaded.txt'))}, seen.join('\\n')));`);
    const r = spawnSync(process.execPath, ['-r', hook, CLI, 'validate', '-c', config, recipe], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const loaded = spawnSync('cat', [join(dir, 'loaded.txt')], { encoding: 'utf8' }).stdout.split('\n');
    assert.ok(loaded.includes(join(PROJECT_ROOT, 'dist', 'cli', 'ssh2.cjs')), `ssh2.cjs not loaded:\n${loaded.join('\n')}`);
    const pkg = join(PROJECT_ROOT, 'node_modules', 'ssh2');
    assert.deepEqual(loaded.filter((f) => f.startsWith(pkg) && f.endsWith('.js')), [], 'a module of the ssh2 package was loaded');
    const binding = join(pkg, 'lib', 'protocol', 'crypto', 'build', 'Release', 'sshcrypto.node');
    if (existsSync(binding)) assert.ok(loaded.includes(binding), 'the native crypto binding was not loaded');
  });
});
