// The few system commands the lab runs, and its prerequisites.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { MyikeError } from '../errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // the command's exit status tells what went wrong
      child.stdin.end(input);
    }
  });
}

/** Runs and throws a MyikeError with the command's stderr when it fails. */
export async function runOk(cmd: string, args: string[], input: string | undefined, step: string, server?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) {
    throw new MyikeError('E_LAB_CMD', `${cmd} ${args.join(' ')} failed: ${(r.stderr + r.stdout).trim() || `exit ${r.code}`}`, {
      step,
      server,
      hint: 'see the message above; run `myikev2 lab down` to remove what was created',
    });
  }
  return r.stdout;
}

const TOOLS: Array<{ path: string[]; pkg: string }> = [
  { path: ['/usr/sbin/sshd'], pkg: 'openssh-server' },
  { path: ['/usr/bin/ssh-keygen'], pkg: 'openssh-client' },
  { path: ['/usr/sbin/ip', '/usr/bin/ip', '/sbin/ip', '/bin/ip'], pkg: 'iproute2' },
  { path: ['/usr/bin/unshare', '/bin/unshare'], pkg: 'util-linux' },
  { path: ['/usr/bin/hostname', '/bin/hostname'], pkg: 'hostname' },
  // Servers run the pushed daemon with the `node` found on the PATH sshd gives root.
  { path: ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => `${d}/node`), pkg: 'nodejs' },
];

export function missingTools(usable: (path: string) => boolean): Array<{ path: string[]; pkg: string }> {
  return TOOLS.filter((t) => !t.path.some(usable));
}

/** Root, sshd, ip, unshare and ssh-keygen; says what to install when missing. */
export function checkPrerequisites(): void {
  if (process.getuid && process.getuid() !== 0) {
    throw new MyikeError('E_LAB_PREREQ', 'the lab needs root (it creates namespaces, bridges and runs sshd)', {
      hint: 'run it as root, e.g. sudo myikev2 lab up',
    });
  }
  const missing = missingTools((p) => existsSync(p) && isExecutable(p));
  if (missing.length) {
    const pkgs = missing.map((t) => t.pkg);
    throw new MyikeError('E_LAB_PREREQ', `missing ${missing.map((t) => t.path[0]).join(', ')}`, {
      hint: `install them: apt-get install ${pkgs.join(' ')}${pkgs.includes('nodejs') ? ' (or link your node 20+ into /usr/local/bin, where the servers look for it)' : ''}`,
    });
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true when something at addr:port answers with an SSH banner. */
export function sshAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('SSH-'));
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}
