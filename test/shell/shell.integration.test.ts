// `myikev2 shell` against a lab of two real sshd servers: driven by scripts
// (--exec, stdin; exit codes) and in a real terminal (tmux: a pseudo-terminal
// with line editing, Tab, Ctrl-C, events above the prompt, a PTY over SSH into
// an instance's namespace). Everything is torn down and checked gone.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTag } from '../../src/run/names.js';
import { sshRun, useLab } from '../support/lab.js';
import { CLI, PROJECT_ROOT } from '../support/paths.js';

const NAME = `shell-test-${process.pid}`;
const TAG = runTag(NAME);
// Its own server socket, removed after (tmux leaves the socket file of a killed server behind).
const TMUX_SOCKET = join(tmpdir(), `myikev2-shell-tmux-${process.pid}.sock`);
const TMUX = ['-S', TMUX_SOCKET];

const RECIPE = `name: ${NAME}
instancelist:
  1:
    name: alpha
    daemonname: srv1
    other:
      upcmds: exec sleep 3600
      dataif: data0
      dataifaddr: 10.66.0.1/24
  2:
    name: beta
    daemonname: srv2
    other:
      upcmds: exec sleep 3600
      dataif: data0
      dataifaddr: 10.66.0.2/24
`;

/** A recipe whose second instance starts 5 s after the first: time for a Ctrl-C. */
const SLOW = `name: ${NAME}-slow
instancelist:
  1:
    name: first
    daemonname: srv1
    other:
      upcmds: exec sleep 3600
  2:
    name: second
    daemonname: srv2
    waitinterval: 5s
    other:
      upcmds: exec sleep 3600
`;

describe('myikev2 shell on the lab @integration', function () {
  this.timeout(240_000);
  let tmp = '';
  let recipe = '';
  let slow = '';
  let history = '';
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.NO_COLOR;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'myikev2-shell-test-'));
    recipe = join(tmp, 'recipe.yaml');
    slow = join(tmp, 'slow.yaml');
    history = join(tmp, 'history');
    writeFileSync(recipe, RECIPE);
    writeFileSync(slow, SLOW);
    Object.assign(env, { MYIKEV2_STATE_DIR: join(tmp, 'state'), MYIKEV2_SHELL_HISTORY: history });
  });
  const shell = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, 'shell', '-c', labRef.lab.controllerConfigPath, ...args], { encoding: 'utf8', env, input, timeout: 120_000 });

  /** What the run may leave on a server: namespaces, instance processes, the daemon. */
  const leftovers = async () =>
    (
      await Promise.all(
        labRef.lab.servers.map(async (s) => (await sshRun(labRef.lab, s, `ip netns list | grep '^${TAG}-'; ps -eo args= | grep -E '^(sleep 3600|node .*myikev2-(server|daemon).mjs (daemon|exec))'; ls /run/myikev2/runs 2>/dev/null`)).stdout),
      )
    ).join('');

  // Registered before useLab's hooks, so it runs before the lab goes down. It
  // must not throw (a failed hook would skip the lab's): the check is below.
  let left = '';
  after(async function () {
    this.timeout(120_000);
    spawnSync('tmux', [...TMUX, 'kill-server']);
    rmSync(TMUX_SOCKET, { force: true });
    if (!tmp) return;
    // Runs a failed test left behind.
    const runs = join(tmp, 'state', 'runs');
    for (const f of existsSync(runs) ? readdirSync(runs).filter((x) => x.endsWith('.json')) : []) {
      const { name } = JSON.parse(readFileSync(join(runs, f), 'utf8'));
      spawnSync(process.execPath, [CLI, 'teardown', '--force', '--no-logs', '-c', labRef.lab.controllerConfigPath, '--name', name], { env, encoding: 'utf8' });
    }
    left = await leftovers().catch((e: Error) => `cannot check: ${e.message}`);
    rmSync(tmp, { recursive: true, force: true });
  });
  const labRef = useLab({ servers: 2 });
  after(() => {
    assert.equal(left, '', 'nothing of the run is left on the servers');
    assert.equal(existsSync(TMUX_SOCKET), false, 'no tmux socket left');
  });

  const tmux = (...args: string[]) => spawnSync('tmux', [...TMUX, ...args], { encoding: 'utf8', env });
  // The whole pane with its history; trailing blanks of lines and of the screen dropped.
  const screen = () =>
    tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'sh')
      .stdout.split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .trimEnd();
  const keys = (...k: string[]) => assert.equal(tmux('send-keys', '-t', 'sh', ...k).status, 0);
  const type = (text: string) => {
    keys('-l', text);
    keys('Enter');
  };
  /** Waits until the screen (from `from` on) matches. */
  const waitFor = async (re: RegExp, from = 0, ms = 60_000): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = screen().slice(from);
      if (re.test(s)) return s;
      if (Date.now() > deadline) assert.fail(`screen does not show ${re} within ${ms} ms:\n${s}`);
      await sleep(200);
    }
  };
  /** Where the current line starts (output from here on belongs to what is typed next). */
  const mark = () => screen().lastIndexOf('\n') + 1;
  const prompt = new RegExp(`myikev2 \\(${NAME}\\)>$`);

  /** Starts the shell in a tmux pane (a real pseudo-terminal). */
  const startInTmux = () => {
    const cmd = `${process.execPath} ${CLI} shell -c ${labRef.lab.controllerConfigPath}; echo SHELL-EXITED:$?; sleep 60`;
    assert.equal(tmux('new-session', '-d', '-s', 'sh', '-x', '200', '-y', '50', cmd).status, 0);
  };
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  /** Types a command and waits for its output to end with `end` (a prompt) after the command's own line. */
  const run = async (cmd: string, end: RegExp = prompt, ms?: number): Promise<string> => {
    const m = mark();
    type(cmd);
    return waitFor(new RegExp(`${esc(cmd)}\\n[\\s\\S]*${end.source}`), m, ms);
  };

  describe('scripted (--exec, stdin)', () => {
    it('a run torn down from another controller is forgotten: list says so, shows none of it, and starts no daemon', async () => {
      const name = `${NAME}-gone`;
      const file = join(tmp, 'gone.yaml');
      writeFileSync(file, RECIPE.replace(`name: ${NAME}`, `name: ${name}`).replace(/      dataif.*\n/g, ''));
      assert.equal(shell(['--exec', `def -f ${file}`]).status, 0);
      const other = spawnSync(process.execPath, [CLI, 'teardown', '--no-logs', '-c', labRef.lab.controllerConfigPath, '--name', name], { encoding: 'utf8', env: { ...env, MYIKEV2_STATE_DIR: join(tmp, 'other-state') } });
      assert.equal(other.status, 0, other.stderr + other.stdout);
      const r = shell(['--exec', 'list']);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.match(r.stderr, new RegExp(`run "${name}" \\(tag ${runTag(name)}\\): server srv1 has no record of it any more \\(torn down from another controller\\?\\)`));
      assert.match(r.stderr, /none of its servers has it: the run is forgotten here/);
      assert.doesNotMatch(r.stdout, /alpha|beta/, 'none of its instances is listed (as stopped)');
      assert.equal(existsSync(join(tmp, 'state', 'runs', `${runTag(name)}.json`)), false, 'the record is gone');
      for (const s of labRef.lab.servers) assert.notEqual((await sshRun(labRef.lab, s, "pgrep -f '[m]yikev2-daemon.mjs'")).code, 0, `no daemon was started on ${s.name}`);
    });

    it('runs --exec commands in order; exit 0 when all work', async () => {
      const r = shell(['--exec', `def -f ${recipe}; list; cli -t alpha -- ip -4 -o addr show dev data0; list --json; cli -t alpha 'printf a >&2; sleep 0.3; echo b >&2; printf c >&2; sleep 0.3; echo >&2'`]);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      // stderr written in pieces keeps its lines: no line broken in two, no blank line added.
      assert.ok(r.stderr.includes('ab\nc\n') && !r.stderr.includes('c\n\n'), r.stderr);
      assert.match(r.stdout, new RegExp(`run "${NAME}" \\(tag ${TAG}\\) is up`));
      assert.match(r.stdout, new RegExp(`alpha +srv1 +${TAG}-alpha +running`));
      assert.match(r.stdout, new RegExp(`beta +srv2 +${TAG}-beta +running`));
      // The command ran inside alpha's namespace on srv1: its data interface with the recipe's address.
      assert.match(r.stdout, /data0 +inet 10\.66\.0\.1\/24/);
      const json = JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('\n[\n') + 1));
      assert.deepEqual(json.map((x: { instance: string; state: string; server: string }) => [x.instance, x.server, x.state]), [['alpha', 'srv1', 'running'], ['beta', 'srv2', 'running']]);
    });

    it('reads commands from stdin; the exit code reports a failed command, the others still run', () => {
      const r = shell([], 'list -d srv2\nstop -t nosuch\ncli -t beta -- false\nlist -d srv1\n');
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /no instance "nosuch"/);
      assert.match(r.stderr, /hint: known instances: alpha, beta/);
      assert.match(r.stderr, /\(exit 1\)/);
      assert.match(r.stdout, /beta +srv2 .*running/);
      assert.match(r.stdout, /alpha +srv1 .*running/, 'commands after the failures ran');
      // A controller that does not know the run still sees what srv1's daemon runs.
      const stranger = spawnSync(process.execPath, [CLI, 'shell', '-c', labRef.lab.controllerConfigPath, '--exec', 'list -d srv1'], {
        encoding: 'utf8',
        env: { ...env, MYIKEV2_STATE_DIR: join(tmp, 'other-controller') },
      });
      assert.equal(stranger.status, 0, stranger.stderr);
      assert.match(stranger.stdout, new RegExp(`\\(tag ${TAG}, not known here\\) +${TAG}-alpha +srv1 +${TAG}-alpha +running`));
      // Knowing no run at all, plain list asks every server's daemon: the run shows, not "no instances".
      const all = spawnSync(process.execPath, [CLI, 'shell', '-c', labRef.lab.controllerConfigPath, '--exec', 'list'], { encoding: 'utf8', env: { ...env, MYIKEV2_STATE_DIR: join(tmp, 'other-controller') } });
      assert.equal(all.status, 0, all.stderr);
      assert.match(all.stdout, new RegExp(`\\(tag ${TAG}, not known here\\) +${TAG}-alpha +srv1 +${TAG}-alpha +running`));
      assert.match(all.stdout, new RegExp(`\\(tag ${TAG}, not known here\\) +${TAG}-beta +srv2 +${TAG}-beta +running`));
    });

    it('Ctrl-C ends cli -t X COMMAND on the server too (exit 130)', async () => {
      const srv1 = labRef.lab.servers[0];
      const sleeping = async () => (await sshRun(labRef.lab, srv1, `ps -eo args= | grep -x 'sleep 297' || true`)).stdout;
      const child = spawn(process.execPath, [CLI, 'shell', '-c', labRef.lab.controllerConfigPath, '--exec', 'cli -t alpha -- sleep 297; help'], { env });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        for (let i = 0; i < 100 && !(await sleeping()); i++) await sleep(200);
        assert.notEqual(await sleeping(), '', 'the command runs on srv1');
        child.kill('SIGINT');
        assert.equal(await exited, 130, out);
      } finally {
        child.kill('SIGKILL');
      }
      for (let i = 0; i < 25 && (await sleeping()); i++) await sleep(200);
      assert.equal(await sleeping(), '', 'the command was ended on the server');
    });

    it('--errexit stops at the first failure; a bad line changes nothing', () => {
      const r = shell(['--errexit', '--exec', 'cli -t alpha -- exit 3; stop -t alpha']);
      assert.equal(r.status, 1);
      const l = shell(['--exec', 'list -d srv1']);
      assert.match(l.stdout, /alpha +srv1 .*running/, 'the stop after the failure did not run');
    });

    it('refuses a destructive command on many instances without a terminal unless -y', async () => {
      const r = shell(['--exec', 'teardown']);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /needs confirmation[\s\S]*add -y/);
      assert.match(shell(['--exec', 'list']).stdout, /alpha .*running/);
      const t = shell(['--exec', 'teardown -y; list']);
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stdout, new RegExp(`run "${NAME}" torn down; verified clean on 2 server\\(s\\)`));
      assert.match(t.stdout, /no instances: def -f RECIPE/);
      assert.equal(await leftovers(), '');
    });

    it('Ctrl-C ends a script: def is cancelled and rolled back, and nothing after it runs (exit 130)', async () => {
      const child = spawn(process.execPath, [CLI, 'shell', '-c', labRef.lab.controllerConfigPath, '--exec', `def -f ${slow}; help`], { env });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        // The first wave is up; the second waits its 5 s.
        for (let i = 0; i < 300 && !/wave 1: 1 instance\(s\) up/.test(out); i++) await sleep(100);
        assert.match(out, /wave 1: 1 instance\(s\) up/);
        child.kill('SIGINT');
        assert.equal(await exited, 130, out);
      } finally {
        child.kill('SIGKILL');
      }
      assert.match(out, /rolling back what it created/);
      assert.doesNotMatch(out, /bring a recipe up/, 'help did not run');
      const slowTag = runTag(`${NAME}-slow`);
      for (const s of labRef.lab.servers) assert.equal((await sshRun(labRef.lab, s, `ip netns list | grep '^${slowTag}-' || true`)).stdout, '', s.name);
    });
  });

  describe('myikev2 instances (examples/starter: an engine gateway and a client with 10 tunnels)', () => {
    const starter = join(PROJECT_ROOT, 'examples', 'starter', 'recipe.yaml');
    const pingSent = (out: string) => {
      const m = /client +srv1 .* (\d+)\/(\d+) +(\d+)\/(\d+) [\d.]+%/.exec(out);
      assert.ok(m, `no engine figures for the client in:\n${out}`);
      return { live: Number(m[1]), configured: Number(m[2]), sent: Number(m[3]), received: Number(m[4]) };
    };

    it('list shows live tunnels and ping figures from the engines; clearping resets them; cli -t runs engine CLI commands; stop', async () => {
      const up = shell(['--exec', `def -f ${starter}`]);
      assert.equal(up.status, 0, up.stderr + up.stdout);
      let stats = { live: 0, configured: 0, sent: 0, received: 0 };
      for (let i = 0; i < 40 && !(stats.live === 10 && stats.received >= 3); i++) {
        await sleep(500);
        stats = pingSent(shell(['--exec', 'list']).stdout);
      }
      assert.deepEqual([stats.live, stats.configured], [10, 10]);
      assert.ok(stats.received >= 3, `pings received through the tunnels: ${JSON.stringify(stats)}`);
      const list = shell(['--exec', 'list']).stdout;
      assert.match(list, /gateway +srv2 .*running .* 10\/10 +off/);

      // The figures just before and just after, in one shell: the client pings every second, and on a
      // busy machine separate shell starts leave it time to send as many again.
      const cleared = shell(['--exec', 'list; clearping -t client; list']);
      assert.equal(cleared.status, 0, cleared.stderr);
      assert.match(cleared.stdout, /ping statistics reset on 1 instance/);
      const [before, after] = cleared.stdout.split(/^.*ping statistics reset on 1 instance.*$/m);
      assert.ok(pingSent(after).sent < pingSent(before).sent, `after clearping: ${cleared.stdout}`);
      const other = shell(['--exec', 'clearping -t nosuch']);
      assert.equal(other.status, 2);

      const summary = shell(['--exec', 'cli -t client -- summary']);
      assert.equal(summary.status, 0, summary.stderr);
      assert.match(summary.stdout, /tunnels: configured 10, created 10, live 10/);

      // In a terminal: the engine's own CLI on a PTY over SSH; quit comes back. The only run is the one in use.
      startInTmux();
      const starterPrompt = /myikev2 \(starter\)>$/;
      await waitFor(starterPrompt);
      await run('cli -t client', /engine client>$/);
      assert.match(await run('summary', /engine client>$/), /tunnels: configured 10, created 10, live 10/);
      await run('quit', new RegExp(`back in myikev2\\n${starterPrompt.source}`));
      // Ctrl-D leaves too, and ends the engine's prompt line first.
      await run('cli -t client', /engine client>$/);
      const m = mark();
      keys('C-d');
      await waitFor(new RegExp(`engine client>\\nback in myikev2\\n${starterPrompt.source}`), m);
      // `shell`: a system shell on the controller (a PTY of its own through script); exit comes back.
      await run('shell', /on this machine; exit or Ctrl-D returns to myikev2[\s\S]*[#$]$/);
      assert.match(await run('echo "sum $((6*7))"', /[#$]$/), /\nsum 42\n/);
      await run('exit', new RegExp(`back in myikev2\\n${starterPrompt.source}`));
      // Leaving takes nothing down, and says so.
      const bye = await run('exit', /SHELL-EXITED:0$/, 10_000);
      assert.match(bye, /still up: run "starter" \(2 instance\(s\)\); myikev2 teardown -c \S+ --name starter removes it/);
      tmux('kill-server');

      const none = shell(['--exec', 'logs -t gateway -n 0']);
      assert.equal(none.status, 0, none.stderr);
      assert.equal(none.stdout, '', 'no lines asked for: none shown, and not "(no output yet)"');
      const stop = shell(['--exec', 'stop -t client; list -d srv1']);
      assert.equal(stop.status, 0, stop.stderr);
      assert.match(stop.stdout, /client +srv1 +\S+ +stopped/);
      assert.match(stop.stdout, new RegExp(`stopped gracefully; def -f ${esc(starter)} starts it again`));
      // A stopped engine has no CLI: said so, with how to start it again (not the engine CLI's --socket hint).
      const gone = shell(['--exec', 'cli -t client -- summary']);
      assert.equal(gone.status, 1, gone.stderr);
      assert.match(gone.stderr, /instance client is not running \(stopped\)[\s\S]*hint: logs -t client shows its last words; def -f \S+recipe\.yaml starts it again/);
      // Stopped, the daemon has forgotten it: logs reads its files on the server (the engine's last words: its summary).
      const logs = shell(['--exec', 'logs -t client -n 40']);
      assert.equal(logs.status, 0, logs.stderr);
      assert.match(logs.stdout, /client is stopped: its log files on srv1/);
      assert.match(logs.stdout, /tunnels: configured 10/);
      assert.equal(shell(['--exec', 'logs -t client -f']).status, 1, 'nothing to follow');
      const down = shell(['--exec', 'teardown -y']);
      assert.equal(down.status, 0, down.stderr);
      assert.equal(await leftovers(), '');
    });
  });

  describe('in a terminal (tmux)', () => {
    it('def, list, cli -t (PTY into the namespace), stop, an outside kill and a lost daemon announced, teardown, exit', async () => {
      startInTmux();
      await waitFor(/myikev2>$/);

      // Ctrl-C drops the line being typed; nothing runs.
      keys('-l', 'stop -t alpha');
      await waitFor(/myikev2> stop -t alpha$/);
      keys('C-c');
      await waitFor(/stop -t alpha\^C\nmyikev2>$/);

      // Ctrl-C during def cancels it between steps and rolls back what it created.
      let m = mark();
      type(`def -f ${slow}`);
      await waitFor(/after 5000 ms: second/, m, 30_000);
      keys('C-c');
      let s = await waitFor(/error: cancelled[\s\S]*myikev2>$/, m, 30_000);
      assert.match(s, /rolling back/);
      const slowTag = runTag(`${NAME}-slow`);
      for (const srv of labRef.lab.servers) assert.equal((await sshRun(labRef.lab, srv, `ip netns list | grep '^${slowTag}-'; ls /run/myikev2/runs/${slowTag} 2>&1 >/dev/null | grep -v 'No such'`)).stdout, '', `${srv.name} after the cancelled def`);
      assert.match(await run('list', /myikev2>$/), /no instances/);

      s = await run(`def -f ${recipe}`);
      assert.match(s, new RegExp(`run "${NAME}" \\(tag ${TAG}\\) is up`));

      s = await run('list');
      assert.match(s, new RegExp(`alpha +srv1 +${TAG}-alpha +running +fd[0-9a-f:]+ +\\d+s +0`));
      assert.match(s, new RegExp(`beta +srv2 +${TAG}-beta +running`));
      // In a narrow terminal the table fits: the least needed columns are left out, and it says so.
      assert.equal(tmux('resize-window', '-t', 'sh', '-x', '60').status, 0);
      s = await run('list');
      assert.match(s, /^INSTANCE +SERVER +STATE\b/m);
      assert.match(s, new RegExp(`^alpha +srv1 +running +fd[0-9a-f:]+\\b`, 'm'));
      assert.match(s, /^\(not shown: NAMESPACE(, [A-Z ]+)*; list -w shows all\)$/m);
      const shown = s.split('\n').slice(1, -1);
      assert.deepEqual(shown.filter((l) => l.length > 60), [], 'every line fits the 60 columns');
      assert.equal(tmux('resize-window', '-t', 'sh', '-x', '200').status, 0);

      // Tab completes the instance name; the session is a root shell in alpha's namespace on srv1.
      m = mark();
      keys('-l', 'cli -t alp');
      keys('Tab');
      await waitFor(/cli -t alpha$/, m);
      keys('Enter');
      const bashPrompt = new RegExp(`\\[alpha@srv1 netns ${TAG}-alpha\\] [^\\n]*#$`);
      await waitFor(bashPrompt, m);
      s = await run('ip addr', bashPrompt);
      assert.match(s, /mgmt0@/);
      assert.match(s, /inet 10\.66\.0\.1\/24 scope global data0/);
      assert.doesNotMatch(s, /10\.66\.0\.2/);
      // Ctrl-C reaches the remote program, not the controller shell.
      m = mark();
      type('sleep 30; echo NOT-INTERRUPTED');
      await waitFor(/sleep 30; echo NOT-INTERRUPTED$/, m);
      await sleep(500);
      keys('C-c');
      s = await waitFor(new RegExp(`\\^C\\n${bashPrompt.source}`), m, 5000);
      assert.doesNotMatch(s, /\nNOT-INTERRUPTED/);
      await run('exit', new RegExp(`back in myikev2\\n${prompt.source}`));

      // Ctrl-C cancels a command run in the instance; the terminal's own ^C echo is not doubled.
      m = mark();
      type('cli -t alpha -- sleep 30');
      await waitFor(/-- sleep 30$/, m);
      await sleep(1000);
      keys('C-c');
      s = await waitFor(new RegExp(`\\^C cancelled\\n${prompt.source}`), m, 10_000);
      assert.doesNotMatch(s, /\^C\^C/);

      s = await run('stop -t alpha');
      assert.match(s, /instance alpha on srv1 stopped gracefully/);
      s = await run('list');
      assert.match(s, /alpha +srv1 +\S+ +stopped/);
      assert.match(s, /beta +srv2 +\S+ +running/);

      // An instance killed from outside is announced above the line being typed, which survives.
      m = mark();
      keys('-l', 'lis');
      await waitFor(/> lis$/, m);
      const pid = (await sshRun(labRef.lab, labRef.lab.servers[1], `ip netns pids ${TAG}-beta`)).stdout.trim();
      assert.match(pid, /^\d+$/);
      await sshRun(labRef.lab, labRef.lab.servers[1], `kill -9 ${pid}`);
      await waitFor(new RegExp(`instance beta on srv2 exited: killed by SIGKILL\\n${prompt.source.slice(0, -1)} lis$`), m, 20_000);
      keys('-l', 't');
      keys('Enter');
      s = await waitFor(new RegExp(`> list\\n[\\s\\S]*${prompt.source}`), m);
      assert.match(s, /beta +srv2 +\S+ +killed \(SIGKILL\)/);

      // The daemon of srv1 dies: the connection loss is announced, and its return once a daemon answers again.
      m = mark();
      await sshRun(labRef.lab, labRef.lab.servers[0], `kill -9 $(pgrep -f 'myikev2-(server|daemon).mjs daemon')`);
      await waitFor(/server srv1: connection to the daemon lost .*; reconnecting/, m, 20_000);
      await waitFor(/server srv1: connection regained/, m, 45_000);
      s = await run('list');
      assert.match(s, /alpha +srv1 +\S+ +stopped/);

      // teardown of two instances asks first (inquirer); n keeps everything, y tears down.
      s = await run('teardown', /\(y\/N\)$/);
      assert.match(s, new RegExp(`Tear down run "${NAME}": stop 2 instances`));
      m = mark();
      keys('n');
      keys('Enter');
      await waitFor(new RegExp(`nothing changed\\n${prompt.source}`), m);
      assert.match(await run('list'), /alpha +srv1/);
      s = await run('teardown', /\(y\/N\)$/);
      m = mark();
      keys('y');
      keys('Enter');
      s = await waitFor(/myikev2>$/, m);
      assert.match(s, new RegExp(`run "${NAME}" torn down; verified clean on 2 server\\(s\\)`));
      // The progress view redraws its lines in place: no frame of a server's line is left behind.
      assert.doesNotMatch(s, /[◼⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] srv\d/);
      assert.doesNotMatch(await run('exit', /SHELL-EXITED:0$/, 10_000), /still up/);
      assert.equal(await leftovers(), '');
      const h = readFileSync(history, 'utf8');
      assert.match(h, /^def -f .*\nlist\nlist\ncli -t alpha\n/m, 'history kept on disk');
    });
  });
});
