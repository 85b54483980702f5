// The namespace spawner: the python3 twin of the perl helper's spawn request
// (same line protocol, see ns-helper.ts). It exists for speed: perl can only
// fork, and a fork costs ~8 ms of page-table work on virtual machines like
// these, while posix_spawn (vfork + exec) costs a third of that. A vfork
// child cannot run code of ours, so the spawner itself enters the namespace
// the way `ip netns exec` does (setns, a private mount namespace, the
// namespace's /sys, /etc/netns/NAME over /etc), spawns (the child inherits
// all of it), and returns to its own namespaces. It only spawns; namespace
// configuration stays with the perl helper.
import { existsSync } from 'node:fs';
import type { HelperProgram } from './ns-helper.js';

export const NS_SPAWNER_PYTHON = String.raw`
import os, re, select, signal, sys
try:   # python3-minimal has no ctypes; an old python no posix_spawn
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setns, os.posix_spawn, os.POSIX_SPAWN_DUP2
except Exception as e:
    os.write(1, ('UNSUPPORTED %s\n' % e).encode()); sys.exit(3)
CLONE_NEWNET, CLONE_NEWNS = 0x40000000, 0x20000
MS_RDONLY, MS_BIND, MS_REC, MS_SLAVE, MNT_DETACH = 1, 4096, 16384, 1 << 19, 2
home_net = os.open('/proc/self/ns/net', os.O_RDONLY)
home_mnt = os.open('/proc/self/ns/mnt', os.O_RDONLY)
home_cwd = os.open('/', os.O_RDONLY)
devnull = os.open('/dev/null', os.O_RDONLY)
fsenc = lambda s: s.encode('utf-8', 'surrogateescape')

def check(ret, what):
    if ret != 0:
        raise OSError('%s: %s' % (what, os.strerror(ctypes.get_errno())))

def enter(netns):
    fd = os.open('/run/netns/' + netns, os.O_RDONLY)
    try:
        check(libc.setns(fd, CLONE_NEWNET), 'setns ' + netns)
    finally:
        os.close(fd)
    check(libc.unshare(CLONE_NEWNS), 'unshare')
    check(libc.mount(b'', b'/', b'none', MS_SLAVE | MS_REC, None), 'mount --make-rslave /')
    flags = 0
    if libc.umount2(b'/sys', MNT_DETACH) != 0 and not os.access('/sys', os.W_OK):
        flags = MS_RDONLY
    check(libc.mount(fsenc(netns), b'/sys', b'sysfs', flags, None), 'mount of /sys failed')
    try:
        names = os.listdir('/etc/netns/' + netns)
    except OSError:
        names = []
    for n in names:
        src, dst = '/etc/netns/%s/%s' % (netns, n), '/etc/' + n
        if libc.mount(fsenc(src), fsenc(dst), b'none', MS_BIND, None) != 0:
            sys.stderr.write('bind %s on %s failed: %s\n' % (src, dst, os.strerror(ctypes.get_errno())))

def leave():
    # Failing to get back would put the next spawn in the wrong place: give up, the daemon starts a new spawner.
    if libc.setns(home_net, CLONE_NEWNET) != 0 or libc.setns(home_mnt, CLONE_NEWNS) != 0:
        os._exit(70)
    os.fchdir(home_cwd)

def which(prog, path):
    if '/' in prog:
        return prog
    for d in path.split(':'):
        p = os.path.join(d or '.', prog)
        if os.access(p, os.X_OK) and not os.path.isdir(p):
            return p
    return prog

live = set()
DEFAULTED = {signal.SIGPIPE, signal.SIGXFSZ}   # python ignores these; instances must not inherit that

def spawn(netns, cwd, out, err, env, argv):
    if not os.path.isdir(cwd):
        raise OSError('working directory %s: No such directory' % cwd)
    mode = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fds = []
    try:
        for path in (out, err):
            try:
                fds.append(os.open(path, mode, 0o640))
            except OSError as e:
                raise OSError('%s: %s' % (path, e.strerror))
        try:
            if netns:
                enter(netns)
            os.chdir(cwd)
            try:
                pid = os.posix_spawn(which(argv[0], env.get('PATH', '')), argv, env, setsid=True, setsigmask=(), setsigdef=DEFAULTED,
                                     file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, fds[0], 1), (os.POSIX_SPAWN_DUP2, fds[1], 2)])
            except OSError as e:
                raise OSError('%s: %s' % (argv[0], e.strerror))
        finally:
            leave()
    finally:
        for fd in fds:
            os.close(fd)
    live.add(pid)
    return '%d %s' % (pid, start_time(pid))

def start_time(pid):
    # Field 22 of /proc/PID/stat, read before the process is reaped (at worst a zombie).
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            return f.read().rsplit(b') ', 1)[1].split(b' ')[19].decode()
    except (OSError, IndexError):
        return '-'

def say(line):
    data = line.encode('utf-8', 'surrogateescape')
    while data:
        data = data[os.write(1, data):]

def dec(b):
    return re.sub(rb'%([0-9A-Fa-f]{2})', lambda m: bytes([int(m.group(1), 16)]), b).decode('utf-8', 'surrogateescape')

def enc(s):
    return ''.join('%%%02X' % ord(c) if c == '%' or ord(c) <= 32 else c for c in s)

def reap():
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in live:
            live.discard(pid)
            sig = os.WTERMSIG(st) if os.WIFSIGNALED(st) else None
            say('X %d %s %s\n' % (pid, '-' if sig else os.WEXITSTATUS(st), sig or '-'))

# A child's end wakes the loop through the signal wake-up pipe; reaping every turn (and at least every 0.1 s) bounds lateness.
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False); os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)
say('READY\n')
buf = b''
while True:
    reap()
    ready, _, _ = select.select([0, wake_r], [], [], 0.1)
    if wake_r in ready:
        try:
            while os.read(wake_r, 512): pass
        except BlockingIOError:
            pass
    if 0 not in ready:
        continue
    got = os.read(0, 65536)
    if not got:
        break
    buf += got
    while b'\n' in buf:
        line, buf = buf.split(b'\n', 1)
        f = [dec(x) for x in line.split(b' ')]
        op, rid = f[0], f[1]
        try:
            if op != 'S':
                raise OSError('unknown request ' + op)
            netns, cwd, out, err, nenv = f[2:7]
            nenv = int(nenv)
            env = dict(kv.split('=', 1) for kv in f[7:7 + nenv])
            say('R %s ok %s\n' % (rid, spawn(netns, cwd, out, err, env, f[7 + nenv:])))
        except Exception as e:
            say('R %s err %s\n' % (rid, enc(e.args[0] if isinstance(e, OSError) and len(e.args) == 1 else str(e))))
reap()
`;

/**
 * The system's python3 when there is one: a python3 found first on PATH may
 * be a version manager's shim (pyenv's takes ~0.5 s to start one).
 */
export const PYTHON_SPAWNER: HelperProgram = {
  command: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
  args: ['-I', '-S', '-c', NS_SPAWNER_PYTHON],
  label: 'namespace spawner (python3)',
};
