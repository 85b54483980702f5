import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { MyikeError } from '../../../src/errors.js';
import { assertFastPathUsable, probeKernelEsp } from '../../../src/engine/fastpath/kernel-esp.js';
import { ipBatchRunner } from '../../../src/engine/fastpath/fast-path.js';
import { policyLines, stateLines } from '../../../src/engine/fastpath/xfrm-script.js';
import { keyPair, v4ts } from '../esp/fixtures.js';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';

const netnsList = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

describe('fast path against the real kernel @integration', () => {
  const ns = `myikev2-fp-${process.pid}-${randomBytes(2).toString('hex')}`;
  let probe: Awaited<ReturnType<typeof probeKernelEsp>>;

  before(async () => {
    probe = await probeKernelEsp({ xfrmInterface: true });
    execFileSync('ip', ['netns', 'add', ns]);
  });
  after(() => {
    try {
      execFileSync('ip', ['netns', 'delete', ns]);
    } catch {
      /* already gone */
    }
    assert.doesNotMatch(netnsList(), new RegExp(ns));
  });

  it('the probe leaves no namespace behind', () => {
    assert.doesNotMatch(netnsList(), /myikev2-espchk-/);
  });

  it('a kernel without ESP gets the clear start-up error (these machines); one with ESP passes', async () => {
    if (probe.esp) {
      await assertFastPathUsable();
      return;
    }
    await assert.rejects(assertFastPathUsable(), (e: unknown) => {
      assert.ok(e instanceof MyikeError);
      assert.equal(e.code, 'E_NO_KERNEL_ESP');
      assert.match(e.message, /installfastpath: true, but this kernel cannot install ESP SAs/);
      assert.match(e.hint ?? '', /installfastpath: false/);
      return true;
    });
  });

  it('myikev2 exec with installfastpath: true says at start whether the kernel can do it (here: it cannot, exit 1)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'myikev2-fp-'));
    try {
      const file = join(dir, 'gw.yaml');
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      execFileSync('ip', ['-n', ns, 'address', 'add', '172.30.9.1/24', 'dev', 'lo']);
      const setup = { role: 'gateway', bindifname: 'lo', bindifaddr: '172.30.9.1/24', ikeconf: { psk: 'fast-path-test', installfastpath: true } };
      writeFileSync(file, stringify(setup));
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, resolve('dist/src/cli/main.js'), 'exec', '-f', file, '--run-dir', join(dir, 'run'), '--no-tcp'], { encoding: 'utf8', timeout: 30_000 });
      const out = r.stdout + r.stderr;
      if (probe.esp) {
        assert.doesNotMatch(out, /cannot install ESP SAs/);
      } else {
        assert.equal(r.status, 1, out);
        assert.match(out, /installfastpath: true, but this kernel cannot install ESP SAs/);
        assert.match(out, /hint: set ikeconf\.installfastpath: false/);
      }
      assert.equal(existsSync(join(dir, 'run')), false, 'the engine removed its run directory');
      assert.doesNotMatch(netnsList(), /myikev2-espchk-/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generated policies install and delete in a real namespace; nothing left', async () => {
    const [k] = keyPair({ tunnelId: 4, gatewayTs: [v4ts('10.2.0.0', '10.2.0.255'), v4ts('10.9.0.1', '10.9.0.6')] });
    const run = ipBatchRunner(ns);
    await run(policyLines(k, { mark: true }, 'add').join('\n') + '\n');
    const installed = execFileSync('ip', ['-n', ns, 'xfrm', 'policy', 'list'], { encoding: 'utf8' });
    assert.equal((installed.match(/^src /gm) ?? []).length, 15); // 5 remote prefixes x out/in/fwd
    assert.match(installed, /src 10\.1\.0\.4\/32 dst 10\.9\.0\.2\/31/);
    assert.match(installed, /mark 0x4\/0xffffffff/);
    await run(policyLines(k, { mark: true }, 'delete').join('\n') + '\n');
    assert.equal(execFileSync('ip', ['-n', ns, 'xfrm', 'policy', 'list'], { encoding: 'utf8' }).trim(), '');
  });

  it('policies go in with update: the same ones again, then another tunnel\'s with equal selectors (no mark), never fail with "File exists"', async () => {
    const [k] = keyPair({ tunnelId: 4 });
    const [again] = keyPair({ tunnelId: 9, childId: 'again' }); // a client back without INITIAL_CONTACT: new number, same selectors
    again.localTs = k.localTs;
    const run = ipBatchRunner(ns);
    const list = () => execFileSync('ip', ['-n', ns, 'xfrm', 'policy', 'list'], { encoding: 'utf8' });
    await run(policyLines(k, {}, 'add').join('\n') + '\n');
    await run(policyLines(k, {}, 'add').join('\n') + '\n');
    await run(policyLines(again, {}, 'add').join('\n') + '\n');
    assert.equal((list().match(/^src /gm) ?? []).length, 3);
    assert.equal((list().match(/reqid 9 /g) ?? []).length, 3, 'the newest tunnel\'s template');
    assert.deepEqual(policyLines(again, {}, 'delete'), policyLines(k, {}, 'delete'), 'one policy in the kernel: one identity');
    await run(policyLines(again, {}, 'delete').join('\n') + '\n');
    assert.equal(list().trim(), '');
  });

  it('generated states are accepted by ip (the kernel alone decides)', async () => {
    for (const suite of [{ encr: { name: 'aes-gcm16' as const, keyBits: 128 as const } }, { encr: { name: 'aes-cbc' as const, keyBits: 256 as const }, integ: 'sha512-256' as const }]) {
      const [k] = keyPair({ tunnelId: 5, ...suite });
      const lines = stateLines(k, { mark: true, outputMark: 1 }, 'add');
      const outcome = await ipBatchRunner(ns)(lines.join('\n') + '\n').then(
        () => 'ok',
        (e: Error) => e.message,
      );
      if (probe.esp) {
        assert.equal(outcome, 'ok');
        await ipBatchRunner(ns)(stateLines(k, { mark: true }, 'delete').join('\n') + '\n');
      } else {
        // A syntax error would be reported by ip before the kernel is asked; here only the kernel refuses.
        assert.doesNotMatch(outcome, /argument|Usage|wrong|unknown/i, outcome);
        // The kernel's own refusal (netlink extack): no ESP type / no AEAD algorithm.
        assert.match(outcome, /Error: Requested (type|AEAD algorithm) not found/);
      }
      assert.equal(execFileSync('ip', ['-n', ns, 'xfrm', 'state', 'list'], { encoding: 'utf8' }).trim(), '');
    }
  });
});
