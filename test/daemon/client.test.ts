import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { DaemonClient, DaemonError } from '../../src/daemon/client.js';
import { LineSplitter, encodeLine } from '../../src/daemon/lines.js';
import { negotiateVersion } from '../../src/daemon/protocol.js';

/** Two connected in-memory Duplex ends. */
function streamPair(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [Duplex.from({ readable: bToA, writable: aToB }), Duplex.from({ readable: aToB, writable: bToA })];
}

/** A scripted peer: sends a hello, answers requests with handler(). */
function fakeDaemon(end: Duplex, versions: number[], handler: (m: Record<string, any>) => unknown[]) {
  const seen: Record<string, any>[] = [];
  end.write(encodeLine({ type: 'hello', versions, build: 'sha256:x', features: [], pid: 1, startedAt: 'now', auth: 'none', extra: 'ignored' }));
  const split = new LineSplitter(
    (m) => {
      seen.push(m);
      for (const out of handler(m)) end.write(encodeLine(out));
    },
    () => {},
    () => {},
  );
  end.on('data', (c) => split.push(c));
  end.on('end', () => end.end());
  end.on('error', () => {}); // the in-memory pair aborts both ends together
  return seen;
}

describe('daemon client (in-memory peer)', () => {
  it('negotiates the newest version both speak', () => {
    assert.equal(negotiateVersion([1, 2, 3], [1, 2]), 2);
    assert.equal(negotiateVersion([1], [1, 2]), 1);
    assert.equal(negotiateVersion([2], [1]), null);
  });

  it('says hello with the agreed version and matches responses by id', async () => {
    const [a, b] = streamPair();
    const seen = fakeDaemon(b, [1, 7], (m) => {
      if (m.method === 'hello') return [{ type: 'response', id: m.id, result: { version: m.params.versions[0], build: 'b', features: [], pid: 1, startedAt: 'now', newField: 1 } }];
      // answer out of order: second request first
      if (m.method === 'list') return [];
      if (m.method === 'status') return [
        { type: 'response', id: m.id, result: { pid: 1 } },
        { type: 'response', id: m.id - 1, result: { instances: [] } },
      ];
      return [];
    });
    const c = await DaemonClient.connect(a, { versions: [1, 2] });
    assert.equal(c.session.version, 1);
    assert.deepEqual(seen[0].params.versions, [1]);
    const [list, status] = await Promise.all([c.request('list', {}), c.request('status', {})]);
    assert.deepEqual(list, { instances: [] });
    assert.equal(status.pid, 1);
    await c.close();
    assert.equal(c.closed, true);
  });

  it('sends the requests of one turn in one write (one SSH packet, not one per request)', async () => {
    const [a, b] = streamPair();
    const chunks: string[] = [];
    const write = a.write.bind(a);
    a.write = ((chunk: string, ...rest: never[]) => (chunks.push(String(chunk)), write(chunk, ...rest))) as typeof a.write;
    fakeDaemon(b, [1], (m) => (m.method === 'list' || m.method === 'hello' ? [{ type: 'response', id: m.id, result: m.method === 'hello' ? { version: 1 } : { instances: [] } }] : []));
    const c = await DaemonClient.connect(a);
    chunks.length = 0;
    const results = await Promise.all(Array.from({ length: 50 }, () => c.request('list', {})));
    assert.equal(results.length, 50);
    assert.equal(chunks.length, 1, `${chunks.length} writes`);
    assert.equal(chunks[0].trimEnd().split('\n').length, 50);
    await c.close();
  });

  it('refuses a daemon with no common version', async () => {
    const [a, b] = streamPair();
    fakeDaemon(b, [9], () => []);
    await assert.rejects(DaemonClient.connect(a, { versions: [1] }), (e: any) => e.code === 'E_DAEMON_VERSION');
  });

  it('rejects with the daemon error code, and times out', async () => {
    const [a, b] = streamPair();
    fakeDaemon(b, [1], (m) => {
      if (m.method === 'hello') return [{ type: 'response', id: m.id, result: { version: 1 } }];
      if (m.method === 'status') return [{ type: 'response', id: m.id, error: { code: 'E_NOT_FOUND', message: 'no instance x' } }];
      return [];
    });
    const c = await DaemonClient.connect(a, { timeoutMs: 200 });
    await assert.rejects(c.request('status', { name: 'x' }), (e: any) => e instanceof DaemonError && e.code === 'E_NOT_FOUND' && /no instance x/.test(e.message));
    await assert.rejects(c.request('list', {}), (e: any) => e.code === 'E_DAEMON_TIMEOUT');
    await c.close();
  });

  it('delivers snapshot then queued events, in order, to a late listener', async () => {
    const [a, b] = streamPair();
    fakeDaemon(b, [1], (m) => {
      if (m.method === 'hello') return [{ type: 'response', id: m.id, result: { version: 1 } }];
      if (m.method === 'subscribe') return [
        { type: 'response', id: m.id, result: { subscription: 5, instances: [{ name: 'i1' }] } },
        { type: 'event', subscription: 5, event: 'exited', at: 't', instance: { name: 'i1' } },
        { type: 'event', subscription: 5, event: 'removed', at: 't', instance: { name: 'i1' } },
      ];
      if (m.method === 'unsubscribe') return [{ type: 'response', id: m.id, result: { ok: true } }];
      return [];
    });
    const c = await DaemonClient.connect(a);
    const sub = await c.subscribe();
    assert.deepEqual(sub.initial.map((i) => i.name), ['i1']);
    await new Promise((r) => setTimeout(r, 20));
    const got: string[] = [];
    sub.on('event', (ev) => got.push(ev.event));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ['exited', 'removed']);
    await sub.close();
    assert.equal(sub.closed, true);
    await c.close();
  });

  it('rejects pending requests when the connection drops', async () => {
    const [a, b] = streamPair();
    fakeDaemon(b, [1], (m) => (m.method === 'hello' ? [{ type: 'response', id: m.id, result: { version: 1 } }] : []));
    const c = await DaemonClient.connect(a);
    const closed = new Promise((r) => c.once('close', r));
    const p = c.request('list', {});
    b.destroy();
    await assert.rejects(p, (e: any) => e.code === 'E_DAEMON_CLOSED');
    await closed;
  });
});
