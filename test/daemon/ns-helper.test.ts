// The namespace helpers (perl, python3) the daemon spawns instances through:
// each start is answered with the pid and its start time, read before the
// helper reaps the process, so a leader that ends at once (a daemonising
// upcmds) still names its session (pid + start time) for the supervisor.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NsHelper, PERL_HELPER } from '../../src/daemon/ns-helper.js';
import { PYTHON_SPAWNER } from '../../src/daemon/ns-spawner.js';

/** Clock ticks since boot now (USER_HZ 100), as /proc/PID/stat's start time counts. */
const ticksNow = () => Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100);

describe('daemon: namespace helpers', function () {
  this.timeout(30_000);
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-nshelper-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const program of [PERL_HELPER, PYTHON_SPAWNER]) {
    it(`${program.label}: tells the start time of a process that ended and was reaped before the answer was read`, async () => {
      const helper = new NsHelper(program, () => {}, () => {});
      try {
        assert.ok(await helper.available(), `${program.label} runs here`);
        const before = ticksNow();
        const ended = new Promise<{ code: number | null }>((resolve) => {
          // Not read until the helper has answered and reported the exit: /proc has nothing of it by then.
          void helper.spawn({ netns: null, cwd: dir, stdoutPath: join(dir, 'out'), stderrPath: join(dir, 'out'), env: { PATH: '/usr/bin:/bin' }, argv: ['true'] }, resolve).then((r) => (started = r));
        });
        let started: { pid: number; startTime: number | null } | undefined;
        assert.equal((await ended).code, 0);
        assert.ok(started, 'answered before the exit was reported');
        const { pid, startTime } = started;
        assert.ok(pid > 0);
        let gone = false;
        try {
          readFileSync(`/proc/${pid}/stat`);
        } catch {
          gone = true;
        }
        assert.ok(gone, 'reaped: /proc no longer has it');
        assert.equal(typeof startTime, 'number', 'the start time came with the answer');
        assert.ok(startTime! >= before - 1 && startTime! <= ticksNow() + 1, `start time ${startTime} is this spawn's (${before}..${ticksNow()})`);
      } finally {
        helper.close();
      }
    });
  }
});
