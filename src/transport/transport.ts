// The one face every server has, whether reached over SSH or the controller's
// own machine: run a command, copy files, open a Unix socket, close.
import type { Duplex } from 'node:stream';
import { MyikeError } from '../errors.js';

export interface ExecOptions {
  stdin?: string | Buffer;
  /** Streaming output, as it arrives (the full text is also in the result). */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Kill/abandon the command after this long and reject with E_EXEC_TIMEOUT. */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** The controller's terminal, handed to an interactive session. */
export interface Terminal {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
}

export interface InteractiveResult {
  code: number | null;
  signal?: string;
}

export interface Transport {
  /** Server name (key in daemonlist), used in every error. */
  readonly server: string;
  readonly kind: 'ssh' | 'local';
  /** Run a shell command (`sh -c` semantics on the server). Never rejects on a non-zero exit. */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Copy a file or directory; each file lands under a temp name and is renamed into place. */
  push(localPath: string, remotePath: string): Promise<void>;
  /** A byte stream to a Unix socket on the server. */
  openUnixStream(socketPath: string): Promise<Duplex>;
  /**
   * Run a command (`sh -c`) on a pseudo-terminal of the server wired to the
   * controller's terminal (raw keys in, screen out, window size followed)
   * until it ends: line editing, Ctrl-C and full-screen programs work.
   */
  interactive(command: string, term: Terminal): Promise<InteractiveResult>;
  close(): Promise<void>;
}

/** Quote one word for a POSIX shell. */
export function shq(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** exec, and throw a MyikeError naming the server and step if the command fails. */
export async function execChecked(
  t: Transport,
  command: string,
  step: string,
  opts?: ExecOptions,
): Promise<ExecResult> {
  const r = await t.exec(command, opts);
  if (r.code !== 0) {
    const why = r.code === null ? `was killed by ${r.signal ?? 'a signal'}` : `exited with ${r.code}`;
    const err = r.stderr.trim().split('\n').slice(-5).join('\n');
    throw new MyikeError('E_EXEC', `command ${why}: ${command.split('\n')[0].slice(0, 200)}${err ? `\n${err}` : ''}`, {
      server: t.server,
      step,
      hint: 'check the command and the server state; the last lines of its stderr are shown above',
    });
  }
  return r;
}
