// Named locks a client holds for as long as its connection lasts: a run
// being brought up or torn down holds `run:TAG`, and a second controller
// asking for it is told who has it. Nothing is written down: a controller
// that dies releases its locks with its connection.
import { ErrorCodes } from './protocol.js';
import { RpcError } from './rpc-error.js';

export class Locks {
  private readonly held = new Map<string, { by: object; owner: string; since: string }>();

  /** Takes key for `by` (a connection); again by the same holder is fine. */
  acquire(key: string, by: object, owner: string): void {
    const cur = this.held.get(key);
    if (cur && cur.by !== by) throw new RpcError(ErrorCodes.LOCKED, `${key} is held by ${cur.owner} since ${cur.since}`);
    if (!cur) this.held.set(key, { by, owner, since: new Date().toISOString() });
  }

  release(key: string, by: object): boolean {
    if (this.held.get(key)?.by !== by) return false;
    this.held.delete(key);
    return true;
  }

  releaseAll(by: object): void {
    for (const [key, lock] of this.held) if (lock.by === by) this.held.delete(key);
  }
}
