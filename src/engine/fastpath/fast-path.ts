// The kernel fast path at run time: keeps track of which CHILD SAs each
// tunnel has (the first brings the interface, the last takes it away) and
// which policies are in the kernel for whom, and feeds the generated scripts
// to `ip -batch -` on stdin, so keys never appear in a process list or a log.
import { spawn } from 'node:child_process';
import type { ChildSaKeys } from '../child-sa.js';
import { MyikeError } from '../../errors.js';
import { policies, renderInstall, renderRemove, type FastPathOptions, type PolicyLine } from './xfrm-script.js';

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

/**
 * The bookkeeping is done when install/remove is called, and the scripts run
 * in call order wherever they touch the same things, so what the books say is
 * what the kernel will have once the scripts before have run: a second
 * install for a tunnel whose first script still runs adds no policy twice,
 * and a remove called before its install ended deletes what it put in.
 * `ip -batch` stops at the first line that fails, so no script may hold a
 * line the kernel refuses: policies go in with `update` and are deleted only
 * when the books say they are there; the same install or remove twice is done
 * once.
 */
export class KernelFastPath {
  private readonly children = new Map<string, ChildSaKeys>();
  private readonly perTunnel = new Map<number, number>();
  /**
   * Policies in the kernel, by their identity (the delete line): the tunnel
   * that put them in last and its CHILD SAs that use them. Tunnels with equal
   * selectors and no mark share one (a client back without INITIAL_CONTACT
   * while its old SA lives on): the newest takes it over (update), and the
   * old one, when it goes, leaves it.
   */
  private readonly policies = new Map<string, { tunnelId: number; children: Set<string> }>();
  /** The last script still running per thing it touches (a tunnel, a policy). */
  private readonly tail = new Map<string, Promise<unknown>>();

  constructor(
    private readonly opts: FastPathOptions,
    private readonly runScript: ScriptRunner = ipBatchRunner(),
  ) {}

  /**
   * Runs the script after every earlier one that touches any of `keys`: a
   * tunnel's scripts in call order (an SA that replaces another under the
   * same tunnel number by INITIAL_CONTACT removes the old interface and
   * policies before it adds them again), and a policy's across tunnels.
   */
  private after(keys: string[], script: string): Promise<void> {
    const before = keys.map((k) => this.tail.get(k)).filter((p) => p !== undefined);
    const run = Promise.all(before).then(() => this.runScript(script));
    const done = run.catch(() => undefined);
    for (const k of keys) this.tail.set(k, done);
    void done.then(() => keys.forEach((k) => this.tail.get(k) === done && this.tail.delete(k)));
    return run;
  }

  async install(keys: ChildSaKeys): Promise<void> {
    if (this.children.has(keys.childId)) return;
    const n = this.perTunnel.get(keys.tunnelId) ?? 0;
    const mine = policies(keys, this.opts);
    const add = mine.filter((p) => this.policies.get(p.id)?.tunnelId !== keys.tunnelId);
    const script = renderInstall(keys, this.opts, n === 0, add); // throws on what ip xfrm cannot express: before the books change
    this.children.set(keys.childId, keys);
    this.perTunnel.set(keys.tunnelId, n + 1);
    for (const p of add) this.policies.set(p.id, { tunnelId: keys.tunnelId, children: new Set() });
    for (const p of mine) this.policies.get(p.id)!.children.add(keys.childId);
    await this.after([`tunnel ${keys.tunnelId}`, ...add.map((p) => p.id)], script);
  }

  async remove(childId: string): Promise<void> {
    const keys = this.children.get(childId);
    if (!keys) return;
    const n = this.perTunnel.get(keys.tunnelId)!;
    this.children.delete(childId);
    if (n <= 1) this.perTunnel.delete(keys.tunnelId);
    else this.perTunnel.set(keys.tunnelId, n - 1);
    const del: PolicyLine[] = [];
    for (const p of policies(keys, this.opts)) {
      const e = this.policies.get(p.id);
      if (!e || e.tunnelId !== keys.tunnelId) continue; // another tunnel took it over: theirs now
      e.children.delete(childId);
      if (e.children.size) continue;
      this.policies.delete(p.id);
      del.push(p);
    }
    await this.after([`tunnel ${keys.tunnelId}`, ...del.map((p) => p.id)], renderRemove(keys, this.opts, n <= 1, del));
  }
}
