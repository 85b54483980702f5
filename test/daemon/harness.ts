// Test harness for real daemons: temp dirs, namespaces, and a reaper.
//
// PID 1 on these machines does not reap orphans. A daemon killed by a test
// leaves its instances orphaned; to leave no zombies behind, every daemon a
// test starts runs under a small child-subreaper (perl + prctl). Like PID 1
// here it reaps nothing until told to, so zombies exist exactly as they would
// in production, and the reaper removes them at the end.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../../src/daemon/client.js';
import { readProcStat } from '../../src/daemon/proc.js';

/** The bundle that ships to servers (built by `npm run build`). */
export const BUNDLE = resolve(dirname(fileURLToPath(import.meta.url)), '../../bundle/myikev2-server.mjs');

// Perl, because perl-base is Essential on Debian (always installed).
const REAPER_PL = String.raw`
use strict; use warnings; use POSIX qw(:sys_wait_h); use Config;
my %prctl = (x86_64 => 157, aarch64 => 167);
my ($arch) = $Config{archname} =~ /^(x86_64|aarch64)/ or die "reaper: unsupported architecture\n";
syscall($prctl{$arch}, 36, 1, 0, 0, 0) == 0 or die "reaper: prctl(PR_SET_CHILD_SUBREAPER): $!\n";
$| = 1;
sub reap_all {
  my $n = 0;
  while (1) {
    my $p = waitpid(-1, WNOHANG);
    return ($n, 1) if $p == -1;
    return ($n, 0) if $p == 0;
    $n++;
  }
}
print "ready\n";
while (my $line = <STDIN>) {
  chomp $line;
  my ($cmd, @args) = split /\t/, $line, -1;
  if ($cmd eq 'spawn') {
    my ($log, @argv) = @args;
    my $pid = fork() // die "reaper: fork: $!\n";
    if ($pid == 0) {
      open(STDIN, '<', '/dev/null');
      open(STDOUT, '>>', $log) or POSIX::_exit(126);
      open(STDERR, '>&', \*STDOUT);
      { no warnings 'exec'; exec { $argv[0] } @argv; }
      POSIX::_exit(127);
    }
    print "$pid\n";
  } elsif ($cmd eq 'wait') {
    waitpid($args[0], 0);
    my $s = $?;
    print((($s & 127) ? -($s & 127) : ($s >> 8)), "\n");
  } elsif ($cmd eq 'reap') {
    my ($n) = reap_all();
    print "$n\n";
  }
}
my $deadline = time + 10;
while (time < $deadline) {
  my (undef, $done) = reap_all();
  last if $done;
  select(undef, undef, undef, 0.02);
}
`;

export class Reaper {
  private constructor(
    private readonly proc: ChildProcessByStdio<Writable, Readable, null>,
    private readonly lines: Interface,
  ) {}

  static async start(): Promise<Reaper> {
    const proc = spawn('/usr/bin/perl', ['-e', REAPER_PL], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: proc.stdout });
    const r = new Reaper(proc, lines);
    assert.equal(await r.next(), 'ready');
    return r;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  private next(): Promise<string> {
    return new Promise((resolve, reject) => {
      const onLine = (l: string) => {
        this.proc.off('exit', onExit);
        resolve(l);
      };
      const onExit = () => reject(new Error('reaper exited'));
      this.lines.once('line', onLine);
      this.proc.once('exit', onExit);
    });
  }

  private async command(line: string): Promise<string> {
    const answer = this.next();
    this.proc.stdin.write(line + '\n');
    return answer;
  }

  /** Starts argv as the reaper's child with stdout+stderr appended to log. */
  async spawn(argv: string[], log: string): Promise<number> {
    if ([log, ...argv].some((a) => /[\t\n]/.test(a))) throw new Error('reaper: no tabs or newlines in arguments');
    return Number(await this.command(['spawn', log, ...argv].join('\t')));
  }

  /** Waits for a direct child and returns its exit code (negative: signal). */
  async wait(pid: number): Promise<number> {
    return Number(await this.command(`wait\t${pid}`));
  }

  /** Reaps every zombie (direct or adopted) child now. */
  async reap(): Promise<number> {
    return Number(await this.command('reap'));
  }

  /** Reaps everything left and exits (waits up to 10 s for children to end). */
  async close(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin.end();
    await exited;
  }
}

export function procAlive(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== null && st.state !== 'Z';
}

/** Kills a pid only if it is still the process we started (start time matches). */
export function killIfSame(pid: number, startTime: number | null, sig: NodeJS.Signals = 'SIGKILL'): void {
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || (startTime !== null && st.startTime !== startTime)) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A daemon in its own temp dirs, started under a reaper. */
export class TestDaemon {
  pid = 0;
  readonly socket: string;
  readonly stateDir: string;
  readonly log: string;

  constructor(
    readonly reaper: Reaper,
    readonly dir: string,
    readonly extraArgs: string[] = [],
    /** Extra environment of the daemon (e.g. MYIKEV2_NS_HELPER=off). */
    readonly env: Record<string, string> = {},
  ) {
    this.socket = join(dir, 'run', 'daemon.sock');
    this.stateDir = join(dir, 'state');
    this.log = join(dir, 'daemon-foreground.log');
  }

  args(): string[] {
    return [BUNDLE, 'daemon', '--socket', this.socket, '--state-dir', this.stateDir, '--log-check-interval', '200', '--adopt-poll-interval', '100', ...this.extraArgs];
  }

  /** Starts `node BUNDLE daemon ...` and waits until it answers. */
  async start(): Promise<this> {
    const env = Object.entries(this.env).map(([k, v]) => `${k}=${v}`);
    this.pid = await this.reaper.spawn([...(env.length ? ['env', ...env] : []), process.execPath, ...this.args()], this.log);
    await waitUntil(async () => {
      try {
        const c = await this.connect();
        await c.close();
        return true;
      } catch {
        return false;
      }
    }, `daemon pid ${this.pid} to answer on ${this.socket}`);
    return this;
  }

  connect(): Promise<DaemonClient> {
    return DaemonClient.connectUnix(this.socket, { timeoutMs: 30_000, clientName: 'daemon tests' });
  }

  alive(): boolean {
    return this.pid !== 0 && procAlive(this.pid);
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-${process.pid}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  assert.equal(existsSync(dir), false, `${dir} removed`);
}

/** Creates network namespaces with one `ip -batch`. */
export function netnsAdd(names: string[]): void {
  execFileSync('ip', ['-batch', '-'], { input: names.map((n) => `netns add ${n}\n`).join('') });
}

/** Deletes the namespaces of this list that exist, and asserts all are gone. */
export function netnsDelete(names: string[]): void {
  const present = names.filter((n) => existsSync(`/run/netns/${n}`));
  if (present.length) execFileSync('ip', ['-batch', '-'], { input: present.map((n) => `netns delete ${n}\n`).join('') });
  const left = names.filter((n) => existsSync(`/run/netns/${n}`));
  assert.deepEqual(left, [], 'test namespaces removed');
}
