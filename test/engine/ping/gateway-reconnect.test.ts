// A gateway pinging its clients (pingconf destaddr + deststep) while a client
// is killed (SIGKILL) and started again: real engine processes in two
// namespaces joined by a veth pair that this file creates and removes.
// The restarted client comes back with new IKE SAs (with INITIAL_CONTACT, or
// without: then the gateway's old SAs linger until DPD); the gateway must go
// on pinging every client tunnel at its configured address, and end OK.
// INITIAL_CONTACT replaces the old SAs also when they were set up without it,
// and handshakes that fail (a wrong PSK) use up no tunnel numbers.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsPair, netnsExists, type NetnsPair } from '../../support/strongswan.js';
import { clientYaml, gatewayYaml, PSK, startEngine, SUITES, waitFor, type EngineProc } from '../support/engine-proc.js';
import type { EngineSummary } from '../../../src/engine/program/summary.js';
import type { PingSummary } from '../../../src/engine/esp/data-plane.js';
import type { IkeInfo } from '../../../src/engine/program/describe.js';

const summaryOf = (e: EngineProc) => e.api.request<EngineSummary>('summary');
const pingOf = (e: EngineProc) => e.api.request<PingSummary>('ping.summary');
const ikesOf = async (e: EngineProc) => (await e.api.request<{ sas: IkeInfo[] }>('ike.list')).sas;
/** Tunnel numbers the gateway has a live CHILD SA on now. */
const liveTunnels = async (e: EngineProc) => new Set((await ikesOf(e)).filter((i) => i.state === 'established' && i.children.length).map((i) => i.tunnelId));

const TUNNELS = 3;
const MAXLOSS = 30;
const TARGETS = Array.from({ length: TUNNELS }, (_, k) => `10.10.0.${k + 1}`);

describe('gateway ping targets survive a client restart @integration', function () {
  this.timeout(150_000);
  let net: NetnsPair | undefined;
  let dir: string;
  const engines: EngineProc[] = [];
  const start = async (ns: string, name: string, yaml: string) => {
    const e = await startEngine({ ns, dir, name, yaml });
    engines.push(e);
    return e;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-gwping-'));
    net = await createNetnsPair({ addrA: '172.31.0.2/16', addrB: '172.31.0.1/16' });
  });

  after(async () => {
    for (const e of engines.splice(0).reverse()) await e.kill().catch(() => undefined);
    if (net) {
      await net.destroy();
      assert.equal(await netnsExists(net.nsA), false);
      assert.equal(await netnsExists(net.nsB), false);
    }
    rmSync(dir, { recursive: true, force: true });
    assert.equal(existsSync(dir), false);
  });

  afterEach(async () => {
    const started = engines.splice(0);
    for (const e of [...started].reverse()) await e.kill().catch(() => undefined);
    for (const e of started) assert.ok(e.proc.exitCode !== null || e.proc.signalCode !== null, `engine process ${e.proc.pid} gone`);
  });

  /** first/again: initialcontact of the client and of its restart; badPskFirst: a client with a wrong PSK tries every tunnel once before. */
  async function killAndRestartClient(o: { first: boolean; again: boolean; badPskFirst?: boolean }) {
    const suite = SUITES[2];
    const gw = await start(
      net!.nsB,
      'gateway',
      gatewayYaml({ ifname: net!.ifB, suite, tunnels: TUNNELS }) +
        `pingconf:\n  destaddr: ${TARGETS[0]}\n  deststep: 1\n  interval: 200ms\n  holdtime: 0s\n  maxlossrate: ${MAXLOSS}\n`,
    );
    // client tunnel n answers at 10.10.0.n (its own selector)
    const setup = (ic: boolean) => clientYaml({ ifname: net!.ifA, suite, tunnels: TUNNELS, ping: false, extraIke: `  initialcontact: ${ic}\n` });
    if (o.badPskFirst) {
      const bad = await start(net!.nsA, 'client-bad-psk', setup(o.first).replace(`psk: ${PSK}`, 'psk: not-the-psk').replace('role: client\n', 'role: client\ntunnelmaxretry: 0\n'));
      await waitFor('every tunnel of the wrong-PSK client failed', async () => (await summaryOf(bad)).tunnels.failed === TUNNELS);
      await bad.kill();
    }
    const cl = await start(net!.nsA, 'client', setup(o.first));
    await waitFor(`${TUNNELS} live tunnels`, async () => (await summaryOf(cl)).tunnels.live === TUNNELS && (await liveTunnels(gw)).size === TUNNELS);
    assert.deepEqual([...(await liveTunnels(gw))].sort(), [1, 2, 3], 'numbered 1..N when established, whatever failed before');
    await waitFor('replies on every tunnel before the restart', async () => {
      const p = await pingOf(gw);
      return p.tunnels.length === TUNNELS && p.tunnels.every((t) => t.received >= 3);
    });

    await cl.kill(); // SIGKILL: no DELETE; the gateway still has the old SAs
    assert.equal(cl.proc.signalCode, 'SIGKILL');
    const before = await pingOf(gw);
    const again = await start(net!.nsA, 'client-again', setup(o.again));
    await waitFor(`${TUNNELS} live tunnels again`, async () => (await summaryOf(again)).tunnels.live === TUNNELS, 30_000);

    // One row per configured target, each through a live tunnel, each getting replies again.
    const receivedBefore = (dst: string) => before.tunnels.filter((t) => t.dst === dst).reduce((a, t) => a + t.received, 0);
    const rows = await waitFor(
      'replies on every client tunnel after the restart',
      async () => {
        const [p, live] = await Promise.all([pingOf(gw), liveTunnels(gw)]);
        const ok = p.tunnels.length === TUNNELS && p.tunnels.every((t) => live.has(t.tunnelId) && t.received >= receivedBefore(t.dst) + 10 && t.lossPct < MAXLOSS / 2);
        return ok && p.tunnels;
      },
      60_000,
      500,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${JSON.stringify((await pingOf(gw)).tunnels.map((t) => [t.tunnelId, t.dst, t.sent, t.received, t.lost]))}`);
    });
    assert.deepEqual(rows.map((t) => t.dst).sort(), TARGETS);

    // From here on, no loss to speak of: at most one request per tunnel around a slow moment.
    const a = await pingOf(gw);
    await new Promise((r) => setTimeout(r, 2000));
    const b = await pingOf(gw);
    for (const t of rows) {
      const [ta, tb] = [a, b].map((p) => p.tunnels.find((x) => x.dst === t.dst)!);
      assert.ok(tb.received - ta.received >= 5, `${t.dst} kept receiving: ${ta.received} → ${tb.received}`);
      assert.ok(tb.lost - ta.lost <= 1, `${t.dst} lost ${tb.lost - ta.lost} in 2 s`);
    }
    const created = (await summaryOf(gw)).tunnels.created;
    const gwSas = await ikesOf(gw);

    await gw.api.request('stop', { graceful: true });
    const end = await gw.exited;
    assert.equal(end.summary?.ping?.total.tunnelsOverMaxLoss, 0, JSON.stringify(end.summary?.ping?.tunnels));
    assert.equal(end.summary?.ok, true, end.stdout);
    assert.equal(end.code, 0);
    return { rows, created, before: before.tunnels, gwSas };
  }

  it('INITIAL_CONTACT: every client tunnel pinged at destaddr + k*deststep again under its old number; result OK', async () => {
    const { rows, created, before } = await killAndRestartClient({ first: true, again: true });
    const pairs = (list: { tunnelId: number; dst: string }[]) => list.map((t) => `${t.tunnelId} ${t.dst}`).sort();
    assert.deepEqual(pairs(rows), pairs(before), 'the new SAs took the numbers of those they replaced');
    assert.equal(created, TUNNELS);
  });

  it('no INITIAL_CONTACT (the old SAs linger until DPD): the rows move to the new tunnels, the old ones count no loss; result OK', async () => {
    const { rows, created } = await killAndRestartClient({ first: false, again: false });
    assert.ok(rows.every((t) => t.tunnelId > TUNNELS), JSON.stringify(rows.map((t) => t.tunnelId)));
    assert.equal(created, 2 * TUNNELS);
  });

  it('set up without INITIAL_CONTACT, restarted with it (after a wrong-PSK client): the old SAs go at once, the new ones keep the numbers 1..N; result OK', async () => {
    const { rows, created, before, gwSas } = await killAndRestartClient({ first: false, again: true, badPskFirst: true });
    const pairs = (list: { tunnelId: number; dst: string }[]) => list.map((t) => `${t.tunnelId} ${t.dst}`).sort();
    assert.deepEqual(pairs(rows), pairs(before), 'the new SAs took the numbers of those they replaced');
    assert.equal(created, TUNNELS);
    assert.deepEqual(gwSas.map((sa) => `${sa.tunnelId} ${sa.state}`).sort(), ['1 established', '2 established', '3 established'], 'no old SA lingers');
  });
});
