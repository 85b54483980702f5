// What the run benchmarks measure: a command's wall time, and how busy the
// whole machine was meanwhile (every process and the kernel, all cores).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { labDown, labUp, type Lab } from '../src/lab/index.js';
import { CLI } from '../test/support/paths.js';

/** CPU seconds the whole machine has spent busy (all cores, every process and the kernel), from /proc/stat. */
export function machineBusySeconds(): number {
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ
}

/** A command's wall time, and the machine's busy CPU time meanwhile (seconds). */
export interface Timed {
  wall: number;
  cpu: number;
}

export function timed(label: string, cmd: string[], env: NodeJS.ProcessEnv): Timed {
  const start = performance.now();
  const busy = machineBusySeconds();
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env, timeout: 1_800_000, maxBuffer: 64 << 20 });
  const s = (performance.now() - start) / 1000;
  const cpu = machineBusySeconds() - busy;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status ?? r.signal}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return { wall: s, cpu };
}

/** How much of the machine a command used: when it is near all of it, the wall time cannot drop below cpu / cores. */
export const cpuUse = (t: Timed) => `machine busy ${t.cpu.toFixed(1)} CPU-s of ${(t.wall * cpus().length).toFixed(1)}, floor at full use ${(t.cpu / cpus().length).toFixed(2)} s`;

/** What a bench works with: the lab, a temp directory, the CLI, and an environment with the controller's state in it. */
export interface Bench {
  lab: Lab;
  tmp: string;
  env: NodeJS.ProcessEnv;
  myikev2: string[];
}

/** Runs fn on a fresh lab of `servers` servers; the lab and the temp directory are removed after, whatever happens. */
export async function withLab(servers: number, fn: (b: Bench) => Promise<void>): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'myikev2-bench-'));
  let lab: Lab | undefined;
  try {
    lab = await labUp({ servers, dir: join(tmp, 'lab') });
    console.log(`lab: ${servers} servers up (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
    await fn({ lab, tmp, env: { ...process.env, MYIKEV2_STATE_DIR: join(tmp, 'state') }, myikev2: [process.execPath, CLI] });
  } finally {
    if (lab) {
      const r = await labDown({ dir: lab.dir });
      if (r.leftovers.length) console.log(`lab down left: ${r.leftovers.join(', ')}`);
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}
