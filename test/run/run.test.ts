import assert from 'node:assert/strict';
import { MyikeError } from '../../src/errors.js';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureNamespaces, dataIfsTaken, enginesOfOtherBuilds, listNames, mgmtAddrsTaken, pushSetupFiles } from '../../src/run/run.js';
import type { RunManifest } from '../../src/run/manifest.js';
import type { PlannedInstance, RunPlan } from '../../src/run/plan.js';
import type { InstanceInfo } from '../../src/daemon/protocol.js';
import type { ServerSession } from '../../src/run/servers.js';

// The code above the daemon: which way the namespaces get configured. The
// daemon's side is tested for real in test/daemon (both helper and ip paths).
function fakeSession(features: string[], request: (m: string, p: unknown) => Promise<unknown>) {
  const calls: { exec: { cmd: string; stdin?: string }[]; requests: { method: string; params: unknown }[] } = { exec: [], requests: [] };
  const s = {
    conf: { name: 'srv9' },
    daemon: {
      server: { features },
      request: (method: string, params: unknown) => {
        calls.requests.push({ method, params });
        return request(method, params);
      },
    },
    transport: {
      exec: async (cmd: string, opts?: { stdin?: string }) => {
        calls.exec.push({ cmd, stdin: opts?.stdin });
        return { code: 0, signal: null, stdout: '', stderr: '' };
      },
    },
  } as unknown as ServerSession;
  return { s, calls };
}

const batches = [{ netns: 'm1234-a', commands: 'link set lo up\n' }];

describe('run: configuring namespaces', () => {
  it('asks a daemon that has netns.configure, in one request', async () => {
    const { s, calls } = fakeSession(['hello', 'netns.configure'], async () => ({ configured: 1, via: 'helper' }));
    await configureNamespaces(s, 'm1234', batches);
    assert.deepEqual(calls.requests, [{ method: 'netns.configure', params: { batches } }]);
    assert.equal(calls.exec.length, 0);
  });

  it('runs the same batches as a script (one ip -n each) with an older daemon', async () => {
    const { s, calls } = fakeSession(['hello', 'spawn'], async () => assert.fail('no request expected'));
    await configureNamespaces(s, 'm1234', batches);
    assert.equal(calls.exec.length, 1);
    assert.match(calls.exec[0].stdin!, /ip -n m1234-a -batch - <<'MYIKEV2_BATCH' &\nlink set lo up\nMYIKEV2_BATCH/);
  });

  it('names the server and step when the daemon reports a namespace it could not configure', async () => {
    const { s } = fakeSession(['netns.configure'], async () => {
      throw new Error('1 of 1 namespace(s) not configured: m1234-a: line 1 (link set lo up): Operation not permitted');
    });
    await assert.rejects(configureNamespaces(s, 'm1234', batches), (e: MyikeError) => {
      assert.equal(e.code, 'E_PLUMB');
      assert.match(e.message, /m1234-a: line 1 .*Operation not permitted/);
      assert.match(e.describe(), /srv9/);
      return true;
    });
  });
});

describe('run: pushing setup files', () => {
  it('pushes them readable by the owner only, whatever the mode of the original (they hold the PSK)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'myikev2-push-test-'));
    try {
      const setupPath = join(dir, 'client.yaml');
      writeFileSync(setupPath, 'ikeconf:\n  psk: secret\n', { mode: 0o644 });
      const modes: number[] = [];
      const s = {
        transport: {
          push: async (local: string, remote: string) => {
            assert.equal(remote, '/run/myikev2/runs/m1234');
            modes.push(statSync(join(local, 'client', 'setup.yaml')).mode & 0o777);
          },
        },
      } as unknown as ServerSession;
      await pushSetupFiles(s, 'm1234', [{ conf: { name: 'client', kind: 'myikev2', myikev2: { setupPath } } } as unknown as PlannedInstance]);
      assert.deepEqual(modes, [0o600]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('run: progress titles', () => {
  it('names a few instances of a wave, then counts the rest', () => {
    assert.equal(listNames(['a', 'b']), 'a, b');
    assert.equal(listNames(Array.from({ length: 6 }, (_, i) => `i${i + 1}`)), 'i1, i2, i3, i4, i5, i6');
    assert.equal(listNames(Array.from({ length: 300 }, (_, i) => `i${i + 1}`)), 'i1, i2, i3, i4, i5 and 295 more (300 instances)');
  });
});

// After an upgrade, a converging run keeps what is up and unchanged, engines
// included, which go on running the engine of the build that started them:
// the user was not told, and took results for this build's engine.
describe('run: engines of another build', () => {
  const ours = '/var/lib/myikev2/bundles/1111111111111111/myikev2-server.mjs';
  const older = '/var/lib/myikev2/bundles/2222222222222222/myikev2-server.mjs';
  const rec = (name: string, kind: 'myikev2' | 'other') => ({ name, kind, daemonName: `m1234-${name}` });
  const inst = (name: string, argv: string[]) => ({ name: `m1234-${name}`, argv }) as InstanceInfo;
  const plan = {
    servers: [
      { server: 'srv1', keep: [rec('gw', 'myikev2'), rec('cl', 'myikev2'), rec('sl', 'other')] },
      { server: 'srv2', keep: [rec('gw2', 'myikev2')] },
    ],
  } as unknown as RunPlan;

  it('names the kept engine instances whose command runs another bundle than this build', () => {
    const running = {
      srv1: [inst('gw', ['node', '--max-semi-space-size=1', older, 'exec', '-f', 'x']), inst('cl', ['node', ours, 'exec']), inst('sl', ['sleep', '60'])],
      srv2: [inst('gw2', ['node', older, 'exec'])],
    };
    assert.deepEqual(enginesOfOtherBuilds(plan, running, () => ours), ['gw', 'gw2']);
    assert.deepEqual(enginesOfOtherBuilds(plan, running, () => older), ['cl']);
  });
});

describe('run: a data interface another run has', () => {
  const other = {
    name: 'other-run',
    tag: 'mabcd',
    instances: [{ name: 'c', server: 'srv2', netns: 'mabcd-c', dataIf: 'data0' }, { name: 'd', server: 'srv1', netns: 'mabcd-d', dataIf: 'data1' }],
  } as unknown as RunManifest;

  it('names the run, its instance and namespace that have it on that server', () => {
    assert.deepEqual(dataIfsTaken([{ name: 'f', dataIf: 'data0' }, { name: 'g', dataIf: 'data1' }], 'srv2', [other]).map((t) => t.line), [
      'data interface data0 of instance f is taken on server srv2: run "other-run" (tag mabcd) has it in namespace mabcd-c (its instance c)',
    ]);
  });

  it('an interface of the same name on another server is not taken', () => {
    assert.deepEqual(dataIfsTaken([{ name: 'f', dataIf: 'data0' }], 'srv1', [other]), []);
  });
});

describe('run: a management address another run has', () => {
  const other = {
    name: 'other-run',
    tag: 'mabcd',
    instances: [{ name: 'c', server: 'srv2', mgmtAddr: '2001:db8:1:0:0:0:1:3' }, { name: 'd', server: 'srv1', mgmtAddr: '2001:db8:1::1:3' }],
  } as unknown as RunManifest;

  it('names the run and its instance that have the address on that server (addresses compared in any spelling)', () => {
    assert.deepEqual(mgmtAddrsTaken([{ name: 'f', server: 'srv2', mgmtAddr: '2001:db8:1::1:3' }, { name: 'g', server: 'srv2', mgmtAddr: '2001:db8:1::1:4' }], 'srv2', [other]), [
      { run: 'other-run', line: 'run "other-run" (tag mabcd) has 2001:db8:1::1:3 on srv2, for its instance c (this recipe\'s instance f would get it)' },
    ]);
    assert.deepEqual(mgmtAddrsTaken([{ name: 'f', server: 'srv3', mgmtAddr: '2001:db8:1::1:3' }], 'srv3', [other]), [], 'another server');
  });
});
