// Our engine against real strongSwan (charon 5.9.8 with kernel-libipsec) and
// against itself, in two namespaces joined by a veth pair that this file
// creates and removes. Asserted on both ends: swanctl --list-sas and our API.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createNetnsPair, ip, netnsExists, startCharon, type Charon, type NetnsPair } from '../support/strongswan.js';
import { CLI } from '../support/paths.js';
import { clientYaml, gatewayYaml, startEngine, SUITES, swanClientConf, swanGatewayConf, waitFor, type EngineProc, type Suite } from './support/engine-proc.js';
import type { EngineSummary } from '../../src/engine/program/summary.js';
import type { ChildInfo, IkeInfo } from '../../src/engine/program/describe.js';

const run = promisify(execFile);

const summaryOf = (e: EngineProc) => e.api.request<EngineSummary>('summary');
const childrenOf = async (e: EngineProc, keys = false) => (await e.api.request<{ children: ChildInfo[] }>('child.list', { keys })).children;
const ikesOf = async (e: EngineProc) => (await e.api.request<{ sas: IkeInfo[] }>('ike.list')).sas;
const hex = (spi: string) => spi.replace(/^0x/, '');

describe('engine interop with strongSwan @integration', function () {
  this.timeout(180_000);
  let net: NetnsPair;
  let dir: string;
  const cleanups: (() => Promise<void>)[] = [];
  const charon = async (ns: string, name: string, conf: string, charonConf?: string): Promise<Charon> => {
    const c = await startCharon({ ns, dir: join(dir, name), swanctlConf: conf, charonConf });
    cleanups.push(() => c.stop());
    await c.loadConfig();
    return c;
  };
  const engine = async (ns: string, name: string, yaml: string): Promise<EngineProc> => {
    const e = await startEngine({ ns, dir, name, yaml });
    cleanups.push(() => e.kill());
    return e;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'myikev2-interop-'));
    net = await createNetnsPair({ addrA: '172.31.0.2/16', addrB: '172.31.0.1/16' });
    // strongSwan's kernel-libipsec installs routes from an address inside its local selector
    await ip(['-n', net.nsB, 'address', 'add', '10.20.0.1/32', 'dev', 'lo']);
    await ip(['-n', net.nsA, 'address', 'add', '10.10.0.1/32', 'dev', 'lo']);
    // The client's tunnel addresses through one next hop: one ARP entry instead of one per
    // tunnel (the kernel's neighbour table is shared by all namespaces, 1024 entries at most).
    await ip(['-n', net.nsB, 'route', 'add', '172.31.1.0/24', 'via', '172.31.0.2']);
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  after(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    if (net) {
      await net.destroy();
      assert.equal(await netnsExists(net.nsA), false);
      assert.equal(await netnsExists(net.nsB), false);
    }
    if (process.env.MYIKEV2_KEEP_TEST_DIR) console.log(`      logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  function assertSwanMatches(s: Suite, swSa: Awaited<ReturnType<Charon['listSas']>>[number], ours: IkeInfo, ourChildren: ChildInfo[]) {
    assert.equal(swSa.state, 'ESTABLISHED');
    assert.equal(swSa.encrAlg, s.swanNames.encr);
    assert.equal(swSa.encrKeysize, s.swanNames.keysize);
    assert.equal(swSa.dhGroup, s.swanNames.dh);
    assert.equal(swSa.initiatorSpi, ours.spiI);
    assert.equal(swSa.responderSpi, ours.spiR);
    assert.equal(ours.encr, s.ours.encr);
    assert.equal(ours.dhGroup, s.ours.dh);
    assert.equal(ours.state, 'established');
    assert.equal(swSa.localPort, '4500');
    const mine = ourChildren.filter((c) => c.ikeId === ours.id);
    assert.equal(mine.length, 1);
    const sc = swSa.children.find((c) => c.spiIn === hex(mine[0].spiOut));
    assert.ok(sc, `strongSwan has the CHILD SA ${mine[0].spiOut}`);
    assert.equal(sc.spiOut, hex(mine[0].spiIn));
    assert.equal(sc.state, 'INSTALLED');
    assert.equal(sc.encap, true, 'UDP-encapsulated ESP (forced by our NAT detection)');
    assert.equal(sc.encrAlg, s.swanNames.encr);
    if (s.swanNames.integ) assert.equal(sc.integAlg, s.swanNames.integ);
    assert.equal(mine[0].encr, s.ours.encr);
  }

  for (const s of SUITES) {
    it(`our client ↔ strongSwan gateway: ${s.name}`, async () => {
      const sw = await charon(net.nsB, 'swgw', swanGatewayConf(s));
      const cl = await engine(net.nsA, 'client', clientYaml({ ifname: net.ifA, suite: s, tunnels: 2 }));
      await waitFor('2 live tunnels', async () => (await summaryOf(cl)).tunnels.live === 2);
      const [ours, children, swSas] = await Promise.all([ikesOf(cl), childrenOf(cl), sw.listSas()]);
      assert.equal(swSas.length, 2);
      for (const o of ours) assertSwanMatches(s, swSas.find((x) => x.initiatorSpi === o.spiI)!, o, children);
      // ESP both ways through the user-space data path: strongSwan answers our pings
      await waitFor('ping replies', async () => ((await summaryOf(cl)).ping?.total.received ?? 0) >= 2);
      // graceful stop: DELETE everything, nothing left on strongSwan
      await cl.api.request('stop', { graceful: true });
      const end = await cl.exited;
      assert.equal(end.code, 0, end.stdout);
      assert.equal(end.summary?.tunnels.created, 2);
      assert.equal((await sw.listSas()).length, 0, 'no SA left on strongSwan');
    });

    it(`strongSwan client ↔ our gateway: ${s.name}`, async () => {
      const gw = await engine(net.nsB, 'gateway', gatewayYaml({ ifname: net.ifB, suite: s }));
      const sw = await charon(net.nsA, 'swcl', swanClientConf(s));
      await sw.initiate('net');
      const swSas = await sw.listSas();
      assert.equal(swSas.length, 1);
      const [ours, children] = await Promise.all([ikesOf(gw), childrenOf(gw)]);
      assert.equal(ours.length, 1);
      assert.equal(ours[0].initiator, false);
      assert.equal(ours[0].peerId, '172.31.0.2');
      assertSwanMatches(s, swSas[0], ours[0], children);
      assert.deepEqual(children[0].remoteTs.map((t) => [t.startAddr, t.endAddr]), [['10.10.0.1', '10.10.0.1']], 'narrowed to the client');
      // strongSwan rekeys the CHILD SA, then the IKE SA: both ends agree afterwards
      await sw.swanctl(['--rekey', '--child', 'net']);
      await waitFor('the CHILD rekey', async () => {
        const [c2, s2] = await Promise.all([childrenOf(gw), sw.listSas()]);
        return c2.length === 1 && c2[0].rekeys === 1 && s2[0]?.children.some((x) => x.spiIn === hex(c2[0].spiOut) && x.state === 'INSTALLED');
      });
      await sw.swanctl(['--rekey', '--ike', 'cl']);
      await waitFor('the IKE rekey', async () => {
        const [i2, s2] = await Promise.all([ikesOf(gw), sw.listSas()]);
        const est = i2.filter((i) => i.state === 'established');
        return est.length === 1 && est[0].rekeys === 1 && s2.length === 1 && s2[0].responderSpi === est[0].spiR && (await childrenOf(gw)).length === 1;
      });
      // strongSwan deletes: our gateway forgets the SAs
      await sw.terminateIke('cl');
      await waitFor('our gateway to drop the SAs', async () => (await ikesOf(gw)).length === 0);
      assert.equal((await summaryOf(gw)).tunnels.created, 1);
    });

    it(`our client ↔ our gateway: ${s.name}`, async () => {
      const gw = await engine(net.nsB, 'gateway', gatewayYaml({ ifname: net.ifB, suite: s, tunnels: 3 }));
      const cl = await engine(net.nsA, 'client', clientYaml({ ifname: net.ifA, suite: s, tunnels: 3 }));
      await waitFor('3 live tunnels', async () => (await summaryOf(cl)).tunnels.live === 3 && (await summaryOf(gw)).tunnels.live === 3);
      const [cc, gc] = await Promise.all([childrenOf(cl, true), childrenOf(gw, true)]);
      assert.equal(cc.length, 3);
      for (const c of cc) {
        const g = gc.find((x) => x.spiIn === c.spiOut);
        assert.ok(g, `gateway has ${c.spiOut}`);
        assert.equal(g.spiOut, c.spiIn);
        assert.equal(g.keys!.encIn, c.keys!.encOut);
        assert.equal(g.keys!.encOut, c.keys!.encIn);
        assert.equal(g.keys!.integIn, c.keys!.integOut);
        assert.equal(c.encr, s.ours.encr);
      }
      await waitFor('ping replies from our gateway', async () => ((await summaryOf(cl)).ping?.total.received ?? 0) >= 3);
      // the CLI on the same API
      const sock = join(cl.runDir, 'api.sock');
      const sum = await run(process.execPath, [CLI, 'cli', '--socket', sock, '--exec', 'summary']);
      assert.match(sum.stdout, /created 3, live 3/);
      const list = await run(process.execPath, [CLI, 'cli', '--socket', sock, '--exec', 'list']);
      assert.equal(list.stdout.split('\n').filter((l) => l.startsWith('ike ')).length, 3);
      const bad = await run(process.execPath, [CLI, 'cli', '--socket', sock, '--exec', 'frobnicate']).then(() => 0, (e) => e.code);
      assert.equal(bad, 2);
      await run(process.execPath, [CLI, 'cli', '--socket', sock, '--exec', 'stop']);
      const end = await cl.exited;
      assert.equal(end.code, 0);
      await waitFor('the gateway to have no SA left', async () => (await ikesOf(gw)).length === 0);
    });
  }

  const FAST: Suite = {
    name: 'aes-gcm16:128/prf sha256/group 19',
    ours: { encr: 'aes-gcm16:128', integ: 'sha256', prf: 'sha256', dh: 19 },
    swan: { ike: 'aes128gcm16-prfsha256-ecp256', esp: 'aes128gcm16' },
    swanNames: { encr: 'AES_GCM_16', keysize: '128', dh: 'ECP_256' },
  };

  it('50 tunnels from one client all come up and stay up through IKE and CHILD rekeys', async () => {
    // CHILD SA rekeys with PFS (group 19) on both sides
    const sw = await charon(net.nsB, 'swgw50', swanGatewayConf({ ...FAST, swan: { ...FAST.swan, esp: 'aes128gcm16-ecp256' } }));
    const cl = await engine(
      net.nsA,
      'client50',
      clientYaml({ ifname: net.ifA, suite: FAST, tunnels: 50, ping: false, extraIke: '  ikelifetime: 14s\n  margintime: 4s\n', extraChild: '    lifetime: 8s\n    pfsenabled: true\n    pfsgrpid: [19]\n' }),
    );
    await waitFor('50 live tunnels', async () => (await summaryOf(cl)).tunnels.live === 50, 30_000);
    const first = await summaryOf(cl);
    console.log(`      50 tunnels: setup ${first.setup.ratePerSec} tunnels/s (${first.setup.durationMs} ms)`);
    await new Promise((r) => setTimeout(r, 20_000));
    const [after, ikes, children, swSas] = await Promise.all([summaryOf(cl), ikesOf(cl), childrenOf(cl), sw.listSas()]);
    const notLive = ikes.filter((i) => i.state !== 'established' || !i.children.length);
    assert.equal(after.tunnels.live, 50, `not live: ${JSON.stringify(notLive.map((i) => [i.tunnelId, i.state, i.children, i.lastError]))}`);
    assert.equal(after.tunnels.reconnects, 0);
    assert.equal(ikes.filter((i) => i.state === 'established').length, 50);
    assert.ok(ikes.every((i) => i.rekeys >= 1), 'every IKE SA was rekeyed');
    assert.ok(children.every((c) => c.rekeys >= 1), 'every CHILD SA was rekeyed');
    assert.ok(children.filter((c) => c.rekeys >= 1).every((c) => c.pfsGroup === 19), 'rekeyed with PFS');
    assert.equal(swSas.filter((x) => x.state === 'ESTABLISHED').length, 50);
    // Rekeys go on (about 8 a second here), so compare snapshots until one is consistent.
    await waitFor('both ends to agree on every SA', async () => {
      const [ikes2, children2, sw2] = await Promise.all([ikesOf(cl), childrenOf(cl), sw.listSas()]);
      const swChildren = new Set(sw2.flatMap((x) => x.children.filter((y) => y.state === 'INSTALLED').map((y) => `${y.spiIn}/${y.spiOut}`)));
      const swIkes = new Set(sw2.filter((x) => x.state === 'ESTABLISHED').map((x) => x.initiatorSpi + x.responderSpi));
      return (
        ikes2.filter((i) => i.state === 'established').every((i) => swIkes.has(i.spiI + i.spiR)) &&
        children2.filter((c) => c.state === 'installed').every((c) => swChildren.has(`${hex(c.spiOut)}/${hex(c.spiIn)}`))
      );
    }, 10_000, 300);
    await cl.api.request('stop', { graceful: true });
    const end = await cl.exited;
    assert.equal(end.code, 0);
    assert.equal(end.summary?.tunnels.created, 50);
    await waitFor('strongSwan to have no SA left', async () => (await sw.listSas()).length === 0, 10_000);
  });

  it('retries with the group strongSwan asks for (INVALID_KE_PAYLOAD)', async () => {
    const s = SUITES[0]; // strongSwan: modp2048 only
    const sw = await charon(net.nsB, 'swke', swanGatewayConf(s));
    const cl = await engine(net.nsA, 'clientke', clientYaml({ ifname: net.ifA, suite: s, ping: false }).replace('dhgrpid: [14]', 'dhgrpid: [19, 14]'));
    await waitFor('the tunnel', async () => (await summaryOf(cl)).tunnels.live === 1);
    const [ike] = await ikesOf(cl);
    assert.equal(ike.dhGroup, 14);
    assert.equal((await sw.listSas())[0].dhGroup, 'MODP_2048');
    assert.match(readFileSync(cl.logFile, 'utf8'), /responder wants DH group 14 instead of 19/);
  });

  it('sends the COOKIE strongSwan asks for', async () => {
    // cookie_threshold 1: a tunnel arriving while another is half open must bring a cookie
    const sw = await charon(net.nsB, 'swcookie', swanGatewayConf(FAST), '  cookie_threshold = 1\n');
    const cl = await engine(net.nsA, 'clientcookie', clientYaml({ ifname: net.ifA, suite: FAST, tunnels: 3, ping: false }));
    await waitFor('3 live tunnels', async () => (await summaryOf(cl)).tunnels.live === 3);
    assert.match(sw.log(), /generating IKE_SA_INIT response 0 \[ N\(COOKIE\) \]/);
    assert.match(readFileSync(cl.logFile, 'utf8'), /responder asked for a COOKIE, retrying with it/);
    assert.equal((await sw.listSas()).length, 3);
  });

  // Our client says it is behind a NAT (forced UDP encapsulation), so it sends keepalives. (strongSwan's
  // encap = yes does too, but sends keepalives only from behind a real NAT: none here to test ours with.)
  it('strongSwan takes our NAT keepalives, and the tunnel carries on', async () => {
    const sw = await charon(net.nsB, 'swkeepalive', swanGatewayConf(FAST));
    const cl = await engine(net.nsA, 'clientkeepalive', clientYaml({ ifname: net.ifA, suite: FAST, extraIke: '  natkeepalive: 1s\n' }));
    await waitFor('the tunnel', async () => (await summaryOf(cl)).tunnels.live === 1);
    await waitFor('3 keepalives sent', async () => (await summaryOf(cl)).io.keepalivesOut >= 3, 15_000);
    const received = (await summaryOf(cl)).ping?.total.received ?? 0;
    await waitFor('pings still answered', async () => ((await summaryOf(cl)).ping?.total.received ?? 0) >= received + 2);
    const [sa] = await sw.listSas();
    assert.equal(sa?.state, 'ESTABLISHED');
    assert.equal(sa.children[0]?.state, 'INSTALLED');
    assert.doesNotMatch(sw.log(), /invalid|parsing .* failed|discard/i, 'strongSwan took them for keepalives, not for malformed IKE or ESP');
  });

  it('reconnects when strongSwan deletes the only CHILD SA', async () => {
    const sw = await charon(net.nsB, 'swchilddel', swanGatewayConf(FAST));
    const cl = await engine(net.nsA, 'clientchilddel', clientYaml({ ifname: net.ifA, suite: FAST, ping: false, extraTop: 'tunnelretryinterval: 500ms\n' }).replace('tunnelretryinterval: 2s\n', ''));
    await waitFor('the tunnel', async () => (await summaryOf(cl)).tunnels.live === 1);
    const [before] = await sw.listSas();
    await sw.swanctl(['--terminate', '--child', 'net', '--timeout', '5']);
    await waitFor('the client to reconnect', async () => {
      const t = (await summaryOf(cl)).tunnels;
      return t.reconnects === 1 && t.live === 1;
    });
    const after = await sw.listSas();
    assert.equal(after.length, 1, 'the childless IKE SA was deleted, not left on strongSwan');
    assert.notEqual(after[0].initiatorSpi, before.initiatorSpi);
    assert.equal(after[0].children[0]?.state, 'INSTALLED');
  });

  it('tunnels sharing a myid all stay up on strongSwan (one INITIAL_CONTACT, not one per tunnel)', async () => {
    const sw = await charon(net.nsB, 'swsharedid', swanGatewayConf(FAST));
    const cl = await engine(net.nsA, 'clientsharedid', clientYaml({ ifname: net.ifA, suite: FAST, tunnels: 3, ping: false, extraIke: '  myid: client.example.org\n' }).replace('setupinterval: 1ms', 'setupinterval: 200ms')); // each up before the next
    await waitFor('3 live tunnels', async () => (await summaryOf(cl)).tunnels.live === 3);
    await waitFor('strongSwan to have all 3', async () => (await sw.listSas()).filter((x) => x.state === 'ESTABLISHED').length === 3, 5000);
    assert.doesNotMatch(sw.log(), /destroying duplicate IKE_SA/);
  });

  it('DPD detects a strongSwan that was killed', async () => {
    const sw = await charon(net.nsB, 'swdpd', swanGatewayConf(FAST));
    const cl = await engine(
      net.nsA,
      'clientdpd',
      clientYaml({ ifname: net.ifA, suite: FAST, tunnels: 1, ping: false, extraIke: '  dpdinterval: 2s\n', extraTop: 'tunnelretryinterval: 60s\n' }).replace('tunnelretryinterval: 2s\n', ''),
    );
    await waitFor('the tunnel', async () => (await summaryOf(cl)).tunnels.live === 1);
    const events: Record<string, unknown>[] = [];
    cl.api.onEvent = (e) => void events.push(e);
    await cl.api.request('subscribe');
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await summaryOf(cl)).tunnels.live, 1, 'DPD answered while strongSwan lives');
    await sw.kill();
    await waitFor('DPD to declare the peer dead', async () => events.some((e) => e.event === 'sa' && e.kind === 'ike' && e.state === 'failed' && /DPD/.test(String(e.reason))), 20_000);
    // Its tunnel event is the next message on the API, maybe read a turn later.
    await waitFor('the tunnel to go down', async () => events.some((e) => e.event === 'tunnel' && e.state === 'down'), 5_000);
    assert.equal((await summaryOf(cl)).tunnels.live, 0);
  });
});
