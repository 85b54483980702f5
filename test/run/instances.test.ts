import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandArgv, startInstance, stopInstances } from '../../src/run/instances.js';
import type { InstanceRecord } from '../../src/run/manifest.js';
import type { InstanceConf } from '../../src/model/recipe-types.js';
import type { ServerSession } from '../../src/run/servers.js';

// Command lines as data: [upcmds, argv the daemon gets].
const CASES: [string, string[]][] = [
  ['exec sleep 3600', ['sleep', '3600']],
  ['  sleep 3600\n', ['sleep', '3600']],
  ['/usr/sbin/charon-systemd --debug-ike=2', ['/usr/sbin/charon-systemd', '--debug-ike=2']],
  ['ipsec start', ['ipsec', 'start']],
  ['sleep 3600; echo done', ['sh', '-c', 'sleep 3600; echo done']],
  ['exec sleep $TIME', ['sh', '-c', 'exec sleep $TIME']],
  ["echo 'a b'", ['sh', '-c', "echo 'a b'"]],
  ['ls *.conf', ['sh', '-c', 'ls *.conf']],
  ['cat ~/x', ['sh', '-c', 'cat ~/x']],
  ['charon > log 2>&1', ['sh', '-c', 'charon > log 2>&1']],
  ['FOO=1 charon', ['sh', '-c', 'FOO=1 charon']],
  ['cd /tmp', ['sh', '-c', 'cd /tmp']],
  [': nothing', ['sh', '-c', ': nothing']],
  ['a\nb', ['sh', '-c', 'a\nb']],
  ['exec', ['sh', '-c', 'exec']],
];

describe('run/instances: commandArgv', () => {
  for (const [cmd, argv] of CASES) {
    it(`${JSON.stringify(cmd)} → ${JSON.stringify(argv)}`, () => assert.deepEqual(commandArgv(cmd), argv));
  }
});

describe('run/instances: other.setupcmds run once per namespace', () => {
  // The server is this machine with an `ip` that runs `ip netns exec NS CMD…` as CMD (no namespace needed).
  let dir: string;
  let s: ServerSession;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-setupcmds-'));
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'ip'), '#!/bin/sh\n[ "$1 $2" = "netns exec" ] || exit 9\nshift 3\nexec "$@"\n', { mode: 0o755 });
    s = {
      conf: { name: 'srv1' },
      daemon: { request: async () => ({ pid: 1 }) },
      transport: {
        server: 'srv1',
        exec: async (cmd: string, opts: { onStdout?: (text: string) => void } = {}) => {
          const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
          if (r.stdout) opts.onStdout?.(r.stdout);
          return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
        },
      },
    } as unknown as ServerSession;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const conf = { id: 1, name: 'a', server: 'srv1', kind: 'other', other: { setupcmds: 'echo ran >> "$MYIKEV2_RUN_DIR/count"', upcmds: 'sleep 1', destroycmds: '', dataif: '', dataifaddr: '' } } as unknown as InstanceConf;
  const record = () => ({ name: 'a', server: 'srv1', netns: 'm1234-a', runDir: join(dir, 'run'), daemonName: 'm1234-a', logdir: join(dir, 'log'), dataIf: null }) as unknown as InstanceRecord;
  const count = () => readFileSync(join(dir, 'run', 'count'), 'utf8').split('\n').filter(Boolean).length;

  it('an instance started again in its namespace (it crashed, or was stopped) does not run them a second time', async () => {
    await startInstance(s, 'm1234', conf, record(), true);
    await startInstance(s, 'm1234', conf, record(), false);
    assert.equal(count(), 1, 'ip addr add … or a second config written over the first would fail or differ');
  });

  it('they run again when they did not succeed there before, and always in a new namespace', async () => {
    const failing = { ...conf, other: { ...conf.other!, setupcmds: 'echo ran >> "$MYIKEV2_RUN_DIR/count"; false' } } as InstanceConf;
    await assert.rejects(startInstance(s, 'm1234', failing, record(), true), /setupcmds of instance a failed/);
    await startInstance(s, 'm1234', conf, record(), false);
    assert.equal(count(), 2);
    await startInstance(s, 'm1234', conf, record(), true);
    assert.equal(count(), 3);
  });

  const log = () => join(dir, 'log', 'm1234-a.log');

  it("their output, both streams in order, goes to the controller and to the instance's log, ahead of its program's", async () => {
    const shown: string[] = [];
    const loud = { ...conf, other: { ...conf.other!, setupcmds: 'echo one; echo two >&2; echo three' } } as InstanceConf;
    await startInstance(s, 'm1234', loud, record(), true, (text) => shown.push(text));
    assert.equal(readFileSync(log(), 'utf8'), 'one\ntwo\nthree\n');
    assert.equal(shown.join(''), 'one\ntwo\nthree\n');
    assert.equal(statSync(log()).mode & 0o007, 0, 'not readable by others, as the daemon makes it');
    // Started again in a namespace where they succeeded: nothing runs, nothing is added.
    await startInstance(s, 'm1234', loud, record(), false);
    assert.equal(readFileSync(log(), 'utf8'), 'one\ntwo\nthree\n');
  });

  it('a failure keeps its exit status and output, in the error and in the log', async () => {
    const failing = { ...conf, other: { ...conf.other!, setupcmds: 'echo before; exit 3' } } as InstanceConf;
    await assert.rejects(startInstance(s, 'm1234', failing, record(), true), (e: Error) => {
      assert.match(e.message, /setupcmds of instance a failed \(exit 3\):\nbefore/);
      return true;
    });
    assert.equal(readFileSync(log(), 'utf8'), 'before\n');
  });

  it('a process they leave running (with its output elsewhere) does not hold the start', async function () {
    this.timeout(20_000);
    const marker = `sleep 61.${process.pid}`;
    const bg = { ...conf, other: { ...conf.other!, setupcmds: `${marker} >/dev/null 2>&1 &` } } as InstanceConf;
    try {
      await startInstance(s, 'm1234', bg, record(), true);
    } finally {
      spawnSync('pkill', ['-f', `^${marker}$`]);
    }
  });
});

describe('run/instances: stopping other instances gracefully', () => {
  const record = { name: 'a', server: 'srv1', kind: 'other', netns: 'm1234-a', runDir: '/run/myikev2/runs/m1234/a', daemonName: 'm1234-a', dataIf: null, destroycmds: 'swanctl --terminate --ike qs' } as unknown as InstanceRecord;
  const session = (result: { code: number; stdout: string; stderr: string }) =>
    ({
      conf: { name: 'srv1' },
      daemon: { request: async (m: string) => (m === 'list' ? { instances: [] } : {}) },
      transport: { server: 'srv1', exec: async () => ({ signal: null, ...result }) },
    }) as unknown as ServerSession;

  it('a destroycmds that fails with any exit status is told, with the status and its output', async () => {
    const warnings: string[] = [];
    await stopInstances(session({ code: 1, stdout: '', stderr: 'connecting to unix:///run/charon.vici failed' }), 'm1234', [record], false, (w) => warnings.push(w));
    assert.deepEqual(warnings, ['srv1: destroycmds of a failed (exit 1): connecting to unix:///run/charon.vici failed']);
  });

  it('one that succeeds is not', async () => {
    const warnings: string[] = [];
    await stopInstances(session({ code: 0, stdout: 'terminated', stderr: '' }), 'm1234', [record], false, (w) => warnings.push(w));
    assert.deepEqual(warnings, []);
  });
});
