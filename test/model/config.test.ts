// The controller config's warnings about secrets other users could read: an
// SSH password in a file readable by group or others, and a private key file
// readable by them (OpenSSH refuses such a key; the tool warns).
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { MyikeError } from '../../src/errors.js';
import { placeInConfig } from '../../src/model/config.js';
import { loadInputs } from '../../src/model/load.js';

describe('model: controller config warnings, and SSH errors placed in it', () => {
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (server: string, mode = 0o600) => {
    const config = join(dir, 'controller.yaml');
    writeFileSync(config, `daemonlist:\n  srv1:\n    sshaddr: 192.0.2.1\n${server}    mgmtaddrprefix: 2001:db8:1::/64\n`);
    chmodSync(config, mode);
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(recipe, 'name: warn\ninstancelist:\n  1:\n    name: a\n    daemonname: srv1\n    other:\n      upcmds: exec sleep 1\n');
    return loadInputs(recipe, config).warnings.join('\n');
  };

  it('warns of a private key readable by group or others, naming it and the fix; not of one only its owner reads', () => {
    const key = join(dir, 'id_test');
    writeFileSync(key, ssh2.utils.generateKeyPairSync('ed25519').private);
    chmodSync(key, 0o644);
    assert.match(load(`    sshkeypath: ${key}\n`), new RegExp(`the private key ${key} is readable by group or others; run: chmod 600 ${key}`));
    chmodSync(key, 0o600);
    assert.equal(load(`    sshkeypath: ${key}\n`), '');
  });

  it('warns of an SSH password in a config file readable by group or others, without showing it', () => {
    const warned = load('    sshpass: hunter2-secret\n', 0o644);
    assert.match(warned, /holds an SSH password \(sshpass\) and is readable by group or others; run: chmod 600/);
    assert.doesNotMatch(warned, /hunter2/);
    assert.equal(load('    sshpass: hunter2-secret\n', 0o600), '');
  });

  it('places an SSH error of a server on the config line to fix, or on the server when the key is not written', () => {
    const config = join(dir, 'controller.yaml');
    writeFileSync(config, 'daemonlist:\n  srv1:\n    sshaddr: 192.0.2.1\n    sshport: 2222\n    sshpass: hunter2-secret\n    mgmtaddrprefix: 2001:db8:1::/64\n');
    const refused = new MyikeError('E_SSH_CONNECT', 'cannot connect to root@192.0.2.1:2222: connect ECONNREFUSED', { server: 'srv1', step: 'connect', hint: 'check sshaddr/sshport' });
    const placed = placeInConfig(refused, config);
    assert.deepEqual([placed.code, placed.location, placed.keyPath, placed.excerpt, placed.server, placed.step, placed.hint, placed.exitCode], [
      'E_SSH_CONNECT', { file: config, line: 4, col: 14 }, 'daemonlist.srv1.sshport', '    sshport: 2222', 'srv1', 'connect', 'check sshaddr/sshport', 1,
    ]);
    assert.match(placed.describe(), /^\S+controller\.yaml:4:14: error: \[server srv1, step connect\] daemonlist\.srv1\.sshport: cannot connect/);
    const mismatch = placeInConfig(new MyikeError('E_HOSTKEY_MISMATCH', 'host key of 192.0.2.1 does not match', { server: 'srv1', step: 'host key check' }), config);
    assert.deepEqual([mismatch.location?.line, mismatch.keyPath], [2, 'daemonlist.srv1']);
    assert.doesNotMatch(mismatch.describe(), /hunter2/);
    // A refused password is fixed at sshpass, its value masked.
    const denied = placeInConfig(new MyikeError('E_SSH_AUTH', 'authentication failed', { server: 'srv1', step: 'connect' }), config);
    assert.deepEqual([denied.location?.line, denied.keyPath], [5, 'daemonlist.srv1.sshpass']);
    assert.doesNotMatch(denied.describe(), /hunter2/);
    // Not an SSH error, or no file: as it was.
    const other = new MyikeError('E_EXEC', 'failed', { server: 'srv1' });
    assert.equal(placeInConfig(other, config), other);
    assert.equal(placeInConfig(refused, undefined), refused);
  });
});
