// Issue 8 acceptance: packets really flow through every tunnel, with real
// engines (`myikev2 exec`) and real strongSwan (charon + kernel-libipsec) in
// namespaces this test creates and removes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createNetnsPair, netnsExists, startCharon, type Charon, type NetnsPair } from '../../support/strongswan.js';
import type { PingSummary } from '../../../src/engine/esp/data-plane.js';
import { MAIN_JS, clientSetup, gatewaySetup, processAlive, startEngine, waitFor, type RunningEngine } from './engine-bed.js';

const run = promisify(execFile);
const PSK = 'data-path-test-psk';

/** Everything one test starts; torn down in afterEach even when the test fails. */
class Bed {
  net?: NetnsPair;
  dir = '';
  engines: RunningEngine[] = [];
  charons: Charon[] = [];

  async create(): Promise<NetnsPair> {
    this.dir = await mkdtemp(join(tmpdir(), 'myikev2-dp-'));
    this.net = await createNetnsPair({});
    return this.net;
  }

  async destroy(): Promise<void> {
    for (const e of this.engines) await e.stop(10_000).catch(() => undefined);
    for (const c of this.charons) await c.stop().catch(() => undefined);
    const pids = [...this.engines.map((e) => e.pid), ...this.charons.map((c) => c.pid)];
    if (this.net) await this.net.destroy();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    for (const pid of pids) assert.equal(processAlive(pid), false, `process ${pid} still running`);
    if (this.net) for (const ns of [this.net.nsA, this.net.nsB]) assert.equal(await netnsExists(ns), false, `namespace ${ns} left behind`);
    this.engines = [];
    this.charons = [];
    this.net = undefined;
  }
}

async function pingSummary(e: RunningEngine): Promise<PingSummary> {
  return e.api.request<PingSummary>('ping.summary');
}

/** Waits until every tunnel has had at least `n` requests answered or lost. */
function pingsDone(e: RunningEngine, tunnels: number, n: number, ms: number): Promise<PingSummary> {
  return waitFor(
    `${tunnels} tunnels with ${n} pings each`,
    async () => {
      const s = await pingSummary(e);
      return s.tunnels.length === tunnels && s.tunnels.every((t) => t.received + t.lost >= n) ? s : undefined;
    },
    ms,
    500,
  );
}

function swanGateway(remoteTs: string, esp = 'aes128gcm16', localTs = '10.2.0.0/16'): string {
  return `connections {
  gw {
    version = 2
    local_addrs = 172.29.0.1
    remote_addrs = %any
    proposals = aes128gcm16-prfsha256-ecp256,aes128-sha256-ecp256
    encap = yes
    local { auth = psk
      id = gw.test }
    remote { auth = psk }
    children {
      net {
        local_ts = ${localTs}
        remote_ts = ${remoteTs}
        esp_proposals = ${esp}
        mode = tunnel
      }
    }
  }
}
secrets {
  ike-any { secret = "${PSK}" }
}
`;
}

describe('data path acceptance (engines, strongSwan, namespaces) @integration', function () {
  this.timeout(180_000);
  const bed = new Bed();
  afterEach(async () => bed.destroy());

  it('our client (10 tunnels) <-> strongSwan gateway (kernel-libipsec, encap): 0% loss per tunnel, strongSwan counts the packets', async () => {
    const net = await bed.create();
    await run('ip', ['-n', net.nsB, 'address', 'add', '172.29.0.1/16', 'dev', net.ifB]);
    await run('ip', ['-n', net.nsB, 'address', 'add', '10.2.0.1/32', 'dev', 'lo']); // strongSwan answers through its TUN device
    const sw = await startCharon({ ns: net.nsB, dir: join(bed.dir, 'charon'), swanctlConf: swanGateway('10.1.0.0/16') });
    bed.charons.push(sw);
    await sw.loadConfig();
    const client = await startEngine({
      ns: net.nsA,
      dir: bed.dir,
      name: 'client',
      setup: clientSetup({ n: 10, bindif: net.ifA, startAddr: '172.29.1.1/16', peer: '172.29.0.1', psk: PSK, interval: '500ms', holdtime: '1s' }),
    });
    bed.engines.push(client);
    const s = await pingsDone(client, 10, 10, 60_000);
    for (const t of s.tunnels) {
      assert.equal(t.lost, 0, `tunnel ${t.tunnelId}: ${JSON.stringify(t)}`);
      assert.equal(t.lossPct, 0);
      assert.equal(t.dst, '10.2.0.1');
      assert.equal(t.src, `10.1.0.${t.tunnelId}`);
    }
    const sas = await sw.listSas();
    assert.equal(sas.length, 10, 'strongSwan has 10 IKE SAs');
    for (const sa of sas) {
      assert.equal(sa.children.length >= 1, true);
      const c = sa.children[0];
      assert.equal(c.encap, true, 'UDP-encapsulated');
      const mine = s.tunnels.find((t) => c.remoteTs.includes(`${t.src}/32`))!;
      assert.ok(mine, `tunnel for ${c.remoteTs}`);
      // strongSwan saw at least the requests we counted as answered, and sent as many replies.
      assert.ok(c.packetsIn >= mine.received && c.packetsOut >= mine.received, `${sa.remoteHost}: in ${c.packetsIn} out ${c.packetsOut}, ours ${mine.received}`);
    }
  });

  it('our client <-> strongSwan gateway with IPv6 inside (ICMPv6 through kernel-libipsec), aes-cbc-128/sha256', async () => {
    const net = await bed.create();
    await run('ip', ['-n', net.nsB, 'address', 'add', '172.29.0.1/16', 'dev', net.ifB]);
    await run('ip', ['-n', net.nsB, 'address', 'add', '2001:db8:2::1/128', 'dev', 'lo', 'nodad']);
    const sw = await startCharon({ ns: net.nsB, dir: join(bed.dir, 'charon'), swanctlConf: swanGateway('2001:db8:1::/64', 'aes128-sha256', '2001:db8:2::/64') });
    bed.charons.push(sw);
    await sw.loadConfig();
    const v6 = (start: string, end = start) => [{ type: 'v6', startaddr: start, endaddr: end }];
    const setup = clientSetup({ n: 2, bindif: net.ifA, startAddr: '172.29.1.1/16', peer: '172.29.0.1', psk: PSK, encalg: ['aes-cbc:128'], integ: ['sha256'], interval: '300ms', holdtime: '1s', child: { ownts: v6('2001:db8:1::1'), peerts: v6('2001:db8:2::', '2001:db8:2::ffff:ffff:ffff:ffff') } });
    (setup.pingconf as Record<string, unknown>).destaddr = '2001:db8:2::1';
    const client = await startEngine({ ns: net.nsA, dir: bed.dir, name: 'client', setup });
    bed.engines.push(client);
    const s = await pingsDone(client, 2, 8, 60_000);
    for (const t of s.tunnels) assert.equal(t.lost, 0, JSON.stringify(t));
    const sas = await sw.listSas();
    assert.equal(sas.length, 2);
    for (const sa of sas) assert.ok(sa.children[0].packetsIn >= 8 && sa.children[0].localTs.includes('2001:db8:2::/64'), JSON.stringify(sa.children[0]));
  });

  it('strongSwan client <-> our gateway: ping from strongSwan\'s namespace through the tunnel gets replies', async () => {
    const net = await bed.create();
    await run('ip', ['-n', net.nsA, 'address', 'add', '172.29.0.2/16', 'dev', net.ifA]);
    await run('ip', ['-n', net.nsA, 'address', 'add', '10.1.0.1/32', 'dev', 'lo']);
    const gw = await startEngine({ ns: net.nsB, dir: bed.dir, name: 'gateway', setup: gatewaySetup({ n: 1, bindif: net.ifB, addr: '172.29.0.1/16', psk: PSK }) });
    bed.engines.push(gw);
    const sw = await startCharon({
      ns: net.nsA,
      dir: join(bed.dir, 'charon'),
      swanctlConf: `connections {
  cl {
    version = 2
    local_addrs = 172.29.0.2
    remote_addrs = 172.29.0.1
    proposals = aes128gcm16-prfsha256-ecp256
    encap = yes
    local { auth = psk
      id = client.test }
    remote { auth = psk }
    children {
      net {
        local_ts = 10.1.0.1/32
        remote_ts = 10.2.0.0/16
        esp_proposals = aes128gcm16
        mode = tunnel
      }
    }
  }
}
secrets {
  ike-any { secret = "${PSK}" }
}
`,
    });
    bed.charons.push(sw);
    await sw.loadConfig();
    await sw.initiate('net');
    await run('ping', ['-V']).catch(() => assert.fail('this test needs ping(8) in strongSwan\'s namespace: install iputils-ping (scripts/setup.sh)'));
    const { stdout } = await run('ip', ['netns', 'exec', net.nsA, 'ping', '-c', '5', '-i', '0.2', '-W', '2', '-I', '10.1.0.1', '10.2.3.4'], { timeout: 30_000 });
    assert.match(stdout, /5 packets transmitted, 5 received, 0% packet loss/);
    const s = await pingSummary(gw);
    assert.equal(s.answered, 5, 'our gateway answered the five echo requests');
  });

  it('IPv6 inside IPv4 tunnels (ICMPv6 echo, next header 41), aes-cbc-256/sha256, engine <-> engine', async () => {
    const net = await bed.create();
    const v6 = (start: string, end = start) => [{ type: 'v6', startaddr: start, endaddr: end }];
    const gw = await startEngine({
      ns: net.nsB,
      dir: bed.dir,
      name: 'gateway',
      setup: gatewaySetup({ n: 3, bindif: net.ifB, addr: '172.29.0.1/16', psk: PSK, encalg: ['aes-cbc:256'], child: { integrityalg: ['sha256'], ownts: v6('2001:db8:2::', '2001:db8:2::ffff'), peerts: v6('2001:db8:1::', '2001:db8:1::ffff') } }),
    });
    bed.engines.push(gw);
    const setup = clientSetup({ n: 3, bindif: net.ifA, startAddr: '172.29.1.1/16', peer: '172.29.0.1', psk: PSK, encalg: ['aes-cbc:256'], integ: ['sha256'], interval: '300ms', holdtime: '500ms', child: { ownts: v6('2001:db8:1::1'), peerts: v6('2001:db8:2::', '2001:db8:2::ffff') } });
    (setup.pingconf as Record<string, unknown>).destaddr = '2001:db8:2::1';
    const client = await startEngine({ ns: net.nsA, dir: bed.dir, name: 'client', setup });
    bed.engines.push(client);
    const s = await pingsDone(client, 3, 8, 60_000);
    for (const t of s.tunnels) {
      assert.equal(t.src, `2001:db8:1::${t.tunnelId}`);
      assert.equal(t.dst, '2001:db8:2::1');
      assert.equal(t.lost, 0, JSON.stringify(t));
    }
    const gwSummary = await pingSummary(gw);
    assert.ok(gwSummary.answered >= s.total.received, 'our gateway answered the ICMPv6 echo requests');
    const children = (await client.api.request<{ children: { encr: string; integ: string }[] }>('child.list')).children;
    assert.ok(children.every((c) => /cbc/.test(c.encr) && /256/.test(c.encr)), JSON.stringify(children.map((c) => [c.encr, c.integ])));
  });

  it('a tunnel above maxlossrate: error event, summary not ok, exit code 1', async () => {
    const net = await bed.create();
    // The gateway narrows the selectors to 10.2.0.0/24, so tunnel 2's ping target 10.2.5.5 is outside its CHILD SA.
    const gw = await startEngine({ ns: net.nsB, dir: bed.dir, name: 'gateway', setup: gatewaySetup({ n: 2, bindif: net.ifB, addr: '172.29.0.1/16', psk: PSK, child: { ownts: [{ type: 'v4', startaddr: '10.2.0.0', endaddr: '10.2.0.255' }] } }) });
    bed.engines.push(gw);
    const setup = clientSetup({ n: 2, bindif: net.ifA, startAddr: '172.29.1.1/16', peer: '172.29.0.1', psk: PSK, interval: '100ms', holdtime: '500ms', extra: { runningtime: '5s' } });
    (setup.pingconf as Record<string, unknown>).destaddr = '10.2.0.5';
    (setup.pingconf as Record<string, unknown>).deststep = 0x500; // tunnel 1: 10.2.0.5, tunnel 2: 10.2.5.5
    const client = await startEngine({ ns: net.nsA, dir: bed.dir, name: 'client', setup });
    bed.engines.push(client);
    const events: Record<string, unknown>[] = [];
    client.api.onEvent = (e) => void events.push(e);
    await client.api.request('subscribe', {}).catch(() => undefined);
    const code = await client.exited;
    assert.equal(code, 1, client.output());
    const summary = JSON.parse(client.output().trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
    assert.equal(summary.ok, false);
    assert.equal(summary.tunnels.live, 2, 'both tunnels were up: the failure is the ping');
    const byId = Object.fromEntries(summary.ping.tunnels.map((t: { tunnelId: number }) => [t.tunnelId, t]));
    assert.equal(byId[1].lost, 0);
    assert.ok(byId[2].lost >= 10 && byId[2].received === 0, JSON.stringify(byId[2]));
    assert.equal(summary.ping.total.tunnelsOverMaxLoss, 1);
    assert.ok(summary.errors.last.some((e: { tunnelId?: number; message: string }) => e.tunnelId === 2 && /ping loss/.test(e.message)), JSON.stringify(summary.errors));
    assert.ok(events.some((e) => JSON.stringify(e).includes('ping-loss')), 'the ping-loss event reached the API subscriber');
  });

  it('our client <-> our gateway, 100 tunnels: 0% loss; IKE and CHILD rekeys during the ping lose at most one packet per tunnel; clearping resets', async () => {
    const net = await bed.create();
    const gw = await startEngine({
      ns: net.nsB,
      dir: bed.dir,
      name: 'gateway',
      setup: gatewaySetup({ n: 100, bindif: net.ifB, addr: '172.29.0.1/16', psk: PSK }),
    });
    bed.engines.push(gw);
    const client = await startEngine({
      ns: net.nsA,
      dir: bed.dir,
      name: 'client',
      setup: clientSetup({
        n: 100,
        bindif: net.ifA,
        startAddr: '172.29.1.1/16',
        peer: '172.29.0.1',
        psk: PSK,
        interval: '500ms',
        holdtime: '1s',
        // CHILD SAs rekey every ~9 s and IKE SAs every ~20 s (lifetime - margin) while pinging.
        ike: { ikelifetime: '25s', margintime: '5s', jitter: false },
        child: { lifetime: '14s' },
      }),
    });
    bed.engines.push(client);
    await waitFor('100 tunnels up', async () => {
      const sum = await client.api.request<{ tunnels: { live: number } }>('summary');
      return sum.tunnels.live === 100;
    }, 60_000);
    const childIds = async () => (await client.api.request<{ children: { id: string }[] }>('child.list')).children.map((x) => x.id);
    const ikeIds = async () => (await client.api.request<{ sas: { id: string }[] }>('ike.list')).sas.map((x) => x.id);
    const childIdsBefore = new Set(await childIds());
    const ikeIdsBefore = new Set(await ikeIds());
    assert.equal(childIdsBefore.size, 100);
    const s = await pingsDone(client, 100, 50, 120_000);
    assert.equal((await childIds()).filter((id) => childIdsBefore.has(id)).length, 0, 'every CHILD SA was rekeyed during the ping');
    assert.equal((await ikeIds()).filter((id) => ikeIdsBefore.has(id)).length, 0, 'every IKE SA was rekeyed during the ping');
    let lostTotal = 0;
    for (const t of s.tunnels) {
      assert.ok(t.lost <= 1, `tunnel ${t.tunnelId} lost ${t.lost}`);
      lostTotal += t.lost;
    }
    assert.ok(s.total.received >= 5000);
    // clearping through the CLI, observed through the API
    const cli = await run(process.execPath, [MAIN_JS, 'cli', '--socket', client.socket, '-e', 'clearping'], { timeout: 20_000 });
    assert.match(cli.stdout, /cleared/);
    const cleared = await pingSummary(client);
    assert.ok(cleared.total.sent <= 200, `counters restart from zero (sent ${cleared.total.sent})`);
    assert.equal(cleared.total.lost, 0);
    assert.ok(cleared.total.received <= cleared.total.sent);
    console.log(`      100 tunnels: ${s.total.sent} sent, ${s.total.received} received, ${lostTotal} lost across rekeys`);
  });
});
