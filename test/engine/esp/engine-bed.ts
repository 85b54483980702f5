// Runs real `myikev2 exec` engines inside namespaces for the data-path
// acceptance tests and the scale benchmark: writes the setup file, starts the
// engine with its own run directory, connects to its API, stops it (PIDs we
// started only) and checks that nothing is left.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { EngineClient } from '../../../src/engine/cli/client.js';
import { waitFor } from '../support/engine-proc.js';

/** The CLI entry of this build (dist/src/cli/main.js), found from the working directory (the repo). */
export const MAIN_JS = resolve('dist/src/cli/main.js');

export interface RunningEngine {
  pid: number;
  ns: string;
  dir: string;
  socket: string;
  api: EngineClient;
  output(): string;
  /** Graceful stop through the API; SIGKILL to our PID if it is not gone within `ms`. Resolves with the exit code. */
  stop(ms?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startEngine(o: { ns: string; dir: string; name: string; setup: Record<string, unknown>; timeoutMs?: number; nodeArgs?: string[] }): Promise<RunningEngine> {
  await mkdir(o.dir, { recursive: true });
  const file = join(o.dir, `${o.name}.yaml`);
  const runDir = join(o.dir, `${o.name}.run`);
  const socket = join(runDir, 'api.sock');
  await writeFile(file, stringify(o.setup), { mode: 0o600 });
  const child: ChildProcess = spawn('ip', ['netns', 'exec', o.ns, process.execPath, ...(o.nodeArgs ?? []), MAIN_JS, 'exec', '-f', file, '--run-dir', runDir, '--no-tcp', '-j'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r((code = c))));
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  while (!existsSync(socket)) {
    if (code !== undefined || Date.now() > deadline) {
      if (code === undefined) child.kill('SIGKILL');
      await exited;
      throw new Error(`engine ${o.name} did not start (exit ${code}):\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const api = await EngineClient.connect({ socket });
  return {
    pid: child.pid!,
    ns: o.ns,
    dir: o.dir,
    socket,
    api,
    output: () => out,
    exited,
    async stop(ms = 15_000) {
      if (code !== undefined) return code;
      await api.request('stop', { graceful: true }).catch(() => undefined);
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      const c = await exited;
      clearTimeout(t);
      return c;
    },
  };
}

/** Whether a process we started is still alive (not a zombie): /proc/PID/stat state. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Polls `fn` until it returns a truthy value or the time is up. */
export { waitFor };

/** Engine setup (YAML keys of the setup file) for the tests and the benchmark. */
export function clientSetup(o: { n: number; bindif: string; startAddr: string; peer: string; psk: string; encalg?: string[]; integ?: string[]; interval?: string; holdtime?: string; extra?: Record<string, unknown>; ike?: Record<string, unknown>; child?: Record<string, unknown> }) {
  return {
    role: 'client',
    desc: 'data-path test client',
    numberoftunnels: o.n,
    startclntaddr: o.startAddr,
    peeraddr: o.peer,
    bindifname: o.bindif,
    setupinterval: '5ms',
    owntsaddrincrease: 1,
    peertsaddrincrease: 0,
    loglevel: 2,
    ikeconf: {
      psk: o.psk,
      dhgrpid: [19],
      ikeencyptalg: ['aes-gcm16:128'],
      ikeprfalg: ['sha256'],
      ...o.ike,
      childlist: [
        {
          encalg: o.encalg ?? ['aes-gcm16:128'],
          ...(o.integ ? { integrityalg: o.integ } : {}),
          ownts: [{ type: 'v4', startaddr: '10.1.0.1', endaddr: '10.1.0.1' }],
          peerts: [{ type: 'v4', startaddr: '10.2.0.0', endaddr: '10.2.255.255' }],
          ...o.child,
        },
      ],
    },
    pingconf: { destaddr: '10.2.0.1', deststep: 0, interval: o.interval ?? '1s', holdtime: o.holdtime ?? '1s', maxlossrate: 10 },
    ...o.extra,
  };
}

export function gatewaySetup(o: { n: number; bindif: string; addr: string; psk: string; encalg?: string[]; extra?: Record<string, unknown>; child?: Record<string, unknown> }) {
  return {
    role: 'gateway',
    desc: 'data-path test gateway',
    numberoftunnels: o.n,
    bindifname: o.bindif,
    bindifaddr: o.addr,
    loglevel: 2,
    ikeconf: {
      psk: o.psk,
      dhgrpid: [19],
      ikeencyptalg: ['aes-gcm16:128'],
      ikeprfalg: ['sha256'],
      childlist: [
        {
          encalg: o.encalg ?? ['aes-gcm16:128'],
          ownts: [{ type: 'v4', startaddr: '10.2.0.0', endaddr: '10.2.255.255' }],
          peerts: [{ type: 'v4', startaddr: '10.1.0.0', endaddr: '10.1.255.255' }],
          ...o.child,
        },
      ],
    },
    ...o.extra,
  };
}
