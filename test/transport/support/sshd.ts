// A throw-away OpenSSH sshd for transport tests that need a server config the
// lab does not give (password auth, forwarding disabled). It runs in its own
// mount and UTS namespace with a private /run and /root (design.md §5), on a
// free loopback port, with its own host keys, authorized_keys and — only for
// password tests — a shadow file bind-mounted over /etc/shadow inside its
// mount namespace (the machine's real shadow file is never touched).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServerConf } from '../../../src/model/config-types.js';

export interface TestSshd {
  name: string;
  port: number;
  dir: string;
  logFile: string;
  clientKey: string; // private key path (authorized for root)
  hostKeys: Record<'ed25519' | 'ecdsa' | 'rsa', { blob: Buffer; fingerprint: string; line: string }>;
  pid: number;
  /** ServerConf for this server (key auth; knownhosts in its dir, empty). */
  conf(over?: Partial<ServerConf>): ServerConf;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number, child: ChildProcess, logFile: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('sshd did not start listening');
}

export async function startTestSshd(opts: { tag: string; extraConfig?: string[]; password?: string }): Promise<TestSshd> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `myikev2-sshd-${opts.tag}-`));
  const name = `t${opts.tag}`;
  const hostKeys = {} as TestSshd['hostKeys'];
  for (const t of ['ed25519', 'ecdsa', 'rsa'] as const) {
    execFileSync('ssh-keygen', ['-q', '-t', t, ...(t === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-f', path.join(dir, `host_${t}`)]);
    const line = readFileSync(path.join(dir, `host_${t}.pub`), 'utf8').trim();
    const blob = Buffer.from(line.split(' ')[1], 'base64');
    hostKeys[t] = { blob, fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`, line };
  }
  const clientKey = path.join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
  const port = await freePort();
  const logFile = path.join(dir, 'sshd.log');
  const config = [
    // First value of a keyword wins: extra settings come first.
    ...(opts.extraConfig ?? []),
    `ListenAddress 127.0.0.1:${port}`,
    ...(['ed25519', 'ecdsa', 'rsa'] as const).map((t) => `HostKey ${path.join(dir, `host_${t}`)}`),
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    `PermitRootLogin ${opts.password ? 'yes' : 'prohibit-password'}`,
    `PasswordAuthentication ${opts.password ? 'yes' : 'no'}`,
    'KbdInteractiveAuthentication no',
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
  ];
  writeFileSync(path.join(dir, 'sshd_config'), `${config.join('\n')}\n`);
  execFileSync('mkdir', ['-p', path.join(dir, 'home')]);
  let shadowMount = '';
  if (opts.password) {
    const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: opts.password }).toString().trim();
    const shadow = readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .map((l) => (l.startsWith('root:') ? l.split(':').map((f, i) => (i === 1 ? hash : f)).join(':') : l))
      .join('\n');
    writeFileSync(path.join(dir, 'shadow'), shadow, { mode: 0o600 });
    shadowMount = `mount --bind ${dir}/shadow /etc/shadow && `;
  }
  const script =
    `hostname ${name} && mount --make-rprivate / && mount -t tmpfs -o mode=0755,size=16m run-${name} /run && ` +
    `mkdir -m 0755 /run/sshd /run/netns && mount --bind ${dir}/home /root && ${shadowMount}` +
    `exec /usr/sbin/sshd -D -f ${dir}/sshd_config -E ${logFile}`;
  const child = spawn('unshare', ['-m', '-u', 'sh', '-c', script], { stdio: 'ignore' });
  try {
    await waitListening(port, child, logFile);
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    name,
    port,
    dir,
    logFile,
    clientKey,
    hostKeys,
    pid: child.pid!,
    conf: (over = {}) => ({
      name,
      connection: 'ssh',
      daemonaddr: '127.0.0.1',
      daemonport: 0,
      sshaddr: '127.0.0.1',
      sshport: port,
      sshuser: 'root',
      sshkeypath: clientKey,
      knownhosts: path.join(dir, 'known_hosts'),
      hostkeycheck: 'strict',
      mgmtaddrprefix: '2001:db8::/64',
      ...over,
    }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function randomTag(): string {
  return `${process.pid % 10000}${randomBytes(2).toString('hex')}`;
}
