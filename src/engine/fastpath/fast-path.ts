// The kernel fast path at run time: keeps track of which CHILD SAs each
// tunnel has (the first brings the policies and interface, the last takes
// them away) and feeds the generated scripts to `ip -batch -` on stdin, so
// keys never appear in a process list or a log.
import { spawn } from 'node:child_process';
import type { ChildSaKeys } from '../child-sa.js';
import { MyikeError } from '../../errors.js';
import { renderInstall, renderRemove, type FastPathOptions } from './xfrm-script.js';

export type ScriptRunner = (script: string) => Promise<void>;

/** Runs a script with `ip [-n NETNS] -batch -`. Errors carry ip's message (never the script: it holds keys). */
export function ipBatchRunner(netns?: string): ScriptRunner {
  return (script) =>
    new Promise((resolve, reject) => {
      const child = spawn('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0
          ? resolve()
          : reject(new MyikeError('E_FASTPATH', `ip -batch failed installing/removing kernel SAs: ${stderr.trim().split('\n').slice(-2).join(' ')}`, { hint: 'check the kernel supports ESP (see the start-up check) and the selectors; loglevel 5 shows the SPIs' })),
      );
      child.stdin.end(script);
    });
}

export class KernelFastPath {
  private readonly children = new Map<string, ChildSaKeys>();
  private readonly perTunnel = new Map<number, number>();
  /** The last script of each tunnel still running. */
  private readonly tail = new Map<number, Promise<unknown>>();

  constructor(
    private readonly opts: FastPathOptions,
    private readonly runScript: ScriptRunner = ipBatchRunner(),
  ) {}

  /**
   * A tunnel's scripts run one after the other, in call order: an SA that
   * replaces another under the same tunnel number (INITIAL_CONTACT) removes
   * the old policies before it adds the same ones again.
   */
  private inOrder(tunnelId: number, script: string): Promise<void> {
    const run = (this.tail.get(tunnelId) ?? Promise.resolve()).then(() => this.runScript(script));
    const done = run.catch(() => undefined);
    this.tail.set(tunnelId, done);
    void done.then(() => this.tail.get(tunnelId) === done && this.tail.delete(tunnelId));
    return run;
  }

  async install(keys: ChildSaKeys): Promise<void> {
    const n = this.perTunnel.get(keys.tunnelId) ?? 0;
    await this.inOrder(keys.tunnelId, renderInstall(keys, this.opts, n === 0));
    this.children.set(keys.childId, keys);
    this.perTunnel.set(keys.tunnelId, n + 1);
  }

  async remove(childId: string): Promise<void> {
    const keys = this.children.get(childId);
    if (!keys) return;
    const n = this.perTunnel.get(keys.tunnelId)!;
    this.children.delete(childId);
    if (n <= 1) this.perTunnel.delete(keys.tunnelId);
    else this.perTunnel.set(keys.tunnelId, n - 1);
    await this.inOrder(keys.tunnelId, renderRemove(keys, this.opts, n <= 1));
  }
}
