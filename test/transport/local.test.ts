import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MyikeError } from '../../src/errors.js';
import { connectServer } from '../../src/transport/connect.js';
import { LocalTransport } from '../../src/transport/local.js';
import { execChecked, shq } from '../../src/transport/transport.js';

describe('LocalTransport', () => {
  const t = new LocalTransport();
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'myikev2-local-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('is what connectServer gives for connection: local', async () => {
    const x = await connectServer({ name: 'local', connection: 'local' } as never);
    assert.ok(x instanceof LocalTransport);
    assert.equal(x.server, 'local');
  });

  it('runs sh -c with stdin, exit codes, signals and streamed output', async () => {
    const chunks: string[] = [];
    const r = await t.exec('cat; echo e >&2; exit 4', { stdin: 'in\n', onStdout: (s) => chunks.push(s) });
    assert.deepEqual(r, { code: 4, stdout: 'in\n', stderr: 'e\n' });
    assert.equal(chunks.join(''), 'in\n');
    const k = await t.exec('kill -TERM $$');
    assert.equal(k.code, null);
    assert.equal(k.signal, 'SIGTERM');
    const many = await Promise.all(Array.from({ length: 15 }, (_, i) => t.exec(`echo ${i}`)));
    assert.deepEqual(many.map((m) => m.stdout), Array.from({ length: 15 }, (_, i) => `${i}\n`));
  });

  it('kills a command (and its children) at its timeout', async () => {
    const pidFile = path.join(tmp, 'child.pid');
    await assert.rejects(t.exec(`sleep 30 & echo $! > ${pidFile}; wait`, { timeoutMs: 200 }), (e: MyikeError) => e.code === 'E_EXEC_TIMEOUT');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
    assert.ok(!stat || / Z /.test(stat), 'background child killed with the group');
  });

  it('execChecked names server, step and stderr on failure', async () => {
    await assert.rejects(execChecked(t, 'echo nope >&2; exit 3', 'my step'), (e: MyikeError) =>
      e.code === 'E_EXEC' && e.server === 'local' && e.step === 'my step' && /exited with 3/.test(e.message) && /nope/.test(e.message));
  });

  it('pushes a tree, merging into an existing directory, keeping modes, no temp files', async () => {
    const src = path.join(tmp, 'src');
    mkdirSync(path.join(src, 'd'), { recursive: true });
    writeFileSync(path.join(src, 'a.txt'), 'A');
    writeFileSync(path.join(src, 'd', 'x.sh'), 'X', { mode: 0o750 });
    const dst = path.join(tmp, 'dst');
    mkdirSync(dst);
    writeFileSync(path.join(dst, 'keep'), 'K');
    writeFileSync(path.join(dst, 'a.txt'), 'old');
    await t.push(src, dst);
    assert.deepEqual(readdirSync(dst).sort(), ['a.txt', 'd', 'keep']);
    assert.equal(readFileSync(path.join(dst, 'a.txt'), 'utf8'), 'A');
    assert.equal(statSync(path.join(dst, 'd', 'x.sh')).mode & 0o777, 0o750);
    assert.deepEqual(readdirSync(path.join(dst, 'd')), ['x.sh']);
    await assert.rejects(t.push(path.join(tmp, 'missing'), dst), (e: MyikeError) => e.code === 'E_PUSH');
  });

  it('opens a Unix socket stream, and says which socket when nothing listens', async () => {
    const sock = path.join(tmp, 's.sock');
    const srv = net.createServer((c) => c.end('hi')).listen(sock);
    await new Promise((r) => srv.once('listening', r));
    try {
      const s = await t.openUnixStream(sock);
      const got = await new Promise<string>((r) => {
        let b = '';
        s.on('data', (d) => (b += d)).on('end', () => r(b));
      });
      assert.equal(got, 'hi');
    } finally {
      srv.close();
    }
    await assert.rejects(t.openUnixStream(path.join(tmp, 'none.sock')), (e: MyikeError) => e.code === 'E_UNIX_SOCKET' && e.message.includes('none.sock'));
  });

  it('shq quotes for sh', async () => {
    for (const w of ['plain', 'with space', "it's", '$HOME', '`x`', '', 'a\nb']) {
      assert.equal((await t.exec(`printf %s ${shq(w)}`)).stdout, w);
    }
  });
});
