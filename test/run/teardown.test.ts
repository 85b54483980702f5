// The teardown script's output: the logs section (a base64 .tar.gz) comes
// first and is taken off before the removal and verification lines are read.
// Waiting for the daemon to exit: a zombie has.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LOGS_MARKER } from '../../src/run/render.js';
import { awaitExitScript, pruneBundlesScript, splitLogs } from '../../src/run/teardown.js';

describe('teardown: the logs in the script output', () => {
  const tgz = gzipSync(Buffer.from('log bytes'));
  const cases: { title: string; out: string; logs: Buffer | null; rest: string }[] = [
    { title: 'logs, then removal and verification lines', out: `${LOGS_MARKER}\n${tgz.toString('base64')}\nleft: x\n@@v@@\nnetns y\n`, logs: tgz, rest: 'left: x\n@@v@@\nnetns y\n' },
    { title: 'no logs section: the output as it is', out: 'left: x\n@@v@@\n', logs: null, rest: 'left: x\n@@v@@\n' },
    { title: 'an empty archive counts as no logs', out: `${LOGS_MARKER}\n\n@@v@@\n`, logs: null, rest: '@@v@@\n' },
    { title: 'output that ends with the archive', out: `${LOGS_MARKER}\n${tgz.toString('base64')}`, logs: tgz, rest: '' },
  ];
  for (const c of cases)
    it(c.title, () => {
      const r = splitLogs(c.out);
      assert.deepEqual(r.logs, c.logs);
      assert.equal(r.rest, c.rest);
    });
});

describe('teardown: waiting for a process (the daemon) to exit', function () {
  this.timeout(30_000);
  const state = (pid: number) => spawnSync('sh', ['-c', `cut -d')' -f2- /proc/${pid}/stat 2>/dev/null | cut -d' ' -f2`], { encoding: 'utf8' }).stdout.trim();

  it('a process that exited but is not reaped yet (a zombie) has exited: no wait, nothing reported', async () => {
    // `sleep 60` does not reap the child it inherits from the shell it replaces.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
      const zombie = Number(line.toString().trim());
      for (let i = 0; i < 100 && state(zombie) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(state(zombie), 'Z');
      const r = spawnSync('sh', ['-s'], { input: awaitExitScript(zombie, 'the daemon'), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(state(zombie), 'Z', 'still unreaped: the script did not wait for its reaper');
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('a process still running after 5 s is reported', async () => {
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const r = spawnSync('sh', ['-s'], { input: awaitExitScript(live.pid!, 'the daemon'), encoding: 'utf8' });
      assert.equal(r.stdout, `process ${live.pid} (the daemon) still running 5 s after its shutdown\n`);
    } finally {
      live.kill('SIGKILL');
    }
  });
});

// Every build pushes its bundle (0.8 MB) into a directory of its own on each
// server, and nothing ever removed one: a server kept one per upgrade, a
// developer's machine one per build (23 in five hours on the one this was found on).
describe('teardown: bundles of other builds', () => {
  let base: string;
  beforeEach(() => (base = mkdtempSync(join(tmpdir(), 'myikev2-bundles-'))));
  afterEach(() => rmSync(base, { recursive: true, force: true }));
  const dir = (name: string, age: string) => {
    mkdirSync(join(base, name, 'x'), { recursive: true });
    spawnSync('touch', ['-d', age, join(base, name)]);
    return join(base, name);
  };

  it('removes those no process runs from and no controller used for a day, not this controller\'s', async () => {
    const ours = dir('0000000000000001', '3 days ago');
    dir('0000000000000002', '3 days ago'); // stale
    const running = dir('0000000000000003', '3 days ago'); // an engine of that build still runs
    dir('0000000000000004', '2 hours ago'); // pushed or found by a controller today
    dir('notabundle', '3 days ago'); // not a bundle directory: not ours to remove
    const engine = spawn('sh', ['-c', 'sleep 30', `${running}/myikev2-server.mjs`], { stdio: 'ignore' });
    try {
      const r = spawnSync('sh', ['-s'], { input: pruneBundlesScript(ours), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.deepEqual(readdirSync(base).sort(), ['0000000000000001', '0000000000000003', '0000000000000004', 'notabundle']);
      assert.ok(existsSync(join(ours, 'x')));
    } finally {
      engine.kill('SIGKILL');
    }
  });
});
