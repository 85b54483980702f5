// Two engine runtimes in this process on loopback addresses (no root, no
// namespace): the program, its API server and the CLI commands end to end.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { CLI } from '../../support/paths.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSetupFile } from '../../../src/model/setup.js';
import { EngineRuntime } from '../../../src/engine/program/runtime.js';
import { ApiServer } from '../../../src/engine/api/server.js';
import { EngineClient } from '../../../src/engine/cli/client.js';
import { runLine } from '../../../src/engine/cli/repl.js';
import { waitFor } from '../support/engine-proc.js';
import { formatSummary, type EngineSummary } from '../../../src/engine/program/summary.js';

const base = 20000 + (process.pid % 5000) * 2;
const ports = { ike: base, natt: base + 1 };
const third = 1 + (process.pid % 200);

describe('engine runtime on loopback (program + API + CLI)', function () {
  this.timeout(30_000);
  let dir: string;
  let gw: EngineRuntime;
  let cl: EngineRuntime;
  let api: ApiServer;
  let client: EngineClient;
  const logs: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-rt-'));
    const common = `loglevel: 4
ikeconf:
  psk: loopback-psk-secret
  dhgrpid: [19]
  ikeencyptalg: [aes-gcm16:128]
  ikeprfalg: [sha256]
  retraninterval: 1s
  childlist:
  - encalg: [aes-gcm16:128]
`;
    writeFileSync(join(dir, 'gw.yaml'), `role: gateway\nnumberoftunnels: 3\nbindifname: lo\nbindifaddr: 127.${third}.0.1/32\n${common}    ownts:\n    - {type: v4, startaddr: 10.20.0.0, endaddr: 10.20.255.255}\n    peerts:\n    - {type: v4, startaddr: 10.10.0.0, endaddr: 10.10.255.255}\n`);
    writeFileSync(
      join(dir, 'cl.yaml'),
      `role: client\nnumberoftunnels: 3\nstartclntaddr: 127.${third}.1.1/32\npeeraddr: 127.${third}.0.1\nbindifname: lo\nsetupinterval: 5ms\nowntsaddrincrease: 1\npeertsaddrincrease: 0\n${common}    ownts:\n    - {type: v4, startaddr: 10.10.0.1, endaddr: 10.10.0.1}\n    peerts:\n    - {type: v4, startaddr: 10.20.0.0, endaddr: 10.20.255.255}\npingconf:\n  destaddr: 10.20.0.1\n  deststep: 0\n  interval: 100ms\n  holdtime: 100ms\n`,
    );
    gw = new EngineRuntime({ setup: await loadSetupFile(join(dir, 'gw.yaml')), ports, skipNetconf: true, log: (l) => logs.push(l) });
    cl = new EngineRuntime({ setup: await loadSetupFile(join(dir, 'cl.yaml')), ports, skipNetconf: true, log: (l) => logs.push(l) });
    await gw.start();
    // A gateway with nothing to time looks at its timers once a second; clients that come then still get their tunnels.
    await waitFor('the idle gateway to slow its tick', async () => gw.tickIntervalMs === 1000, 5000);
    api = new ApiServer(cl);
    await api.listenUnix(join(dir, 'api.sock'));
    await cl.start();
    client = await EngineClient.connect({ socket: join(dir, 'api.sock') });
  });

  after(async () => {
    client?.close();
    await api?.close();
    await cl?.stop('hard');
    await gw?.stop('hard');
    rmSync(dir, { recursive: true, force: true });
  });

  it('brings the tunnels up and moves ESP through them', async () => {
    await waitFor('3 live tunnels', async () => cl.summary().tunnels.live === 3 && gw.summary().tunnels.live === 3);
    await waitFor('the gateway, busy again, to tick fast', async () => gw.tickIntervalMs === 50);
    await waitFor('ping replies', async () => (cl.summary().ping?.total.received ?? 0) >= 3);
    assert.equal(cl.io.size, 3, 'one NAT-T socket per tunnel address once floated (port 500 closed)');
    assert.ok(!logs.join('\n').includes('loopback-psk-secret'), 'the PSK is never logged');
  });

  it('answers API requests and pushes events after a snapshot', async () => {
    assert.ok(client.hello.features.includes('child.rekey'));
    const s = await client.request<EngineSummary>('summary');
    assert.equal(s.tunnels.created, 3);
    await assert.rejects(client.request('nope'), /no method "nope"/);
    await assert.rejects(client.request('child.list', { tunnel: 'x' }), /params.tunnel/);
    const events: Record<string, unknown>[] = [];
    client.onEvent = (e) => void events.push(e);
    const sub = await client.request<{ snapshot: { ike: unknown[] } }>('subscribe');
    assert.equal(sub.snapshot.ike.length, 3);
    const r = await client.request<{ rekeyed: string[] }>('child.rekey', { tunnel: 2 });
    assert.equal(r.rekeyed.length, 1);
    await waitFor('rekey events', async () => events.some((e) => e.kind === 'child' && e.state === 'closed' && e.tunnelId === 2));
    assert.ok(events.some((e) => e.kind === 'child' && e.state === 'installed' && e.tunnelId === 2));
    assert.equal(cl.summary().tunnels.live, 3);
    client.onEvent = () => undefined;
  });

  it('answers on TCP at "any address" 0.0.0.0 over IPv6 too (management addresses are IPv6)', async () => {
    const tcp = new ApiServer(cl);
    const port = base + 2;
    await tcp.listenTcp('0.0.0.0', port);
    try {
      for (const addr of ['127.0.0.1', '::1']) {
        const c = await EngineClient.connect({ addr, port });
        assert.equal(c.hello.role, 'client', addr);
        c.close();
      }
    } finally {
      await tcp.close();
    }
  });

  it('runs CLI commands with exit codes', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { print: (t: string) => out.push(t), error: (t: string) => err.push(t) };
    const never = new Promise<void>(() => undefined);
    assert.equal(await runLine(client, 'summary', io, false, never), 0);
    assert.match(out.join('\n'), /configured 3, created 3, live 3/);
    out.length = 0;
    assert.equal(await runLine(client, 'list -t 1', io, false, never), 0);
    assert.equal(out.join('\n').split('\n').filter((l) => l.startsWith('ike ')).length, 1);
    out.length = 0;
    assert.equal(await runLine(client, 'dump -t 1 --keys', io, false, never), 0);
    const dump = JSON.parse(out.join(''));
    assert.equal(dump.children[0].keys.encIn.length, 40, 'AES-128 key + salt, hex');
    assert.equal(await runLine(client, 'rekey', io, false, never), 2);
    assert.equal(await runLine(client, 'rekey ike 0000', io, false, never), 1);
    assert.equal(await runLine(client, 'bogus', io, false, never), 2);
    // Words a command does not take are refused, not ignored: `stop --hrad` must not stop gracefully.
    for (const line of ['stop --hrad', 'list --bogus', 'list 3', 'summary now', 'dump --key', 'clearping all', 'rekey ike all more', 'list -t 0'])
      assert.equal(await runLine(client, line, io, false, never), 2, line);
    assert.equal(cl.summary().state, 'running');
    assert.equal(await runLine(client, 'rekey ike -t 3', io, false, never), 0);
    await waitFor('the IKE rekey', async () => cl.ikeList().some((s) => s.tunnelId === 3 && s.rekeys === 1 && s.state === 'established'));
    const seen: string[] = [];
    const events = runLine(client, 'events 1', { print: (t) => seen.push(t), error: (t) => seen.push(t) }, false, never);
    await waitFor('the snapshot', async () => seen.length >= 1);
    await client.request('child.rekey', { tunnel: 1 });
    assert.equal(await events, 0);
    assert.match(seen[0], /snapshot: 3 IKE SA/);
    assert.match(seen[1], /event=sa|sa kind=/);
  });

  it('runs the CLI on piped commands: no banner or prompt, the exit code of the first failure, no history', async () => {
    const history = join(dir, 'history');
    // async: this process serves the API the CLI talks to
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, 'cli', '--socket', join(dir, 'api.sock')], { env: { ...process.env, MYIKEV2_CLI_HISTORY: history } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => p.kill(), 15_000);
      p.on('close', (status) => (clearTimeout(t), resolve({ status, stdout, stderr })));
      p.stdin.end('help\nsummary\nbogus\nlist -t 2\n');
    });
    assert.equal(r.status, 2, r.stderr);
    assert.doesNotMatch(r.stdout, /connected to the engine|engine client>/);
    assert.equal(r.stderr, 'unknown command "bogus" (help lists them)\n', 'nothing about the connection the CLI closed itself');
    assert.match(r.stdout, /rekey child\|ike/);
    assert.match(r.stdout, /created 3, live 3/);
    assert.match(r.stdout, /ike [0-9a-f]{16} tunnel 2 established/);
    assert.equal(existsSync(history), false, 'piped commands are a script: not added to the history');
  });

  it('stops gracefully: the gateway has no SA left', async () => {
    await client.request('stop', { graceful: true });
    await cl.stopped;
    assert.equal(gw.summary().ike.sas, 0);
    assert.equal(cl.summary().tunnels.live, 3, 'the summary reports the tunnels live when the stop began');
    const { sas, established, childSas } = cl.summary().ike;
    assert.deepEqual({ sas, established, childSas }, { sas: 3, established: 3, childSas: 3 }, 'and the SAs then, not the zeros after the DELETEs');
    assert.equal(cl.summary().ok, true);
  });
});

/** A gateway (gw.yaml, on 127.OCTET.0.1) and a client (cl.yaml) setup file in DIR, each with extra top-level lines, and both with extra ikeconf lines. */
function loopbackSetups(dir: string, octet: number, extra: { gw?: string; cl?: string; ike?: string } = {}): void {
  const common = `ikeconf:\n  psk: loopback-psk-secret\n  dhgrpid: [19]\n  ikeencyptalg: [aes-gcm16:128]\n  ikeprfalg: [sha256]\n${extra.ike ?? ''}  childlist:\n  - encalg: [aes-gcm16:128]\n`;
  writeFileSync(join(dir, 'gw.yaml'), `role: gateway\nloglevel: 3\n${extra.gw ?? ''}bindifname: lo\nbindifaddr: 127.${octet}.0.1/32\n${common}    ownts:\n    - {type: v4, startaddr: 10.20.0.0, endaddr: 10.20.255.255}\n    peerts:\n    - {type: v4, startaddr: 10.10.0.0, endaddr: 10.10.255.255}\n`);
  writeFileSync(join(dir, 'cl.yaml'), `role: client\n${extra.cl ?? ''}startclntaddr: 127.${octet}.1.1/32\npeeraddr: 127.${octet}.0.1\nbindifname: lo\n${common}    ownts:\n    - {type: v4, startaddr: 10.10.0.1, endaddr: 10.10.0.1}\n    peerts:\n    - {type: v4, startaddr: 10.20.0.0, endaddr: 10.20.255.255}\n`);
}

/** A gateway and a client of loopbackSetups, on their own 127.X addresses: start() starts both, stop() ends them and removes their files. */
function loopbackPair(octetOffset: number) {
  const octet = 1 + ((process.pid + octetOffset) % 200);
  let dir: string | undefined;
  let gw: EngineRuntime | undefined;
  let cl: EngineRuntime | undefined;
  return {
    async start(name: string, extra: Parameters<typeof loopbackSetups>[2], log: { gw?: (l: string) => void; cl?: (l: string) => void } = {}) {
      dir = mkdtempSync(join(tmpdir(), `myikev2-rt-${name}-`));
      loopbackSetups(dir, octet, extra);
      gw = new EngineRuntime({ setup: await loadSetupFile(join(dir, 'gw.yaml')), ports, skipNetconf: true, log: log.gw ?? (() => {}) });
      cl = new EngineRuntime({ setup: await loadSetupFile(join(dir, 'cl.yaml')), ports, skipNetconf: true, log: log.cl ?? (() => {}) });
      await gw.start();
      await cl.start();
      return { gw, cl };
    },
    async stop() {
      await cl?.stop('hard');
      await gw?.stop('hard');
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('engine runtime: a graceful stop whose peer is gone', function () {
  this.timeout(30_000);
  const pair = loopbackPair(100);
  after(() => pair.stop());

  it('gives up on unanswered DELETEs once the peer has been silent a while (not after the retransmission schedule, which outlasts the supervisor) and still ends with its summary', async () => {
    const logs: string[] = [];
    // The default schedule (10 s × 5) would outlast the supervisor's 10 s before SIGKILL.
    const { gw, cl } = await pair.start('gone', { gw: 'numberoftunnels: 2\n', cl: 'numberoftunnels: 2\nsetupinterval: 5ms\nowntsaddrincrease: 1\npeertsaddrincrease: 0\n' }, { gw: (l) => logs.push(l) });
    await waitFor('both tunnels up', async () => gw.summary().ike.established === 2, 10_000);
    await cl.stop('hard'); // gone without a word: nobody answers the gateway's DELETEs
    await gw.stop('graceful');
    assert.ok(logs.some((l) => /2 IKE SA\(s\) still waiting for the peer when it stopped answering: closed without a DELETE answer/.test(l)), logs.slice(-5).join('\n'));
    assert.equal(gw.engine.sas.size, 0, 'closed');
    assert.equal(gw.summary().tunnels.live, 2, 'the summary, taken at the stop, still tells the tunnels that were up');
  });
});

describe('engine runtime: a client whose peer never answers', function () {
  this.timeout(30_000);
  const octet = 1 + ((process.pid + 50) % 200);
  let dir: string | undefined;
  let cl: EngineRuntime | undefined;
  afterEach(async () => {
    await cl?.stop('hard');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Two tunnels to an address where nobody answers: they stay in IKE_SA_INIT. */
  async function lonelyClient(top = '', ike = ''): Promise<EngineRuntime> {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-rt-nopeer-'));
    writeFileSync(join(dir, 'cl.yaml'), `role: client\nnumberoftunnels: 2\nstartclntaddr: 127.${octet}.1.1/32\npeeraddr: 127.${octet}.9.1\nbindifname: lo\nsetupinterval: 5ms\n${top}ikeconf:\n  psk: loopback-psk-secret\n${ike}`);
    cl = new EngineRuntime({ setup: await loadSetupFile(join(dir, 'cl.yaml')), ports, skipNetconf: true, log: () => {} });
    await cl.start();
    return cl;
  }

  it('stopped before its tunnels came up: counts them as failed, not also as connecting', async () => {
    const c = await lonelyClient();
    await waitFor('both tunnels connecting', async () => c.summary().tunnels.connecting === 2, 5000);
    assert.match(formatSummary(c.summary()), /live 0, connecting 2, failed 0/, 'the text says the tunnels are on their way');
    await c.stop('graceful');
    const t = c.summary().tunnels;
    assert.deepEqual({ configured: t.configured, connecting: t.connecting, failed: t.failed }, { configured: 2, connecting: 0, failed: 2 });
    assert.equal(c.summary().ok, false);
  });

  it('still counts retransmissions of SAs that are gone (a count that drops when an SA closes hides the retransmissions a test engineer looks for)', async () => {
    // Each tunnel's IKE_SA_INIT is retransmitted once, then its SA fails and is gone.
    const c = await lonelyClient('tunnelmaxretry: 0\n', '  retraninterval: 200ms\n  maxretran: 1\n');
    await waitFor('both tunnels failed', async () => c.summary().tunnels.failed === 2, 5000);
    assert.equal(c.engine.sas.size, 0);
    assert.equal(c.summary().ike.retransmits, 2);
    await c.stop('graceful');
    assert.equal(c.summary().ike.retransmits, 2);
  });
});

describe('engine runtime: a client whose CHILD SA the gateway deletes', function () {
  this.timeout(30_000);
  const pair = loopbackPair(150);
  after(() => pair.stop());

  it('reconnects the tunnel (a childless IKE SA carries nothing: live 0, yet neither down nor failed, before)', async () => {
    // what `swanctl --terminate --child` on a strongSwan gateway does to our client
    const logs: string[] = [];
    const { gw, cl } = await pair.start('childdel', { cl: 'tunnelretryinterval: 200ms\n' }, { cl: (l) => logs.push(l) });
    await waitFor('the tunnel', async () => cl.summary().tunnels.live === 1, 10_000);
    const [sa] = gw.engine.sas.values();
    assert.ok(gw.engine.deleteChildById(sa.children[0].id));
    await waitFor('the client to reconnect', async () => cl.summary().tunnels.reconnects === 1 && cl.summary().tunnels.live === 1, 10_000);
    assert.ok(logs.some((l) => /tunnel 1 down \(its last CHILD SA is gone \(deleted by the peer\)\)/.test(l)), logs.join('\n'));
    assert.equal(gw.engine.sas.size, 1, 'the old IKE SA was deleted at the gateway too');
  });
});

describe('engine runtime: NAT keepalives', function () {
  this.timeout(30_000);
  const pair = loopbackPair(25);
  after(() => pair.stop());

  it('each side, saying it is behind a NAT (no fast path), sends the other one-byte keepalives on the NAT-T port while IKE is quiet, counted in the summary', async () => {
    const { gw, cl } = await pair.start('keepalive', { ike: '  natkeepalive: 500ms\n' });
    await waitFor('the tunnel', async () => cl.summary().tunnels.live === 1, 10_000);
    await waitFor('two keepalives each way', async () => gw.summary().io.keepalives >= 2 && cl.summary().io.keepalives >= 2, 10_000);
    for (const rt of [cl, gw]) {
      const io = rt.summary().io;
      assert.ok(io.keepalivesOut >= 2, JSON.stringify(io));
      assert.equal(io.sendErrors, 0);
    }
    assert.equal(cl.summary().tunnels.live, 1, 'the tunnel is unharmed: keepalives are not taken for IKE or ESP');
  });
});

describe('engine runtime: a gateway asking every client for a COOKIE (cookiethreshold 0)', function () {
  this.timeout(30_000);
  const pair = loopbackPair(75);
  after(() => pair.stop());

  it('the client retries with the COOKIE and its tunnels come up', async () => {
    const logs: string[] = [];
    const { cl } = await pair.start(
      'cookie',
      { gw: 'numberoftunnels: 2\n', cl: 'loglevel: 3\nnumberoftunnels: 2\nsetupinterval: 5ms\nowntsaddrincrease: 1\npeertsaddrincrease: 0\n', ike: '  cookiethreshold: 0\n' },
      { cl: (l) => logs.push(l) },
    );
    await waitFor('both tunnels', async () => cl.summary().tunnels.live === 2, 10_000);
    assert.equal(logs.filter((l) => /responder asked for a COOKIE, retrying with it/.test(l)).length, 2, logs.join('\n'));
  });
});
