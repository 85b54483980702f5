// The namespace helper: a small perl process the daemon keeps beside it,
// because Node cannot enter a network namespace (setns(2)). It does two
// things that would otherwise cost a process start (~6-10 ms here) each:
//   - runs an `ip -batch` text inside a namespace by speaking netlink itself
//     (the lines the run's templates produce; anything else goes to `ip -n`);
//   - starts instances where python3 is missing (the spawner of
//     ns-spawner.ts does it cheaper): fork, enter the namespace the way
//     `ip netns exec` does (own mount namespace, /sys of the namespace,
//     /etc/netns/NAME bound over /etc), exec.
// perl-base is Essential on Debian; without perl (or on another machine
// type) the daemon falls back to `ip -n` and `ip netns exec`.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';

export const NS_HELPER_PERL = String.raw`
use strict;
use warnings;
use POSIX ();
use Socket qw(AF_INET AF_INET6 SOCK_DGRAM SOCK_RAW inet_pton);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);

# setns, unshare, mount, umount2 by machine (syscall.ph is not in perl-base).
my %NR = (x86_64 => [308, 272, 165, 166], aarch64 => [268, 97, 40, 39]);
my $nr = $NR{(POSIX::uname())[4]};
$| = 1;
if (!$nr) { print "UNSUPPORTED machine\n"; exit 3; }
my ($SETNS, $UNSHARE, $MOUNT, $UMOUNT2) = @$nr;
use constant { CLONE_NEWNET => 0x40000000, CLONE_NEWNS => 0x20000, MS_RDONLY => 1, MS_BIND => 4096, MS_REC => 16384, MS_SLAVE => 1 << 19, MNT_DETACH => 2 };
open(my $home, '<', '/proc/self/ns/net') or die "/proc/self/ns/net: $!\n";

sub dec { my $s = shift; $s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge; $s }
sub enc { my $s = shift; $s =~ s/([%\x00-\x20])/sprintf('%%%02X', ord($1))/ge; $s }

sub setns_path {
  my $path = shift;
  open(my $fh, '<', $path) or die "$path: $!\n";
  syscall($SETNS, fileno($fh), CLONE_NEWNET) == 0 or die "setns $path: $!\n";
}

# What 'ip netns exec' does, in the child between fork and exec: setns, a
# private mount namespace, the namespace's own /sys, and the files of
# /etc/netns/NAME bound over /etc. Only system calls: returns '' or why not.
my ($EMPTY, $ROOT, $NONE, $SYS, $SYSFS) = ('', '/', 'none', '/sys', 'sysfs');
sub enter_in_child {
  my ($nsfd, $name, $binds) = @_;
  syscall($SETNS, fileno($nsfd), CLONE_NEWNET) == 0 or return "setns $name: $!";
  syscall($UNSHARE, CLONE_NEWNS) == 0 or return "unshare: $!";
  syscall($MOUNT, $EMPTY, $ROOT, $NONE, MS_SLAVE | MS_REC, 0) == 0 or return "mount --make-rslave /: $!";
  my $flags = 0;
  if (syscall($UMOUNT2, $SYS, MNT_DETACH) != 0) { $flags = MS_RDONLY unless -w $SYS; }
  syscall($MOUNT, $name, $SYS, $SYSFS, $flags, 0) == 0 or return "mount of /sys failed: $!";
  for my $b (@$binds) { syscall($MOUNT, $b->[0], $b->[1], $NONE, MS_BIND, 0) == 0 or print STDERR "bind $b->[0] on $b->[1] failed: $!\n"; }
  '';
}

# ---- netlink: the few 'ip' commands the run's templates use ----
my $seq = 0;
sub nl_talk {
  my ($proto, $type, $flags, $body) = @_;
  socket(my $s, 16, SOCK_RAW, $proto) or die "netlink socket: $!\n";   # AF_NETLINK
  my $msg = pack('L S S L L', 16 + length($body), $type, $flags | 1 | 4, ++$seq, 0) . $body;  # REQUEST|ACK
  defined(send($s, $msg, 0)) or die "netlink send: $!\n";
  for (;;) {
    defined(recv($s, my $buf, 65536, 0)) or die "netlink recv: $!\n";
    while (length($buf) >= 16) {
      my ($len, $t, undef, $sq) = unpack('L S S L', $buf);
      if ($t == 2 && $sq == $seq) {   # NLMSG_ERROR: 0 is the ACK
        my $err = unpack('l', substr($buf, 16, 4));
        return if $err == 0;
        $! = -$err;
        die "$!\n";
      }
      last if $len < 16;
      substr($buf, 0, ($len + 3) & ~3, '');
    }
  }
}
sub attr { my ($type, $data) = @_; my $l = 4 + length($data); pack('S S', $l, $type) . $data . ("\0" x ((4 - $l % 4) % 4)) }
sub ifindex {
  my $name = shift;
  my $s;
  socket($s, AF_INET6, SOCK_DGRAM, 0) or socket($s, AF_INET, SOCK_DGRAM, 0) or die "socket: $!\n";
  my $req = pack('a16 x24', $name);
  ioctl($s, 0x8933, $req) or die "Cannot find device \"$name\"\n";   # SIOCGIFINDEX
  unpack('x16 i', $req);
}
sub ip_of {
  my $a = shift;
  my $fam = $a =~ /:/ ? AF_INET6 : AF_INET;
  my $bin = inet_pton($fam, $a);
  defined $bin or die "bad address $a\n";
  ($fam, $bin);
}
sub prefix_of {
  my $p = shift;
  return (AF_INET6, '', 0) if $p eq 'default' || $p eq '::/0';
  my ($a, $len) = split m{/}, $p;
  my ($fam, $bin) = ip_of($a);
  ($fam, $bin, defined $len ? $len : ($fam == AF_INET6 ? 128 : 32));
}

# One line of an 'ip -batch' file, or 0 if it is not one of ours.
sub nl_line {
  my @w = split ' ', shift;
  if (@w == 4 && $w[0] eq 'link' && $w[1] eq 'set' && ($w[3] eq 'up' || $w[3] eq 'down')) {
    nl_talk(0, 19, 0, pack('C x S l L L', 0, 0, 0, $w[3] eq 'up' ? 1 : 0, 1) . attr(3, "$w[2]\0"));   # RTM_SETLINK by IFLA_IFNAME
  } elsif (@w == 5 && $w[0] eq 'link' && $w[1] eq 'set' && $w[3] eq 'addrgenmode' && $w[4] eq 'none') {
    # No IPv6 link-local address: IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE: NONE } }, as ip does.
    nl_talk(0, 19, 0, pack('C x S l L L', 0, 0, 0, 0, 0) . attr(3, "$w[2]\0") . attr(26, attr(10, attr(8, pack('C', 1)))));
  } elsif (@w >= 5 && $w[0] eq 'addr' && ($w[1] eq 'add' || $w[1] eq 'replace') && $w[3] eq 'dev' && (@w == 5 || (@w == 6 && $w[5] eq 'nodad'))) {
    my ($fam, $bin, $len) = prefix_of($w[2]);
    my $body = pack('C C C C L', $fam, $len, @w == 6 ? 2 : 0, 0, ifindex($w[4])) . attr(2, $bin) . attr(1, $bin);   # IFA_LOCAL, IFA_ADDRESS
    nl_talk(0, 20, $w[1] eq 'add' ? 0x600 : 0x500, $body);   # RTM_NEWADDR, CREATE|EXCL or CREATE|REPLACE
  } elsif (@w == 7 && $w[0] eq 'route' && ($w[1] eq 'add' || $w[1] eq 'replace') && $w[3] eq 'via' && $w[5] eq 'dev') {
    my ($fam, $dst, $len) = prefix_of($w[2]);
    my ($gfam, $gw) = ip_of($w[4]);
    die "address families of $w[2] and $w[4] differ\n" if $w[2] ne 'default' && $fam != $gfam;
    my $body = pack('C C C C C C C C L', $gfam, $len, 0, 0, 254, 3, 0, 1, 0)   # main table, proto boot, universe, unicast
      . ($len ? attr(1, $dst) : '') . attr(5, $gw) . attr(4, pack('L', ifindex($w[6])));
    nl_talk(0, 24, $w[1] eq 'add' ? 0x600 : 0x500, $body);   # RTM_NEWROUTE
  } elsif (@w == 3 && $w[0] eq 'xfrm' && $w[2] eq 'flush' && ($w[1] eq 'state' || $w[1] eq 'policy')) {
    $w[1] eq 'state' ? nl_talk(6, 28, 0, pack('C x3', 255)) : nl_talk(6, 29, 0, '');   # XFRM_MSG_FLUSHSA (any proto) / FLUSHPOLICY
  } else {
    return 0;
  }
  1;
}

# Runs an 'ip -batch' text inside a namespace: in this process when every
# line is one of ours (no process per namespace), else through 'ip' itself.
sub configure {
  my ($netns, $batch) = @_;
  my @lines = grep { /\S/ && !/^\s*#/ } split /\n/, $batch;
  my $ours = !grep { !nl_line_known($_) } @lines;
  return run_ip($netns, $batch) unless $ours;
  my $err;
  eval {
    setns_path("/run/netns/$netns");
    my $n = 0;
    for my $l (@lines) { $n++; eval { nl_line($l); 1 } or do { chomp(my $e = $@); die "line $n ($l): $e\n" }; }
    1;
  } or $err = $@;
  syscall($SETNS, fileno($home), CLONE_NEWNET) == 0 or die "setns back: $!\n";
  die $err if $err;
}
sub nl_line_known {
  my $l = shift;
  $l =~ m{^\s*(link set \S+ (up|down|addrgenmode none)|addr (add|replace) \S+ dev \S+( nodad)?|route (add|replace) \S+ via \S+ dev \S+|xfrm (state|policy) flush)\s*$};
}
sub run_ip {
  my ($netns, $batch) = @_;
  pipe(my $r, my $w) or die "pipe: $!\n";
  pipe(my $er, my $ew) or die "pipe: $!\n";
  my $pid = fork();
  die "fork: $!\n" unless defined $pid;
  if ($pid == 0) {
    close $w; close $er;
    open(STDIN, '<&', $r) or POSIX::_exit(126);
    open(STDOUT, '>', '/dev/null');
    open(STDERR, '>&', $ew) or POSIX::_exit(126);
    exec('ip', '-n', $netns, '-batch', '-') or POSIX::_exit(127);
  }
  close $r; close $ew;
  print $w $batch; close $w;
  my $out = ''; 1 while sysread($er, $out, 4096, length $out);
  waitpid($pid, 0);
  die((($out =~ s/\s+$//r) || "ip exited with " . ($? >> 8)) . "\n") if $?;
}

# ---- spawning: fork here (small), enter the namespace, exec ----
# Everything that can be prepared is prepared before fork: a perl child that
# runs perl code copies much of the heap (copy-on-write), ~2 ms each here.
my %live;   # pids we report the exit of
open(my $devnull, '<', '/dev/null') or die "/dev/null: $!\n";
sub spawn_child {
  my ($netns, $cwd, $out, $err, $env, $argv) = @_;
  my ($nsfd, @binds);
  my $name = $netns;
  if ($netns ne '') {
    open($nsfd, '<', "/run/netns/$netns") or die "/run/netns/$netns: $!\n";
    if (opendir(my $d, "/etc/netns/$netns")) {
      @binds = map { ["/etc/netns/$netns/$_", "/etc/$_"] } grep { $_ ne '.' && $_ ne '..' } readdir $d;
    }
  }
  -d $cwd or die "working directory $cwd: No such directory\n";
  my $mode = POSIX::O_WRONLY() | POSIX::O_APPEND() | POSIX::O_CREAT();
  my $o = POSIX::open($out, $mode, 0640);
  defined $o or die "$out: $!\n";
  my $e = POSIX::open($err, $mode, 0640);
  defined $e or do { my $why = "$err: $!\n"; POSIX::close($o); die $why };
  local %ENV = %$env;
  pipe(my $r, my $w) or die "pipe: $!\n";   # close-on-exec: EOF means exec worked
  my $pid = fork();
  if (defined $pid && $pid == 0) {
    POSIX::setsid();
    POSIX::dup2(fileno($devnull), 0);
    POSIX::dup2($o, 1);
    POSIX::dup2($e, 2);
    POSIX::close($o);
    POSIX::close($e);
    my $why = $nsfd ? enter_in_child($nsfd, $name, \@binds) : '';
    $why = "working directory $cwd: $!" if !$why && !chdir($cwd);
    if (!$why) { no warnings 'exec'; exec { $argv->[0] } @$argv; $why = "$argv->[0]: $!"; }
    syswrite($w, $why);
    POSIX::_exit(127);
  }
  POSIX::close($o);
  POSIX::close($e);
  die "fork: $!\n" unless defined $pid;
  close $w;
  my $msg = '';
  for (;;) {   # until EOF: a read interrupted by a signal is not the end
    my $got = sysread($r, $msg, 4096, length $msg);
    last if defined $got && $got == 0;
    last if !defined $got && !$!{EINTR};
  }
  if ($msg ne '') { waitpid($pid, 0); die "$msg\n"; }
  $live{$pid} = 1;
  "$pid " . start_time($pid);
}

# Field 22 of /proc/PID/stat, read before the process is reaped (at worst a
# zombie): with the pid it names the process, also one that already ended.
sub start_time {
  my $pid = shift;
  open(my $fh, '<', "/proc/$pid/stat") or return '-';
  my $s = <$fh>;
  $s =~ s/^.*\) //s or return '-';
  (split / /, $s)[19];
}

sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    next unless delete $live{$pid};
    my $st = $?;
    my ($code, $sig) = ($st & 127) ? ('-', $st & 127) : ($st >> 8, '-');
    print "X $pid $code $sig\n";
  }
}

# Requests, one line each, fields %-encoded:
#   C ID NETNS BATCH                       configure   -> R ID ok | R ID err MSG
#   S ID NETNS CWD OUT ERR NENV K=V... ARGV...  spawn  -> R ID ok PID STARTTIME | R ID err MSG
# Events: X PID CODE SIGNAL ('-' for none) when a spawned process ends.
# A child's end wakes the loop through a pipe, also when it ends just before select.
pipe(my $sigr, my $sigw) or die "pipe: $!\n";
for my $fh ($sigr, $sigw) { fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK) or die "fcntl: $!\n"; }
$SIG{CHLD} = sub { syswrite($sigw, 'x') };
print "READY\n";
my $buf = '';
# Reaping every turn (and at least every 0.1 s) bounds how late an exit is
# reported even if a wake-up were missed; waitpid(WNOHANG) is cheap.
for (;;) {
  reap();
  my $rin = '';
  vec($rin, fileno(STDIN), 1) = 1;
  vec($rin, fileno($sigr), 1) = 1;
  my $n = select(my $rout = $rin, undef, undef, 0.1);
  next if $n <= 0;
  if (vec($rout, fileno($sigr), 1)) { 1 while sysread($sigr, my $drain, 512); }
  next unless vec($rout, fileno(STDIN), 1);
  my $got = sysread(STDIN, $buf, 65536, length $buf);
  next if !defined $got && $!{EINTR};
  last unless $got;
  while ($buf =~ s/^([^\n]*)\n//) {
    my @f = map { dec($_) } split / /, $1, -1;
    my ($op, $id) = (shift @f, shift @f);
    my $res = eval {
      if ($op eq 'C') { configure(@f); 'ok' }
      elsif ($op eq 'S') {
        my ($netns, $cwd, $out, $err, $nenv) = splice(@f, 0, 5);
        my %env = map { split /=/, $_, 2 } splice(@f, 0, $nenv);
        'ok ' . spawn_child($netns, $cwd, $out, $err, \%env, \@f);
      } else { die "unknown request $op\n" }
    };
    if (defined $res) { print "R $id $res\n" } else { chomp(my $e = $@); print 'R ', $id, ' err ', enc($e), "\n" }
  }
}
reap();
`;

export interface HelperSpawn {
  netns: string | null;
  cwd: string;
  stdoutPath: string;
  stderrPath: string;
  env: Record<string, string>;
  argv: string[];
}

type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

// Fields are %-encoded where they would break a line or a split: ASCII only, so UTF-8 passes as is.
const enc = (s: string) => s.replace(/[%\x00-\x20]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
const dec = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
const signalName = (n: number) => (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`) as NodeJS.Signals;

/** A helper program speaking the protocol above (the perl helper, or the python3 spawner of ns-spawner.ts). */
export interface HelperProgram {
  command: string;
  args: string[];
  /** How logs name it. */
  label: string;
}

export const PERL_HELPER: HelperProgram = { command: 'perl', args: ['-e', NS_HELPER_PERL], label: 'namespace helper (perl)' };

export class NsHelper {
  private proc?: ChildProcessWithoutNullStreams;
  private started?: Promise<boolean>;
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  private readonly exitWatchers = new Map<number, (s: ExitStatus) => void>();
  private readonly earlyExits = new Map<number, ExitStatus>();

  /** onLost: the helper died; the pids it was watching are no longer reported. */
  constructor(
    private readonly program: HelperProgram,
    private readonly log: (msg: string) => void,
    private readonly onLost: (pids: number[]) => void,
  ) {}

  /** Starts the program once; false when it cannot run here (then use the fallbacks). */
  available(): Promise<boolean> {
    const { command, args, label } = this.program;
    this.started ??= new Promise<boolean>((resolve) => {
      const proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      proc.once('error', (e) => {
        this.log(`${label} unavailable (${e.message})`);
        resolve(false);
      });
      createInterface({ input: proc.stderr }).on('line', (l) => this.log(`${label}: ${l}`));
      createInterface({ input: proc.stdout }).on('line', (line) => {
        if (line === 'READY') {
          this.proc = proc;
          resolve(true);
        } else if (line.startsWith('UNSUPPORTED')) {
          this.log(`${label}: ${line}`);
        } else this.onLine(line);
      });
      proc.once('exit', (code, signal) => {
        resolve(false);
        if (this.proc !== proc) return;
        this.proc = undefined;
        this.started = undefined; // started again on next use
        this.log(`${label} exited (${signal ?? code})`);
        for (const p of this.pending.values()) p.reject(new Error('the namespace helper exited'));
        this.pending.clear();
        const pids = [...this.exitWatchers.keys()];
        this.exitWatchers.clear();
        if (pids.length) this.onLost(pids);
      });
    });
    return this.started;
  }

  /** Runs an `ip -batch` text inside NETNS. */
  async configure(netns: string, batch: string): Promise<void> {
    await this.request(['C', netns, batch]);
  }

  /**
   * Starts a process (its own session); resolves once it has exec'd with its
   * pid and start time (/proc/PID/stat field 22), read by the helper before
   * it reaps the process: a leader that ends at once (a daemonising upcmds)
   * is gone from /proc by the time the answer is read here, and its session
   * is known by both.
   */
  async spawn(p: HelperSpawn, onExit: (s: ExitStatus) => void): Promise<{ pid: number; startTime: number | null }> {
    const env = Object.entries(p.env).map(([k, v]) => `${k}=${v}`);
    const [pidText, start] = (await this.request(['S', p.netns ?? '', p.cwd, p.stdoutPath, p.stderrPath, String(env.length), ...env, ...p.argv])).split(' ');
    const pid = Number(pidText);
    const startTime = start && start !== '-' ? Number(start) : null;
    const early = this.earlyExits.get(pid);
    if (early) {
      this.earlyExits.delete(pid);
      setImmediate(() => onExit(early)); // after the caller has taken the pid
    } else this.exitWatchers.set(pid, onExit);
    return { pid, startTime };
  }

  /** Stops the helper; what it started keeps running. */
  close(): void {
    this.proc?.stdin.end();
  }

  private async request(fields: string[]): Promise<string> {
    if (!(await this.available()) || !this.proc) throw new Error('the namespace helper is not running');
    const id = String(this.nextId++);
    const [op, ...rest] = fields;
    return new Promise<string>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc!.stdin.write(`${op} ${id} ${rest.map(enc).join(' ')}\n`);
    });
  }

  private onLine(line: string): void {
    const f = line.split(' ');
    if (f[0] === 'R') {
      const p = this.pending.get(f[1]);
      this.pending.delete(f[1]);
      if (f[2] === 'ok') p?.resolve(f.slice(3).join(' '));
      else p?.reject(new Error(dec(f.slice(3).join(' '))));
    } else if (f[0] === 'X') {
      const pid = Number(f[1]);
      const status: ExitStatus = { code: f[2] === '-' ? null : Number(f[2]), signal: f[3] === '-' ? null : signalName(Number(f[3])) };
      const watcher = this.exitWatchers.get(pid);
      this.exitWatchers.delete(pid);
      if (watcher) setImmediate(() => watcher(status));
      else this.earlyExits.set(pid, status);
    }
  }
}
