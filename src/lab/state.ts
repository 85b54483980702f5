// DIR/lab.json: written before any change and updated as `up` goes, so that
// `down` can remove everything even after a half-failed or killed `up`.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../daemon/atomic-file.js';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import type { LabPlan } from './plan.js';

export const STATE_FILE = 'lab.json';
export const STATE_VERSION = 1;

export interface ServerRuntime {
  launcherPid?: number; // host PID of the process spawned by `up`
  sshdPid?: number; // host PID of the server's sshd (PID 1 of its PID namespace)
  netNs?: number; // namespace identities, for finding every process of the server
  mntNs?: number;
  pidNs?: number;
}

export interface LabState {
  version: number;
  id: string;
  dir: string; // absolute
  createdDir: boolean; // `up` created DIR, so `down` removes it when empty
  phase: 'creating' | 'up' | 'failed';
  plan: LabPlan;
  files: string[]; // absolute paths `up` created (files first, then directories, deepest last)
  runtime: Record<string, ServerRuntime>;
}

export function statePath(dir: string): string {
  return `${dir}/${STATE_FILE}`;
}

/** Atomic write: temp file, fsync, rename; no reader sees half a file. */
export function writeState(state: LabState): void {
  writeFileAtomic(statePath(state.dir), JSON.stringify(state, null, 2) + '\n');
}

export function readState(dir: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const s = JSON.parse(text) as LabState;
    if (s.version !== STATE_VERSION || typeof s.id !== 'string' || !s.plan) throw new Error('bad shape');
    return s;
  } catch {
    throw new MyikeError('E_LAB_STATE', `${statePath(dir)} is not a lab state file this version understands`, {
      hint: 'it was not written by this version of myikev2 lab; remove the lab by hand (ip netns, ip link) or with the version that created it',
      exitCode: EXIT_USAGE,
    });
  }
}
