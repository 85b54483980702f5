// Named locks a client holds for as long as its connection lasts: a run
// being brought up or torn down holds `run:TAG`, and a second controller
// asking for it is told who has it. Nothing is written down: a controller
// that dies releases its locks with its connection.
import { ErrorCodes } from './protocol.js';
import { RpcError } from './rpc-error.js';

/** A lock holder: a client connection, which can be asked whether it is still there. */
export interface Holder {
  /** Sends the client something it ignores; true if the connection closes within ms. */
  closesWithin(ms: number): Promise<boolean>;
}

/**
 * How long a holder's connection is given to close when probed: a reset
 * comes back within a round trip.
 */
const PROBE_MS = 1000;

export class Locks {
  private readonly held = new Map<string, { by: Holder; owner: string; since: string }>();

  /**
   * Takes key for `by` (a connection); again by the same holder is fine.
   * Another holder is probed first: a controller cut off from the server
   * (its network went down, then came back) leaves sshd a connection that
   * looks open until sshd sends on it, maybe for hours; sent something, sshd
   * is reset and closes it, and the lock goes with it.
   */
  async acquire(key: string, by: Holder, owner: string): Promise<void> {
    const cur = this.held.get(key);
    if (cur && cur.by !== by) {
      if (await cur.by.closesWithin(PROBE_MS)) return this.acquire(key, by, owner); // released when it closed
      throw new RpcError(ErrorCodes.LOCKED, `${key} is held by ${cur.owner} since ${cur.since}`);
    }
    if (!cur) this.held.set(key, { by, owner, since: new Date().toISOString() });
  }

  release(key: string, by: Holder): boolean {
    if (this.held.get(key)?.by !== by) return false;
    this.held.delete(key);
    return true;
  }

  releaseAll(by: Holder): void {
    for (const [key, lock] of this.held) if (lock.by === by) this.held.delete(key);
  }
}
