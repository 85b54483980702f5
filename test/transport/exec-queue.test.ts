import assert from 'node:assert/strict';
import { ExecQueue } from '../../src/transport/exec-queue.js';

const transient = new Error('(SSH) Channel open failure: open failed');
const tick = () => new Promise((r) => setImmediate(r));

describe('ExecQueue', () => {
  it('never runs more than the limit at once and runs every task', async () => {
    const q = new ExecQueue({ limit: 3, retries: 0, baseDelayMs: 1, isTransient: () => false });
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        q.run(async () => {
          peak = Math.max(peak, ++running);
          await tick();
          running--;
          return i;
        }),
      ),
    );
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
    assert.equal(peak, 3);
    assert.equal(q.peak, 3);
    assert.equal(q.inFlight, 0);
    assert.equal(q.queued, 0);
  });

  it('retries transient failures with exponential back-off, then succeeds', async () => {
    const delays: number[] = [];
    const q = new ExecQueue({
      limit: 2, retries: 5, baseDelayMs: 10, isTransient: (e) => e === transient,
      sleep: async (ms) => void delays.push(ms), random: () => 0,
    });
    let calls = 0;
    const r = await q.run(async () => {
      if (++calls < 4) throw transient;
      return 'ok';
    });
    assert.equal(r, 'ok');
    assert.deepEqual(delays, [10, 20, 40]);
    assert.equal(q.retried, 3);
  });

  it('gives up after the retry budget with the last error', async () => {
    const q = new ExecQueue({ limit: 1, retries: 2, baseDelayMs: 1, isTransient: () => true, sleep: async () => {} });
    let calls = 0;
    await assert.rejects(q.run(async () => { calls++; throw transient; }), /Channel open failure/);
    assert.equal(calls, 3);
  });

  it('does not retry other errors, and a failure frees the slot', async () => {
    const q = new ExecQueue({ limit: 1, retries: 5, baseDelayMs: 1, isTransient: (e) => e === transient, sleep: async () => {} });
    let calls = 0;
    const bad = q.run(async () => { calls++; throw new Error('boom'); });
    const good = q.run(async () => 'next');
    await assert.rejects(bad, /boom/);
    assert.equal(await good, 'next');
    assert.equal(calls, 1);
    assert.equal(q.inFlight, 0);
  });
});

describe('ExecQueue against a server that accepts fewer channels than the cap', () => {
  it('lowers its cap to what the server accepts and finishes every task', async () => {
    const serverMax = 2;
    let open = 0;
    const q = new ExecQueue({ limit: 6, retries: 8, baseDelayMs: 1, isTransient: (e) => e === transient, sleep: async () => void (await tick()) });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        q.run(async () => {
          if (open >= serverMax) throw transient;
          open++;
          await tick();
          open--;
          return i;
        }),
      ),
    );
    assert.equal(results.length, 30);
    assert.ok(q.limit <= serverMax, `limit ${q.limit}`);
    assert.ok(q.limit >= 1);
    assert.equal(q.inFlight, 0);
  });
});
