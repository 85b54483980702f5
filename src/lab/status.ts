// `lab status`: which servers of a recorded lab exist and answer on SSH.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT_USAGE, MyikeError } from '../errors.js';
import { SSH_PORT } from './plan.js';
import { isAlive } from './proc.js';
import { readState, statePath } from './state.js';
import { sshAnswers } from './sys.js';
import { toLab, type Lab } from './types.js';

export interface ServerStatus {
  name: string;
  netns: string;
  sshAddr: string;
  namespace: boolean; // the host-visible network namespace exists
  sshdPid?: number;
  running: boolean; // sshd alive
  answers: boolean; // an SSH banner on sshAddr:22
}

export interface LabStatus {
  id: string;
  dir: string;
  phase: string;
  lab: Lab;
  servers: ServerStatus[];
  healthy: boolean;
}

export async function labStatus(opts: { dir?: string }): Promise<LabStatus> {
  const dir = resolve(opts.dir ?? '.myikev2-lab');
  const state = readState(dir);
  if (!state) {
    throw new MyikeError('E_LAB_NONE', `no lab recorded in ${dir} (no ${statePath(dir)})`, {
      hint: 'bring one up with `myikev2 lab up`, or give the --dir it was brought up with',
      exitCode: EXIT_USAGE,
    });
  }
  const servers = await Promise.all(
    state.plan.servers.map(async (s): Promise<ServerStatus> => {
      const pid = state.runtime[s.name]?.sshdPid;
      return {
        name: s.name,
        netns: s.netns,
        sshAddr: s.sshAddr,
        namespace: existsSync(`/run/netns/${s.netns}`),
        sshdPid: pid,
        running: pid !== undefined && isAlive(pid),
        answers: await sshAnswers(s.sshAddr, SSH_PORT, 1000),
      };
    }),
  );
  return {
    id: state.id,
    dir,
    phase: state.phase,
    lab: toLab(state),
    servers,
    healthy: state.phase === 'up' && servers.every((s) => s.namespace && s.running && s.answers),
  };
}
