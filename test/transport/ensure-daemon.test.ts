import assert from 'node:assert/strict';
import { MyikeError } from '../../src/errors.js';
import { ensureDaemon } from '../../src/transport/ensure-daemon.js';
import type { Transport } from '../../src/transport/transport.js';

/** A server where nothing answers on the daemon's socket and every command fails as a user without root's does. */
function deniedServer(kind: 'local' | 'ssh'): Transport & { commands: string[] } {
  const commands: string[] = [];
  return {
    server: 'srv1',
    kind,
    commands,
    exec: async (command: string) => {
      commands.push(command);
      return { code: 1, signal: null, stdout: '', stderr: "mkdir: cannot create directory '/var/lib/myikev2/bundles/0123456789abcdef': Permission denied\n" };
    },
    push: async () => assert.fail('nothing may be pushed'),
    openUnixStream: async (p: string) => {
      throw new MyikeError('E_UNIX_SOCKET', `cannot connect to ${p}: EACCES`);
    },
    interactive: async () => assert.fail('no terminal'),
    close: async () => {},
  } as unknown as Transport & { commands: string[] };
}

const bundle = { localPath: '/x/myikev2-server.mjs', sha256: 'a'.repeat(64), daemon: { localPath: '/x/myikev2-daemon.mjs', sha256: 'd'.repeat(64) } };

describe('transport/ensure-daemon: a user that may not set myikev2 up on the server', () => {
  // It got the first shell command that failed (the bundle check and mkdir, 200 characters of it) and "check the command and the server state".
  for (const kind of ['local', 'ssh'] as const) {
    it(`${kind}: says root is needed and how, with the server, the step and the line that was refused`, async () => {
      const t = deniedServer(kind);
      await assert.rejects(ensureDaemon(t, bundle), (e: MyikeError) => {
        assert.equal(e.code, 'E_PERMISSION');
        assert.equal(e.server, 'srv1');
        assert.ok(e.step, 'the step it was at');
        assert.match(e.message, /may not set it up there: .*mkdir: cannot create directory .*: Permission denied$/);
        assert.match(e.hint ?? '', kind === 'local' ? /run myikev2 as root \(sudo myikev2/ : /set sshuser: root for srv1/);
        return true;
      });
      assert.ok(t.commands.length > 0);
    });
  }
});

describe('transport/ensure-daemon: an sshd that refuses stream-local forwarding', () => {
  // firstStart: the daemon starts now (ready), then holds the lock; else one runs already (left by an earlier try).
  for (const firstStart of [true, false])
  it(`names the sshd setting, not "a daemon is already running" (${firstStart ? 'it starts now' : 'one runs already'})`, async () => {
    const commands: string[] = [];
    const t = {
      server: 'srv1',
      kind: 'ssh',
      exec: async (command: string, o?: { onStdout?: (s: string) => void }) => {
        commands.push(command);
        if (command.includes('node=%s')) return { code: 0, signal: null, stdout: 'node=v20.1.0\nip=/usr/sbin/ip\nuid=0\n', stderr: '' };
        if (command.includes('node -e')) {
          o?.onStdout?.('listening 4711\n');
          return { code: 0, signal: null, stdout: '', stderr: '' };
        }
        if (command.includes('sshd -T')) return { code: 0, signal: null, stdout: 'allowstreamlocalforwarding no\n', stderr: '' };
        // The daemon starts (ready) the first time; a second start finds it holding the lock.
        const started = commands.filter((c) => c.includes('--ready-fd')).length;
        return started === 1 && firstStart ? { code: 0, signal: null, stdout: '', stderr: '' } : { code: 2, signal: null, stdout: '', stderr: 'error: a daemon is already running (pid 26)' };
      },
      push: async () => assert.fail('nothing to push: the bundle is there'),
      openUnixStream: async (p: string) => {
        throw new MyikeError('E_UNIX_SOCKET', `cannot connect to ${p}: (SSH) Channel open failure: administratively prohibited`);
      },
      interactive: async () => assert.fail('no terminal'),
      close: async () => {},
    } as unknown as Transport;
    await assert.rejects(ensureDaemon(t, bundle), (e: MyikeError) => {
      assert.equal(e.code, 'E_PREFLIGHT_FORWARDING', e.message);
      assert.equal(e.server, 'srv1');
      assert.match(e.message, /AllowStreamLocalForwarding no/);
      return true;
    });
  });
});
