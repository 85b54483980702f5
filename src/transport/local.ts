// The controller's own machine as a server (the embedded default `local`).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { MyikeError } from '../errors.js';
import type { ExecOptions, ExecResult, InteractiveResult, Terminal, Transport } from './transport.js';

export class LocalTransport implements Transport {
  readonly kind = 'local';
  constructor(readonly server = 'local') {}

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      // Own process group, so a timeout kills the command and its children.
      const child = spawn('sh', ['-c', command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        stdout += s;
        opts.onStdout?.(s);
      });
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        opts.onStderr?.(s);
      });
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              try {
                process.kill(-child.pid!, 'SIGKILL');
              } catch {
                /* already gone */
              }
            }, opts.timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new MyikeError('E_EXEC', `cannot run sh: ${e.message}`, { server: this.server, step: 'exec', cause: e }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) {
          reject(timeoutError(this.server, command, opts.timeoutMs!));
          return;
        }
        resolve({ code, ...(signal ? { signal } : {}), stdout, stderr });
      });
      child.stdin.on('error', () => undefined); // the command may not read its stdin
      child.stdin.end(opts.stdin ?? '');
    });
  }

  async push(localPath: string, remotePath: string): Promise<void> {
    try {
      await copyTree(localPath, remotePath);
    } catch (e) {
      throw new MyikeError('E_PUSH', `cannot copy ${localPath} to ${remotePath}: ${(e as Error).message}`, {
        server: this.server,
        step: 'push',
        cause: e,
        hint: 'check that the source exists and the destination directory is writable',
      });
    }
  }

  openUnixStream(socketPath: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new MyikeError('E_UNIX_SOCKET', `cannot connect to ${socketPath}: ${e.code ?? e.message}`, {
            server: this.server,
            step: 'open unix socket',
            cause: e,
          }),
        ),
      );
    });
  }

  /**
   * util-linux `script` puts the command on a pseudo-terminal of its own and
   * relays the controller's terminal to it (raw mode, window size), so the
   * command's job control never touches the controller's terminal.
   */
  interactive(command: string, term: Terminal): Promise<InteractiveResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
        stdio: [term.input, term.output, term.output],
        env: { ...process.env, SHELL: '/bin/sh' },
      });
      child.on('error', (e) =>
        reject(new MyikeError('E_EXEC', `cannot run script (util-linux): ${e.message}`, { server: this.server, step: 'interactive', cause: e, hint: 'install util-linux (it provides script)' })),
      );
      child.on('close', (code, signal) => resolve({ code, ...(signal ? { signal } : {}) }));
    });
  }

  async close(): Promise<void> {}
}

export function timeoutError(server: string, command: string, ms: number): MyikeError {
  return new MyikeError('E_EXEC_TIMEOUT', `command did not finish within ${ms} ms: ${command.split('\n')[0].slice(0, 200)}`, {
    server,
    step: 'exec',
    hint: 'the command was stopped; check whether it waits for input or hangs on the server',
  });
}

/** Copy a file, or a directory's contents into `dst` (merged); every file lands atomically. */
async function copyTree(src: string, dst: string): Promise<void> {
  const st = await fsp.stat(src);
  if (st.isDirectory()) {
    await fsp.mkdir(dst, { recursive: true, mode: st.mode & 0o7777 });
    for (const name of await fsp.readdir(src)) await copyTree(path.join(src, name), path.join(dst, name));
    return;
  }
  const tmp = path.join(path.dirname(dst), `.${path.basename(dst)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fsp.copyFile(src, tmp);
    await fsp.chmod(tmp, st.mode & 0o7777);
    await fsp.rename(tmp, dst);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}
