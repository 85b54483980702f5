import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { daemonFile, loadBundle, remoteBundlePath, remoteDaemonPath } from '../../src/transport/bundle.js';

describe('server bundle', () => {
  // A daemon of the controller's build is taken to mean its bundle is on the
  // server (no upload check). With a daemon file that did not change when
  // only the engine did, the new bundle was never pushed: engines and `cli -t`
  // failed with node's MODULE_NOT_FOUND.
  it('the daemon file names the server bundle it was built with, so an engine change is another daemon build', async () => {
    const bundle = await loadBundle();
    assert.ok(bundle.daemon, 'the build makes a daemon file');
    const head = readFileSync(daemonFile(bundle).localPath, 'utf8').slice(0, 1000);
    assert.ok(head.includes(`sha256:${bundle.sha256}`), 'the daemon file names the server bundle');
  });

  // Every daemon start parses its file: the config loader (YAML parsers,
  // schema validators) came in through the CLI's error wrapper and made it
  // four times bigger, ~30 ms more CPU per start here.
  it('the daemon file carries no controller config code (YAML parsers, schema validators)', async () => {
    const bundle = await loadBundle();
    const text = readFileSync(daemonFile(bundle).localPath, 'utf8');
    for (const mark of ['placeInConfig', 'YAMLParseError', 'validateAgainstSchema']) assert.ok(!text.includes(mark), `the daemon file has ${mark}`);
    assert.ok(readFileSync(bundle.localPath, 'utf8').includes('validateAgainstSchema'), 'the engine\'s bundle validates setup files');
  });

  // Pushing skips a directory that has both files; one named by the server
  // bundle alone kept a daemon file of another build beside the same bundle
  // (one built before its daemon file named the bundle): the daemon started
  // from it was never of the controller's build.
  it('the directory on the server is named by the daemon build, which covers both files', () => {
    const a = { localPath: '/x/myikev2-server.mjs', sha256: 'a'.repeat(64), daemon: { localPath: '/x/myikev2-daemon.mjs', sha256: 'd'.repeat(64) } };
    const b = { ...a, daemon: { ...a.daemon, sha256: 'e'.repeat(64) } };
    assert.equal(remoteBundlePath(a), `/var/lib/myikev2/bundles/${'d'.repeat(16)}/myikev2-server.mjs`);
    assert.notEqual(remoteDaemonPath(a), remoteDaemonPath(b));
    // Without a daemon file, the bundle is the daemon's file and names the directory.
    assert.equal(remoteBundlePath({ localPath: '/x/b.mjs', sha256: 'a'.repeat(64) }, '/b'), `/b/${'a'.repeat(16)}/myikev2-server.mjs`);
  });
});
