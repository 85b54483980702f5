// Mocha helper: a lab of real sshd servers for a describe block.
//
//   describe('transport @integration', () => {
//     const env = useLab({ servers: 2 });
//     it('...', async () => { const srv1 = env.lab.servers[0]; ... });
//   });
//
// before() brings a lab up (random id, temp dir, so labs of parallel test
// files coexist); after() brings it down and fails if anything is left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, type Lab, type LabServer, type LabUpOptions } from '../../src/lab/index.js';

export type { Lab, LabServer };

export function useLab(opts: Omit<LabUpOptions, 'dir'> = {}): { readonly lab: Lab } {
  let lab: Lab | undefined;
  let tmp: string | undefined;
  before(async function () {
    this.timeout(60_000);
    tmp = mkdtempSync(join(tmpdir(), 'myikev2-lab-test-'));
    lab = await labUp({ ...opts, dir: join(tmp, 'lab') });
  });
  after(async function () {
    this.timeout(60_000);
    if (!tmp) return;
    const dir = join(tmp, 'lab');
    let leftovers: string[] = [];
    if (existsSync(join(dir, 'lab.json'))) leftovers = (await labDown({ dir })).leftovers;
    if (!leftovers.length) rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(leftovers, [], 'lab down left things behind');
  });
  return {
    get lab(): Lab {
      if (!lab) throw new Error('the lab is not up (did before() fail?)');
      return lab;
    },
  };
}

/** OpenSSH client arguments for a lab server, strict host-key checking on. */
export function sshArgs(lab: Lab, server: LabServer): string[] {
  return [
    '-i', lab.keyPath,
    '-o', `UserKnownHostsFile=${lab.knownHostsPath}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=10',
    '-p', String(server.sshPort),
    `root@${server.sshAddr}`,
  ];
}

/** Runs a command on a lab server with the plain ssh client. */
export function sshRun(lab: Lab, server: LabServer, command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...sshArgs(lab, server), command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** What a run may change on a server. The daemon's statedir and bundle cache are meant to stay. */
const SERVER_STATE = [
  "ip -all netns list 2>/dev/null | awk '{print $1}' | sort",
  "ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort",
  "ip -o addr show | awk '{print $2, $4}' | sort",
  'ip -4 route show | sort; ip -6 route show | sort',
  // The pipeline's own members show up as the shell (before exec) or as themselves, depending on timing.
  "ps -eo args= | grep -v -E '^(ps|sort|grep|sh -c|bash -c|\\[)' | grep -v 'sshd' | sort",
  // /run is the server's own; /var/log is shared with this machine, so only the run's part of it is compared.
  'find /run -path /run/myikev2/daemon -prune -o -path /run/sshd -prune -o -print 2>/dev/null | grep -vx /run/myikev2 | sort',
  'ls -d /var/log/myikev2/TAG 2>/dev/null',
].join("; echo '---'; ");

/** A snapshot of a lab server's namespaces, links, addresses, routes, processes and files (compare before and after). */
export async function serverState(lab: Lab, server: LabServer, tag: string): Promise<string> {
  return (await sshRun(lab, server, SERVER_STATE.replace('TAG', tag))).stdout;
}
