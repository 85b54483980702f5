// The run's locks are taken server by server in name order, whatever order
// the connections come up in: two commands locking one run at once meet on
// the first server, and one of them gets every lock.
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { MyikeError } from '../../src/errors.js';
import { InTurn } from '../../src/run/servers.js';

describe('run: server steps in turn', () => {
  it('runs each server\'s step in name order, though the servers come up in the opposite order', async () => {
    const turns = new InTurn(['srv3', 'srv1', 'srv2']);
    const ran: string[] = [];
    const up = (name: string, after: number) => sleep(after).then(() => turns.take(name, async () => ran.push(name)));
    await Promise.all([up('srv3', 0), up('srv2', 10), up('srv1', 30)]);
    assert.deepEqual(ran, ['srv1', 'srv2', 'srv3']);
  });

  it('two commands locking at once: the one that gets the first server gets them all; the other takes none after it', async () => {
    const held = new Map<string, string>();
    const lock = (who: string, name: string) => async () => {
      if (held.has(name)) throw new MyikeError('E_RUN_BUSY', `${name} is held by ${held.get(name)}`);
      held.set(name, who);
    };
    const a = new InTurn(['srv1', 'srv2']);
    const b = new InTurn(['srv1', 'srv2']);
    // A's srv1 and B's srv2 come up first: taken as they came, A would hold srv1 and B srv2.
    const results = await Promise.allSettled([
      a.take('srv1', lock('A', 'srv1')),
      b.take('srv2', lock('B', 'srv2')),
      sleep(20).then(() => b.take('srv1', lock('B', 'srv1'))),
      sleep(20).then(() => a.take('srv2', lock('A', 'srv2'))),
    ]);
    assert.deepEqual(Object.fromEntries(held), { srv1: 'A', srv2: 'A' });
    assert.deepEqual(results.map((r) => (r.status === 'rejected' ? (r.reason as MyikeError).code : 'ok')), ['ok', 'E_SKIPPED', 'E_RUN_BUSY', 'ok']);
  });

  it('a server that cannot be reached ends the wait of those after it, whose steps do not run', async () => {
    const turns = new InTurn(['srv1', 'srv2', 'srv3']);
    const ran: string[] = [];
    const later = [turns.take('srv2', async () => ran.push('srv2')), turns.take('srv3', async () => ran.push('srv3'))];
    turns.fail('srv1');
    for (const r of await Promise.allSettled(later)) assert.equal(r.status === 'rejected' && (r.reason as MyikeError).code, 'E_SKIPPED');
    assert.deepEqual(ran, []);
  });
});
