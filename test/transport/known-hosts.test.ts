import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addKnownHost,
  checkHostKey,
  fingerprint,
  hashHostName,
  hostFieldMatches,
  keyTypeOf,
  knownHostName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
} from '../../src/transport/known-hosts.js';

// Fixtures were made with OpenSSH's ssh-keygen (hashed lines with -H,
// fingerprints with -l), so these tests check us against OpenSSH itself.
const FIX = fileURLToPath(new URL('../../../test/transport/fixtures/', import.meta.url));
const read = (f: string) => readFileSync(path.join(FIX, f), 'utf8');
const blob = (t: string) => Buffer.from(read(`host_${t}.pub`).split(' ')[1], 'base64');
const fps = Object.fromEntries(read('fingerprints.txt').trim().split('\n').map((l) => l.split(' ')));
const entries = parseKnownHosts(read('known_hosts'));

describe('known_hosts', () => {
  it('parses valid lines and skips comments, broken lines and mislabelled keys', () => {
    assert.equal(entries.length, 8);
    assert.deepEqual(
      entries.map((e) => [e.hosts.startsWith('|1|') ? 'hashed' : e.hosts, e.keyType, e.marker ?? '']),
      [
        ['host1.example', 'ssh-ed25519', ''],
        ['[host2.example]:2222', 'ecdsa-sha2-nistp256', ''],
        ['host3.example,10.0.0.3', 'ssh-rsa', ''],
        ['hashed', 'ssh-ed25519', ''],
        ['hashed', 'ecdsa-sha2-nistp256', ''],
        ['*.wild.example,!bad.wild.example', 'ssh-ed25519', ''],
        ['revoked.example', 'ssh-ed25519', 'revoked'],
        ['*.ca.example', 'ssh-rsa', 'cert-authority'],
      ],
    );
  });

  it('formats fingerprints exactly like ssh-keygen -l', () => {
    for (const t of ['ed25519', 'ecdsa', 'rsa']) assert.equal(fingerprint(blob(t)), fps[t], t);
  });

  it('reads the key type from the blob', () => {
    assert.equal(keyTypeOf(blob('ed25519')), 'ssh-ed25519');
    assert.equal(keyTypeOf(blob('ecdsa')), 'ecdsa-sha2-nistp256');
    assert.equal(keyTypeOf(blob('rsa')), 'ssh-rsa');
    assert.equal(keyTypeOf(Buffer.from([0, 0, 0, 99, 1])), undefined);
  });

  it('names hosts as OpenSSH does', () => {
    assert.equal(knownHostName('h.example', 22), 'h.example');
    assert.equal(knownHostName('10.1.2.3', 2222), '[10.1.2.3]:2222');
    assert.equal(knownHostName('fd00::1', 2222), '[fd00::1]:2222');
  });

  const cases: Array<[string, string, string]> = [
    // name, presented key type, expected verdict
    ['host1.example', 'ed25519', 'match'],
    ['host1.example', 'ecdsa', 'mismatch'],
    ['HOST1.example', 'ed25519', 'match'], // host names are case-insensitive
    ['[host1.example]:2222', 'ed25519', 'unknown'], // another port is another host
    ['[host2.example]:2222', 'ecdsa', 'match'],
    ['host2.example', 'ecdsa', 'unknown'],
    ['10.0.0.3', 'rsa', 'match'],
    ['[hashed.example]:2200', 'ed25519', 'match'], // hashed by ssh-keygen -H
    ['[hashed.example]:2200', 'rsa', 'mismatch'],
    ['hashed22.example', 'ecdsa', 'match'],
    ['hashed.example', 'ed25519', 'unknown'],
    ['a.wild.example', 'ed25519', 'match'],
    ['bad.wild.example', 'ed25519', 'unknown'], // negated pattern
    ['revoked.example', 'ed25519', 'revoked'],
    ['x.ca.example', 'rsa', 'unknown'], // CA keys do not vouch for plain host keys
    ['nowhere.example', 'ed25519', 'unknown'],
  ];
  for (const [name, type, want] of cases) {
    it(`${name} presenting ${type} → ${want}`, () => assert.equal(checkHostKey(entries, name, blob(type)).status, want));
  }

  it('a mismatch lists the known keys (for both fingerprints in the error)', () => {
    const v = checkHostKey(entries, 'host1.example', blob('rsa'));
    assert.equal(v.status, 'mismatch');
    assert.deepEqual(v.status === 'mismatch' && v.known.map((e) => fingerprint(e.key)), [fps.ed25519]);
  });

  it('hashes names as OpenSSH (HMAC-SHA1 with the entry salt)', () => {
    const hashed = entries[3].hosts;
    const salt = Buffer.from(hashed.split('|')[2], 'base64');
    assert.equal(hashHostName('[hashed.example]:2200', salt), hashed);
    assert.ok(hostFieldMatches(hashHostName('x.example'), 'x.example'));
    assert.ok(!hostFieldMatches(hashHostName('x.example'), 'y.example'));
    assert.ok(!hostFieldMatches('|1|garbage', 'x'));
  });

  it('prefers the host key algorithms already known for a host', () => {
    assert.deepEqual(preferredHostKeyAlgorithms(entries, '10.0.0.3'), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.deepEqual(preferredHostKeyAlgorithms(entries, '[hashed.example]:2200'), ['ssh-ed25519']);
    assert.deepEqual(preferredHostKeyAlgorithms(entries, 'nowhere.example'), []);
  });

  describe('addKnownHost', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'myikev2-kh-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('creates the file and directory, appends once under parallel calls', async () => {
      const file = path.join(dir, 'sub', 'known_hosts');
      const added = await Promise.all(Array.from({ length: 20 }, () => addKnownHost(file, '[10.9.9.9]:2200', blob('ed25519'))));
      assert.equal(added.filter(Boolean).length, 1);
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      assert.deepEqual(lines, [`[10.9.9.9]:2200 ssh-ed25519 ${blob('ed25519').toString('base64')}`]);
    });

    it('keeps existing content and adds distinct hosts in parallel', async () => {
      const file = path.join(dir, 'known_hosts');
      writeFileSync(file, 'old.example ssh-ed25519 ' + blob('ed25519').toString('base64')); // no final newline
      await Promise.all(['a', 'b', 'c', 'd'].map((h) => addKnownHost(file, `${h}.example`, blob('ecdsa'))));
      const got = parseKnownHosts(readFileSync(file, 'utf8'));
      assert.deepEqual(got.map((e) => e.hosts).sort(), ['a.example', 'b.example', 'c.example', 'd.example', 'old.example']);
      assert.deepEqual(readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('.tmp')), []);
    });

    it('serialises appends across processes (lock file): nothing lost, nothing doubled', async () => {
      const file = path.join(dir, 'known_hosts');
      const mod = new URL('../../src/transport/known-hosts.js', import.meta.url).href;
      const b64 = blob('ecdsa').toString('base64');
      const script = (p: number) =>
        `const { addKnownHost } = await import(${JSON.stringify(mod)}); const k = Buffer.from(${JSON.stringify(b64)}, 'base64');` +
        `await Promise.all([addKnownHost(${JSON.stringify(file)}, 'common.example', k), ...[0,1,2,3,4].map((i) => addKnownHost(${JSON.stringify(file)}, 'p${p}-' + i + '.example', k))]);`;
      await Promise.all(
        [0, 1, 2, 3].map(
          (p) =>
            new Promise<void>((resolve, reject) => {
              const child = spawn(process.execPath, ['--input-type=module', '-e', script(p)], { stdio: ['ignore', 'ignore', 'pipe'] });
              let err = '';
              child.stderr.on('data', (d) => (err += d));
              child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(err))));
            }),
        ),
      );
      const hosts = parseKnownHosts(readFileSync(file, 'utf8')).map((e) => e.hosts);
      assert.equal(hosts.length, 21);
      assert.equal(hosts.filter((h) => h === 'common.example').length, 1);
      assert.ok(!existsSync(`${file}.lock`));
    });

    it('refuses to add a second key for a known host', async () => {
      const file = path.join(dir, 'known_hosts');
      await addKnownHost(file, 'h.example', blob('ed25519'));
      await assert.rejects(addKnownHost(file, 'h.example', blob('rsa')), /different key/);
    });
  });
});
