import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/daemon/atomic-file.js';
import { acquireLock } from '../../src/daemon/lock.js';
import { LogFollower, rotateIfOver, tailLines } from '../../src/daemon/logs.js';
import { ManifestStore, manifestKeysIn, manifestsFile } from '../../src/daemon/manifests.js';
import { isSameLiveProcess, readProcStat } from '../../src/daemon/proc.js';
import { removeDir, tempDir } from './harness.js';

describe('daemon parts', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('myikev2-daemon-unit')));
  afterEach(() => removeDir(dir));

  it('reads state and start time from /proc/PID/stat', () => {
    const me = readProcStat(process.pid)!;
    assert.ok(['R', 'S'].includes(me.state));
    assert.ok(me.startTime > 0);
    assert.equal(isSameLiveProcess(process.pid, me.startTime), true);
    assert.equal(isSameLiveProcess(process.pid, me.startTime + 1), false, 'a reused pid is another process');
    const done = spawnSync('true');
    assert.equal(readProcStat(done.pid!), null);
  });

  it('one lock per state dir: a live holder refuses (exit 2, names its pid); a dead one is taken over', () => {
    const lock = join(dir, 'daemon.lock');
    const release = acquireLock(lock, '/x.sock');
    assert.throws(
      () => acquireLock(lock, '/y.sock'),
      (e: any) => e.code === 'E_DAEMON_RUNNING' && e.exitCode === 2 && e.message.includes(`pid ${process.pid}`),
    );
    release();
    assert.equal(existsSync(lock), false);
    // A lock left by a process that is gone (pid of a finished child).
    const gone = spawnSync('true').pid!;
    writeFileSync(lock, JSON.stringify({ pid: gone, procStartTime: 1, socket: '/z', startedAt: '' }));
    const release2 = acquireLock(lock, '/x.sock');
    assert.equal(JSON.parse(readFileSync(lock, 'utf8')).pid, process.pid);
    release2();
    assert.deepEqual(readdirSync(dir), [], 'no temp or breaker files left');
  });

  it('tails the last lines and follows appended data across a rotation', () => {
    const f = join(dir, 'x.log');
    assert.deepEqual(tailLines(f, 3), [], 'missing file: no lines');
    writeFileSync(f, Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n') + '\n');
    assert.deepEqual(tailLines(f, 3), ['line 19997', 'line 19998', 'line 19999']);
    assert.deepEqual(tailLines(f, 0), []);
    const follower = new LogFollower(f);
    assert.equal(follower.poll(), '');
    appendFileSync(f, 'new\n');
    assert.equal(follower.poll(), 'new\n');
    assert.equal(rotateIfOver(f, 1000), true);
    assert.equal(readFileSync(f, 'utf8'), '');
    assert.match(readFileSync(f + '.prev', 'utf8'), /line 19999\nnew\n$/);
    assert.equal(rotateIfOver(f, 1000), false);
    appendFileSync(f, 'after\n');
    assert.equal(follower.poll(), 'after\n', 'restarts at 0 after a truncation');
  });

  it('writes files atomically and leaves no temp file', () => {
    const f = join(dir, 'state.json');
    writeFileAtomic(f, '{"a":1}\n');
    writeFileAtomic(f, '{"a":2}\n');
    assert.equal(readFileSync(f, 'utf8'), '{"a":2}\n');
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  it('sets an unparsable state file aside instead of failing or losing it', () => {
    const f = join(dir, 'manifests.json');
    writeFileSync(f, '{"entries": {"a": 1');
    const logged: string[] = [];
    const m = new ManifestStore(dir, (l) => logged.push(l));
    assert.deepEqual(m.keys(), []);
    assert.match(logged[0], /does not parse/);
    const aside = readdirSync(dir).filter((n) => n.startsWith('manifests.json.corrupt-'));
    assert.equal(aside.length, 1);
    assert.equal(readFileSync(join(dir, aside[0]), 'utf8'), '{"entries": {"a": 1');
  });

  it('stores manifests under any key, __proto__ included, and reloads them', () => {
    const m = new ManifestStore(dir);
    m.put('__proto__', { x: 1 });
    m.put('run/a', [1]);
    assert.deepEqual(new ManifestStore(dir).keys(), ['__proto__', 'run/a']);
    assert.deepEqual(new ManifestStore(dir).get('__proto__'), { x: 1 });
    assert.equal(m.delete('run/a'), true);
    assert.deepEqual(new ManifestStore(dir).keys('run/'), []);
  });

  it('a controller reads the keys from the file the store writes (while no daemon runs); another format is unknown, not empty', () => {
    const m = new ManifestStore(dir);
    m.put('run:abcde', { tag: 'abcde' });
    m.put('run:fghij', {});
    assert.deepEqual(manifestKeysIn(readFileSync(manifestsFile(dir), 'utf8')), ['run:abcde', 'run:fghij']);
    assert.equal(manifestKeysIn('{"version": 2, "entries": {}}'), null);
    assert.equal(manifestKeysIn('{"entries": {"run:abcde": 1}'), null);
  });
});
