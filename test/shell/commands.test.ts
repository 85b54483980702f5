// Shell commands against a fake server: what Ctrl-C does to `cli -t X COMMAND`.
import { strict as assert } from 'node:assert';
import { MyikeError } from '../../src/errors.js';
import type { InstanceRecord } from '../../src/run/manifest.js';
import { RUNNERS, type CommandContext } from '../../src/shell/commands.js';
import { NO_COLOUR } from '../../src/shell/format.js';
import { parseCommand } from '../../src/shell/spec.js';
import type { ExecOptions, ExecResult } from '../../src/transport/transport.js';

const alpha = { name: 'alpha', server: 'srv1', kind: 'other', netns: 'm1234-alpha', daemonName: 'm1234-alpha', runDir: '/run/myikev2/runs/m1234/alpha', dataIf: null } as unknown as InstanceRecord;

describe('shell: commands', () => {
  it('Ctrl-C on cli -t X COMMAND kills its process group on the server and reports the cancel only, whichever ends first', async () => {
    const execs: string[] = [];
    let endCommand!: (r: ExecResult) => void;
    const transport = {
      exec: (command: string, o?: ExecOptions): Promise<ExecResult> => {
        execs.push(command);
        if (execs.length === 1) {
          o?.onStderr?.('@@myikev2-pgid 4711\n');
          return new Promise((r) => (endCommand = r));
        }
        // The kill: the command ends at once, before the kill's own exec returns.
        endCommand({ code: null, signal: 'SIGTERM', stdout: '', stderr: '' });
        return new Promise((r) => setTimeout(() => r({ code: 0, stdout: '', stderr: '' }), 50));
      },
    };
    const session = { known: () => [{ run: 'r', tag: 'm1234', record: alpha }], server: async () => ({ transport }) };
    const errors: string[] = [];
    const abort = new AbortController();
    const ctx = {
      session,
      io: { print: () => {}, write: () => {}, error: (t: string) => errors.push(t), palette: NO_COLOUR, terminal: null },
      signal: abort.signal,
    } as unknown as CommandContext;
    const done = RUNNERS.cli(ctx, parseCommand(['cli', '-t', 'alpha', '--', 'sleep', '30']));
    await new Promise((r) => setImmediate(r));
    abort.abort();
    assert.equal(await done, 130);
    assert.match(execs[1], /^kill -TERM -4711\b/, 'sh (dash) takes no `--` before a process group');
    assert.deepEqual(errors, [], 'no "(exit SIGTERM)": the user cancelled it');
  });

  it('Ctrl-C on stop while the server is still being reached cancels it (nothing stopped); once the stop is sent, Ctrl-C only says so', async () => {
    const record = { ...alpha, destroycmds: '' } as InstanceRecord;
    const context = (server: () => Promise<unknown>, calls: string[]) => {
      const abort = new AbortController();
      const why: string[] = [];
      const ctx = {
        session: { known: () => [{ run: 'r', tag: 'm1234', record }], server, runs: () => [] },
        io: { print: (t: string) => calls.push(`print ${t}`), write: () => {}, error: () => {}, palette: NO_COLOUR, terminal: null },
        signal: abort.signal,
        uninterruptible: (w: string) => why.push(w),
      } as unknown as CommandContext;
      return { ctx, abort, why };
    };
    // A server that does not answer: Ctrl-C ends the command at once, and it was never uninterruptible.
    const unreachable = context(() => new Promise(() => {}), []);
    const pending = RUNNERS.stop(unreachable.ctx, parseCommand(['stop', '-t', 'alpha']));
    await new Promise((r) => setImmediate(r));
    unreachable.abort.abort();
    assert.equal(await pending, 130);
    assert.deepEqual(unreachable.why, []);
    // A server that answers: the command becomes uninterruptible before it sends the stop.
    const calls: string[] = [];
    const daemon = {
      request: async (method: string) => {
        calls.push(method);
        if (method === 'list') return { instances: [{ name: record.daemonName, state: 'running' }] };
        return { removed: 1 };
      },
    };
    const reached = context(async () => ({ daemon, transport: {} }), calls);
    const stopped = RUNNERS.stop(reached.ctx, parseCommand(['stop', '-t', 'alpha']));
    assert.equal(await stopped, 0);
    assert.deepEqual(reached.why, ['stop cannot be interrupted now; the instance is being stopped']);
    assert.deepEqual(calls.slice(0, 3), ['list', 'list', 'stop']);
    assert.match(calls.at(-1)!, /^print instance alpha on srv1 stopped gracefully/);
  });

  it('stop of an instance that is not running says how it ended, as list does (killed by a signal, exit code)', async () => {
    const printed: string[] = [];
    const info = { name: alpha.daemonName, state: 'exited', signal: 'SIGKILL', exitCode: null };
    const daemon = { request: async () => ({ instances: [info] }) };
    const ctx = {
      session: { known: () => [{ run: 'r', tag: 'm1234', record: alpha }], server: async () => ({ daemon }), runs: () => [] },
      io: { print: (t: string) => printed.push(t), write: () => {}, error: () => {}, palette: NO_COLOUR, terminal: null },
      signal: new AbortController().signal,
      uninterruptible: () => {},
    } as unknown as CommandContext;
    assert.equal(await RUNNERS.stop(ctx, parseCommand(['stop', '-t', 'alpha'])), 0);
    assert.deepEqual(printed, ['instance alpha is not running: killed (SIGKILL); nothing to stop']);
  });

  it('stop of a detached other instance (upcmds exited 0) stops what it left: destroycmds, then the daemon\'s stop', async () => {
    const record = { ...alpha, destroycmds: 'ipsec stop' } as InstanceRecord;
    const calls: string[] = [];
    const info = { name: record.daemonName, state: 'exited', signal: null, exitCode: 0 };
    const daemon = {
      request: async (method: string) => {
        calls.push(method);
        return method === 'list' ? { instances: [info] } : { removed: [record.daemonName] };
      },
    };
    const transport = { exec: async (command: string) => (calls.push(`exec ${command}`), { code: 0, stdout: '', stderr: '' }) };
    const ctx = {
      session: { known: () => [{ run: 'r', tag: 'm1234', record }], server: async () => ({ daemon, transport }), runs: () => [] },
      io: { print: (t: string) => calls.push(`print ${t}`), write: () => {}, error: () => {}, palette: NO_COLOUR, terminal: null },
      signal: new AbortController().signal,
      uninterruptible: () => {},
    } as unknown as CommandContext;
    assert.equal(await RUNNERS.stop(ctx, parseCommand(['stop', '-t', 'alpha'])), 0);
    assert.ok(calls.some((c) => c.startsWith('exec ') && c.includes('ipsec stop')), calls.join('\n'));
    assert.ok(calls.includes('stop'), calls.join('\n'));
    assert.match(calls.at(-1)!, /^print instance alpha on srv1 stopped gracefully/);
  });

  it('logs of an instance the daemon does not have and that left no log file does not claim it was stopped (it may never have started)', async () => {
    const daemon = { logs: async () => Promise.reject(new MyikeError('E_NOT_FOUND', 'no instance')) };
    const transport = { exec: async () => ({ code: 0, stdout: '', stderr: '' }) };
    const record = { ...alpha, logdir: '/var/log/myikev2/m1234/alpha' } as InstanceRecord;
    const ctx = {
      session: { known: () => [{ run: 'r', tag: 'm1234', record }], server: async () => ({ daemon, transport }), runs: () => [] },
      io: { print: () => {}, write: () => {}, error: () => {}, palette: NO_COLOUR, terminal: null },
      signal: new AbortController().signal,
    } as unknown as CommandContext;
    await assert.rejects(RUNNERS.logs(ctx, parseCommand(['logs', '-t', 'alpha'])), (e: MyikeError) => {
      assert.match(e.message, /has no instance alpha \(stopped, or it never started\)/);
      assert.match(e.hint!, /no log files of it in \/var\/log\/myikev2\/m1234\/alpha on srv1/);
      return true;
    });
  });

  it('list looks into the namespaces of daemonised other instances (upcmds exited 0): running (detached), or nothing left running', async () => {
    const beta = { ...alpha, name: 'beta', netns: 'm1234-beta', daemonName: 'm1234-beta' } as InstanceRecord;
    const exited0 = (r: InstanceRecord) => ({ name: r.daemonName, tag: 'm1234', netns: r.netns, state: 'exited', exitCode: 0, signal: null, pid: null, restarts: 0 });
    const execs: string[] = [];
    const daemon = { request: async (method: string) => (method === 'list' ? { instances: [exited0(alpha), exited0(beta)] } : {}) };
    // Something runs in alpha's namespace only (the daemon saw both upcmds exit 0).
    const transport = { exec: async (command: string) => (execs.push(command), { code: 0, stdout: 'm1234-alpha\n', stderr: '' }) };
    const printed: string[] = [];
    const ctx = {
      session: { known: () => [alpha, beta].map((record) => ({ run: 'r', tag: 'm1234', record })), forgetGone: async () => {}, server: async () => ({ daemon, transport }), config: { servers: { srv1: {} } } },
      io: { print: (t: string) => printed.push(t), write: () => {}, error: (t: string) => printed.push(`stderr ${t}`), palette: NO_COLOUR, terminal: null },
      signal: new AbortController().signal,
      uninterruptible: () => {},
    } as unknown as CommandContext;
    assert.equal(await RUNNERS.list(ctx, parseCommand(['list', '--json'])), 0);
    assert.deepEqual(JSON.parse(printed.join('\n')).map((r: { instance: string; state: string }) => [r.instance, r.state]), [['alpha', 'running (detached)'], ['beta', 'exited 0, nothing left running in its namespace']]);
    assert.equal(execs.length, 1, 'one look for both');
    assert.match(execs[0], /ip netns pids/);
  });

  it('list on a controller that knows no run names the servers it could not ask (exit 1), not just "no instances"', async () => {
    const printed: string[] = [];
    const ctx = {
      session: {
        known: () => [],
        forgetGone: async () => {},
        config: { servers: { srv1: { statedir: '/run/myikev2/daemon' }, srv2: { statedir: '/run/myikev2/daemon' } } },
        transport: async (name: string) => {
          throw new MyikeError('E_SSH', `cannot connect to root@${name}: Connection refused`);
        },
      },
      io: { print: (t: string) => printed.push(t), write: () => {}, error: (t: string) => printed.push(`stderr ${t}`), palette: NO_COLOUR, terminal: null },
      signal: new AbortController().signal,
      uninterruptible: () => {},
    } as unknown as CommandContext;
    assert.equal(await RUNNERS.list(ctx, parseCommand(['list'])), 1);
    assert.deepEqual(printed, [
      'no instances: def -f RECIPE brings a recipe up',
      'srv1 could not be asked: cannot connect to root@srv1: Connection refused',
      'srv2 could not be asked: cannot connect to root@srv2: Connection refused',
    ]);
  });

  it('list -d with a name every object has (toString, __proto__) is told no such server (exit 2), and no server is asked', async () => {
    const asked: string[] = [];
    const ctx = {
      session: {
        known: () => [],
        config: { servers: { srv1: { statedir: '/run/myikev2/daemon' } } },
        transport: async (name: string) => {
          asked.push(name);
          throw new MyikeError('E_SSH', `cannot connect to root@${name}`);
        },
      },
      io: { print: () => {}, write: () => {}, error: () => {}, palette: NO_COLOUR, terminal: null },
      signal: new AbortController().signal,
      uninterruptible: () => {},
    } as unknown as CommandContext;
    for (const name of ['toString', '__proto__'])
      await assert.rejects(RUNNERS.list(ctx, parseCommand(['list', '-d', name])), (e: MyikeError) => e.message === `no server "${name}" in the controller config` && e.exitCode === 2);
    assert.deepEqual(asked, []);
  });
});
