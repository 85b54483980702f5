// The SSH transport against real OpenSSH sshd processes (test/transport/support/sshd.ts).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MyikeError } from '../../src/errors.js';
import { daemonFile, loadBundle, pushBundle, remoteBundlePath, remoteDaemonPath } from '../../src/transport/bundle.js';
import { ConnectionPool, connectServer } from '../../src/transport/connect.js';
import { fingerprint, knownHostName, parseKnownHosts } from '../../src/transport/known-hosts.js';
import { preflight } from '../../src/transport/preflight.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { shq } from '../../src/transport/transport.js';
import { randomTag, startTestSshd, type TestSshd } from './support/sshd.js';

const PASSWORD = `pw-${randomTag()}-Secret`;

async function rejectsWith(p: Promise<unknown>, code: string): Promise<MyikeError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof MyikeError, `expected MyikeError, got ${e}`);
    assert.equal(e.code, code, e.describe());
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

describe('SSH transport @integration', function () {
  this.timeout(60_000);
  const tag = randomTag();
  let srv: TestSshd;
  let t: SshTransport;
  let tmp: string;
  const logLines: string[] = [];
  const log = (l: string) => logLines.push(l);

  before(async () => {
    srv = await startTestSshd({ tag });
    tmp = mkdtempSync(path.join(os.tmpdir(), `myikev2-ssh-${tag}-`));
    t = new SshTransport(srv.conf({ hostkeycheck: 'accept-new' }), { log });
  });
  after(async () => {
    await t?.close();
    await srv?.stop();
    rmSync(tmp, { recursive: true, force: true });
    assert.ok(!existsSync(srv.dir) && !existsSync(tmp), 'test directories removed');
  });

  it('runs 40 commands at once on one connection without failures, at most 6 channels in flight', async () => {
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => t.exec(`sleep 0.0$((${i} % 5)); echo out${i}; echo err${i} >&2; exit ${i % 3}`)));
    rs.forEach((r, i) => assert.deepEqual(r, { code: i % 3, stdout: `out${i}\n`, stderr: `err${i}\n` }));
    assert.equal(t.connects, 1);
    assert.ok(t.channelStats.peak <= 6 && t.channelStats.peak >= 2, `peak ${t.channelStats.peak}`);
  });

  it('passes stdin, streams output, reports signals', async () => {
    const chunks: string[] = [];
    const r = await t.exec('cat; echo done >&2', { stdin: 'line1\nline2\n', onStdout: (s) => chunks.push(s) });
    assert.equal(r.stdout, 'line1\nline2\n');
    assert.equal(chunks.join(''), r.stdout);
    assert.equal(r.stderr, 'done\n');
    const k = await t.exec('kill -KILL $$');
    assert.equal(k.code, null);
    assert.equal(k.signal, 'SIGKILL');
  });

  it('stops a command and its children at its timeout, and the connection keeps working', async () => {
    const marker = `20.${process.pid}`;
    const e = await rejectsWith(t.exec(`sleep ${marker}1 & sleep ${marker}2; wait`, { timeoutMs: 300 }), 'E_EXEC_TIMEOUT');
    assert.equal(e.server, srv.name);
    assert.equal((await t.exec('echo still')).stdout, 'still\n');
    const left = await t.exec(`for i in $(seq 20); do pgrep -f "[s]leep ${marker}" >/dev/null || break; sleep 0.1; done; pgrep -af "[s]leep ${marker}"; true`);
    assert.equal(left.stdout, '', 'remote processes killed');
  });

  it('a connection that stops answering is detected by keepalive; the operation fails, the next reconnects', async () => {
    const x = new SshTransport(srv.conf({ hostkeycheck: 'off' }), { keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
    const session = (await x.exec('echo $PPID')).stdout.trim();
    assert.match((await t.exec(`cat /proc/${session}/cmdline`)).stdout, /@notty/);
    const inflight = x.exec('sleep 30');
    await new Promise((r) => setTimeout(r, 100));
    await t.exec(`kill -STOP ${session}`); // frozen: TCP stays up, nothing answers
    try {
      const started = Date.now();
      const e = await rejectsWith(inflight, 'E_SSH_LOST');
      assert.ok(Date.now() - started < 5000, 'detected within a few keepalive intervals');
      assert.equal(e.server, srv.name);
    } finally {
      await t.exec(`kill -9 ${session}`);
    }
    assert.equal((await x.exec('echo again')).stdout, 'again\n');
    assert.equal(x.connects, 2);
    await x.close();
  });

  it('pushes a directory tree (modes kept, no temp files left) and a single file', async () => {
    const src = path.join(tmp, 'src');
    mkdirSync(path.join(src, 'a', 'b'), { recursive: true });
    writeFileSync(path.join(src, 'top.txt'), 'top\n');
    writeFileSync(path.join(src, 'a', 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    writeFileSync(path.join(src, 'a', 'b', 'deep.bin'), Buffer.alloc(300_000, 7));
    const dst = path.join(tmp, 'dst');
    await t.push(src, dst);
    const r = await t.exec(`cd ${dst} && find . -type f | sort && ./a/run.sh && cmp a/b/deep.bin ${src}/a/b/deep.bin && echo same`);
    assert.equal(r.stdout, './a/b/deep.bin\n./a/run.sh\n./top.txt\nran\nsame\n');
    await t.push(path.join(src, 'top.txt'), path.join(tmp, 'single.txt'));
    assert.equal(readFileSync(path.join(tmp, 'single.txt'), 'utf8'), 'top\n');
    await rejectsWith(t.push(path.join(src, 'top.txt'), '/nonexistent-dir/x'), 'E_PUSH');
  });

  it('opens a stream to a Unix socket on the server', async () => {
    const sock = path.join(tmp, 'echo.sock');
    const js = `const s=require('net').createServer(c=>c.pipe(c)).listen(${JSON.stringify(sock)},()=>console.log(process.pid));setTimeout(()=>process.exit(0),15000)`;
    let up!: (pid: string) => void;
    const ready = new Promise<string>((r) => (up = r));
    const server = t.exec(`exec node -e ${shq(js)}`, { onStdout: (s) => up(s.trim()) });
    const pid = await ready;
    const stream = await t.openUnixStream(sock);
    const echoed = await new Promise<string>((resolve) => {
      let buf = '';
      stream.on('data', (d: Buffer) => {
        buf += d;
        if (buf.length >= 11) resolve(buf);
      });
      stream.write('hello world');
    });
    assert.equal(echoed, 'hello world');
    stream.destroy();
    await t.exec(`kill ${pid}`);
    await server;
    const e = await rejectsWith(t.openUnixStream(path.join(tmp, 'nothing.sock')), 'E_UNIX_SOCKET');
    assert.match(e.message, /nothing\.sock/);
  });

  it('pushes the same bundle once: second push skips, file untouched', async () => {
    const bundle = await loadBundle();
    const base = path.join(tmp, 'bundles');
    const first = await pushBundle(t, bundle, base);
    assert.equal(first.uploaded, true);
    assert.equal(first.remotePath, remoteBundlePath(bundle, base));
    assert.match(first.remotePath, new RegExp(`/${daemonFile(bundle).sha256.slice(0, 16)}/myikev2-server\\.mjs$`));
    const st1 = statSync(first.remotePath);
    const second = await pushBundle(t, bundle, base);
    assert.deepEqual(second, { uploaded: false, remotePath: first.remotePath });
    const st2 = statSync(first.remotePath);
    assert.equal(st2.ino, st1.ino);
    assert.equal(st2.mtimeMs, st1.mtimeMs);
    const sum = (await t.exec(`sha256sum ${first.remotePath}`)).stdout.split(' ')[0];
    assert.equal(sum, bundle.sha256);
    // The daemon's own file goes beside it, and it is what a daemon runs from.
    assert.ok(bundle.daemon, 'the build makes the daemon file');
    assert.equal(remoteDaemonPath(bundle, base), path.join(path.dirname(first.remotePath), 'myikev2-daemon.mjs'));
    assert.equal((await t.exec(`sha256sum ${remoteDaemonPath(bundle, base)}`)).stdout.split(' ')[0], bundle.daemon.sha256);
    assert.equal(daemonFile(bundle), bundle.daemon);
    // A push cut short before the daemon file is completed by the next one.
    await t.exec(`rm ${remoteDaemonPath(bundle, base)}`);
    assert.equal((await pushBundle(t, bundle, base)).uploaded, true);
    assert.equal((await t.exec(`sha256sum ${remoteDaemonPath(bundle, base)}`)).stdout.split(' ')[0], bundle.daemon.sha256);
    assert.deepEqual((await t.exec(`ls -a ${path.dirname(first.remotePath)}`)).stdout.split('\n').filter((l) => l.includes('tmp')), []);
  });

  it('preflight: node ≥ 20, ip, stream-local forwarding', async () => {
    const f = await preflight(t);
    assert.match(f.node, /^v\d+\./);
    assert.ok(Number(f.node.slice(1).split('.')[0]) >= 20);
    assert.match(f.ip, /\/ip$/);
    assert.equal(f.streamLocalForwarding, true);
    assert.deepEqual((await t.exec('ls /tmp | grep myikev2-preflight; true')).stdout, '');
  });

  it('a lost connection fails the operation in flight with a clear error; the next one reconnects', async () => {
    const before = t.connects;
    const inflight = t.exec('sleep 30');
    await new Promise((r) => setTimeout(r, 200));
    // Kill the sshd process that serves this connection ("sshd: root@notty"), not the listener.
    const killer = t.exec('grep -q "@notty" /proc/$PPID/cmdline && kill -9 $PPID').catch((e) => e);
    const e = await rejectsWith(inflight, 'E_SSH_LOST');
    assert.equal(e.server, srv.name);
    assert.match(e.describe(), new RegExp(`server ${srv.name}.*lost`));
    await killer;
    assert.equal((await t.exec('echo back')).stdout, 'back\n');
    assert.equal(t.connects, before + 1);
  });

  it('a closed transport refuses operations instead of connecting again (nothing is left open behind a close)', async () => {
    const own = new SshTransport(srv.conf());
    assert.equal((await own.exec('echo up')).stdout, 'up\n');
    await own.close();
    await rejectsWith(own.exec('echo again'), 'E_SSH_CLOSED');
    await rejectsWith(own.openUnixStream('/nonexistent.sock'), 'E_SSH_CLOSED');
    assert.equal(own.connects, 1);
  });

  it('no private key material in our log lines or the sshd log', async () => {
    const body = readFileSync(srv.clientKey, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
    assert.ok(body.length > 0 && logLines.length > 0);
    for (const text of [...logLines, readFileSync(srv.logFile, 'utf8')]) {
      for (const line of body) assert.ok(!text.includes(line), 'key material leaked');
    }
  });

  describe('host keys', () => {
    const fresh = (name: string, over = {}) => new SshTransport(srv.conf({ knownhosts: path.join(tmp, name), ...over }));

    it('strict refuses an unknown host, naming the server and its fingerprint', async () => {
      const e = await rejectsWith(fresh('kh-none').connect(), 'E_HOSTKEY_UNKNOWN');
      assert.equal(e.server, srv.name);
      assert.ok(Object.values(srv.hostKeys).some((k) => e.message.includes(k.fingerprint)), e.message);
      assert.ok(!existsSync(path.join(tmp, 'kh-none')));
    });

    it('a wrong key is refused under strict and accept-new, with both fingerprints', async () => {
      const wrong = path.join(tmp, 'wrongkey');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
      const wrongBlob = Buffer.from(readFileSync(`${wrong}.pub`, 'utf8').split(' ')[1], 'base64');
      const line = `${knownHostName('127.0.0.1', srv.port)} ssh-ed25519 ${wrongBlob.toString('base64')}\n`;
      writeFileSync(path.join(tmp, 'kh-wrong'), line);
      for (const policy of ['strict', 'accept-new'] as const) {
        const e = await rejectsWith(fresh('kh-wrong', { hostkeycheck: policy }).connect(), 'E_HOSTKEY_MISMATCH');
        assert.equal(e.server, srv.name);
        assert.ok(e.message.includes(srv.hostKeys.ed25519.fingerprint), e.message); // what the server showed
        assert.ok(e.message.includes(fingerprint(wrongBlob)), e.message); // what we expected
        assert.match(e.hint ?? '', /ssh-keygen -R/);
      }
      assert.equal(readFileSync(path.join(tmp, 'kh-wrong'), 'utf8'), line, 'known_hosts unchanged');
      const off = fresh('kh-wrong', { hostkeycheck: 'off' });
      assert.equal((await off.exec('echo off')).stdout, 'off\n');
      await off.close();
    });

    it('accept-new records the key once under 8 parallel first connections; strict then connects', async () => {
      const ts = Array.from({ length: 8 }, () => fresh('kh-new', { hostkeycheck: 'accept-new' }));
      await Promise.all(ts.map((x) => x.connect()));
      await Promise.all(ts.map((x) => x.close()));
      const entries = parseKnownHosts(readFileSync(path.join(tmp, 'kh-new'), 'utf8'));
      assert.equal(entries.length, 1);
      assert.equal(entries[0].hosts, `[127.0.0.1]:${srv.port}`);
      assert.ok(Object.values(srv.hostKeys).some((k) => k.blob.equals(entries[0].key)));
      const strict = fresh('kh-new', { hostkeycheck: 'strict' });
      assert.equal((await strict.exec('echo strict')).stdout, 'strict\n');
      await strict.close();
    });

    it('verifies against a hashed entry and an RSA-only entry (prefers the known key type)', async () => {
      const kh = path.join(tmp, 'kh-rsa');
      writeFileSync(kh, `${knownHostName('127.0.0.1', srv.port)} ${srv.hostKeys.rsa.line.split(' ').slice(0, 2).join(' ')}\n`);
      execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
      assert.match(readFileSync(kh, 'utf8'), /^\|1\|/);
      const x = fresh('kh-rsa');
      assert.equal((await x.exec('echo rsa')).stdout, 'rsa\n');
      await x.close();
    });
  });

  it('a server where nothing listens → E_SSH_CONNECT naming user@[IPv6]:port, bracketed', async () => {
    // The test sshd listens on 127.0.0.1 only: its port on ::1 refuses.
    const e = await rejectsWith(new SshTransport(srv.conf({ sshaddr: '::1', hostkeycheck: 'off' })).connect(), 'E_SSH_CONNECT');
    assert.match(e.message, new RegExp(`cannot connect to root@\\[::1\\]:${srv.port}: `));
    assert.equal(e.step, 'connect');
  });

  describe('authentication', () => {
    it('a key the server does not accept → E_SSH_AUTH naming the server', async () => {
      const other = path.join(tmp, 'otherkey');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const saved = process.env.SSH_AUTH_SOCK;
      delete process.env.SSH_AUTH_SOCK;
      try {
        const e = await rejectsWith(new SshTransport(srv.conf({ sshkeypath: other, hostkeycheck: 'off' })).connect(), 'E_SSH_AUTH');
        assert.equal(e.server, srv.name);
      } finally {
        if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
      }
    });

    it('a passphrase-protected or unusable key → E_SSH_KEY saying what to do', async () => {
      const enc = path.join(tmp, 'enckey');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'some passphrase', '-f', enc]);
      const e = await rejectsWith(new SshTransport(srv.conf({ sshkeypath: enc, hostkeycheck: 'off' })).connect(), 'E_SSH_KEY');
      assert.match(e.message, /passphrase/);
      assert.match(e.hint ?? '', /ssh-agent/);
      const pub = await rejectsWith(new SshTransport(srv.conf({ sshkeypath: `${enc}.pub`, hostkeycheck: 'off' })).connect(), 'E_SSH_KEY');
      assert.equal(pub.server, srv.name);
      await rejectsWith(new SshTransport(srv.conf({ sshkeypath: path.join(tmp, 'nokey'), hostkeycheck: 'off' })).connect(), 'E_SSH_KEY');
    });

    it('authenticates through an ssh-agent (SSH_AUTH_SOCK)', async () => {
      const sock = path.join(tmp, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
      const saved = process.env.SSH_AUTH_SOCK;
      try {
        for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
        execFileSync('ssh-add', ['-q', srv.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
        process.env.SSH_AUTH_SOCK = sock;
        const x = new SshTransport(srv.conf({ sshkeypath: undefined, hostkeycheck: 'off' }));
        assert.equal((await x.exec('echo agent')).stdout, 'agent\n');
        await x.close();
      } finally {
        if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
        else process.env.SSH_AUTH_SOCK = saved;
        const gone = new Promise((r) => agent.once('exit', r));
        agent.kill();
        await gone;
      }
    });

    it('an unreachable ssh-agent (stale SSH_AUTH_SOCK) → E_SSH_AUTH naming the agent, and a key still works', async () => {
      const saved = process.env.SSH_AUTH_SOCK;
      process.env.SSH_AUTH_SOCK = path.join(tmp, 'no-agent.sock');
      try {
        const e = await rejectsWith(new SshTransport(srv.conf({ sshkeypath: undefined, hostkeycheck: 'off' })).connect(), 'E_SSH_AUTH');
        assert.equal(e.server, srv.name);
        assert.match(e.message, /ssh-agent \(SSH_AUTH_SOCK=.*no-agent\.sock: /);
        assert.match(e.hint ?? '', /SSH_AUTH_SOCK/);
        const other = path.join(tmp, 'otherkey2');
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
        // a refused key plus a dead agent: an authentication failure, not a connection failure
        await rejectsWith(new SshTransport(srv.conf({ sshkeypath: other, hostkeycheck: 'off' })).connect(), 'E_SSH_AUTH');
        const x = new SshTransport(srv.conf({ hostkeycheck: 'off' }));
        assert.equal((await x.exec('echo key')).stdout, 'key\n');
        await x.close();
      } finally {
        if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
        else process.env.SSH_AUTH_SOCK = saved;
      }
    });

    it('password auth (sshpass) works and the password appears in no output, error or log', async () => {
      // A separate sshd whose mount namespace has its own /etc/shadow (root's real password is untouched).
      const pw = await startTestSshd({ tag: `${tag}p`, password: PASSWORD });
      const saved = process.env.SSH_AUTH_SOCK;
      delete process.env.SSH_AUTH_SOCK;
      const captured: string[] = [];
      try {
        const good = new SshTransport(pw.conf({ sshkeypath: undefined, sshpass: PASSWORD, hostkeycheck: 'accept-new' }), { log: (l) => captured.push(l) });
        const r = await good.exec('echo "$SSH_CONNECTION" | wc -w; id -u');
        assert.equal(r.stdout, '4\n0\n');
        captured.push(JSON.stringify(r));
        await good.close();
        const bad = new SshTransport(pw.conf({ sshkeypath: undefined, sshpass: `${PASSWORD}x`, hostkeycheck: 'accept-new' }), { log: (l) => captured.push(l) });
        const e = await rejectsWith(bad.connect(), 'E_SSH_AUTH');
        captured.push(e.describe(), e.message, String(e.hint), JSON.stringify(e), String(e.stack));
        assert.match(e.message, /tried: password/);
        const sshdLog = readFileSync(pw.logFile, 'utf8');
        assert.match(sshdLog, /Accepted password for root/); // the log is real and covers both attempts
        assert.match(sshdLog, /Failed password for root/);
        for (const text of [...captured, sshdLog, readFileSync(pw.conf().knownhosts!, 'utf8')]) {
          assert.ok(!text.includes(PASSWORD), 'password leaked');
        }
      } finally {
        if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
        await pw.stop();
      }
      assert.ok(!existsSync(pw.dir));
    });
  });

  describe('preflight refusals', () => {
    for (const [setting, extra, authorizedPrefix] of [
      ['AllowStreamLocalForwarding no', ['AllowStreamLocalForwarding no'], ''],
      ['DisableForwarding yes', ['DisableForwarding yes'], ''],
      ['authorized_keys option restrict', [], 'restrict '],
    ] as const) {
      it(`names ${setting} when stream-local forwarding is refused`, async () => {
        const s = await startTestSshd({ tag: `${tag}f`, extraConfig: [...extra] });
        try {
          if (authorizedPrefix) {
            const ak = path.join(s.dir, 'authorized_keys');
            writeFileSync(ak, authorizedPrefix + readFileSync(ak, 'utf8'));
          }
          const x = await connectServer(s.conf({ hostkeycheck: 'accept-new' }));
          const e = await rejectsWith(preflight(x), 'E_PREFLIGHT_FORWARDING');
          assert.equal(e.server, s.name);
          assert.ok(e.message.includes(setting), e.message);
          assert.equal((await x.exec('ls /tmp | grep -c myikev2-preflight; true')).stdout.trim(), '0');
          await x.close();
        } finally {
          await s.stop();
        }
      });
    }
  });

  it('a server with MaxSessions 2: 30 parallel commands all succeed, the cap drops to what it accepts', async () => {
    const s = await startTestSshd({ tag: `${tag}m`, extraConfig: ['MaxSessions 2'] });
    try {
      const x = new SshTransport(s.conf({ hostkeycheck: 'off' }));
      const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => x.exec(`sleep 0.05; echo ${i}`)));
      assert.deepEqual(rs.map((r) => r.stdout), Array.from({ length: 30 }, (_, i) => `${i}\n`));
      assert.ok(x.channelStats.retried > 0, 'the server did refuse channels');
      assert.ok(x.channelStats.limit <= 2, `cap ${x.channelStats.limit}`);
      await x.close();
    } finally {
      await s.stop();
    }
  });

  it('a pool connects many servers in parallel and reports each failure', async () => {
    const pool = new ConnectionPool({
      a: srv.conf({ name: 'a', hostkeycheck: 'off' }),
      b: srv.conf({ name: 'b', hostkeycheck: 'off' }),
      dead1: srv.conf({ name: 'dead1', sshport: 1, hostkeycheck: 'off' }),
      dead2: srv.conf({ name: 'dead2', sshport: 1, hostkeycheck: 'off' }),
    });
    try {
      const ok = await pool.connectAll(['a', 'b']);
      assert.deepEqual([...ok.keys()], ['a', 'b']);
      assert.equal(await pool.get('a'), ok.get('a'));
      const e = await rejectsWith(pool.connectAll(), 'E_CONNECT');
      assert.match(e.message, /2 of 4 servers/);
      assert.match(e.message, /server dead1/);
      assert.match(e.message, /server dead2/);
      await rejectsWith(pool.get('nope'), 'E_NO_SERVER');
    } finally {
      await pool.closeAll();
    }
  });
});
