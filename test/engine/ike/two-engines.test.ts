import assert from 'node:assert/strict';
import { CLIENT, GW, gatewayPolicy, Net, policy } from './harness.js';
import { Exchange, Notify } from '../../../src/engine/ike/constants.js';
import { decodeHeader, decodeMessage, encodeMessage } from '../../../src/engine/ike/message.js';
import { childReqid } from '../../../src/engine/child-sa.js';

function pair(clientOver = {}, gwOver = {}, clientChild = {}, gwChild = {}, cookieThreshold?: number) {
  const net = new Net();
  const client = net.add(CLIENT.addr);
  const gw = net.add(GW.addr, { responder: gatewayPolicy(gwOver, gwChild), cookieThreshold });
  let result: { ok: boolean; reason?: string } | undefined;
  const sa = client.engine.initiate(policy(clientOver, clientChild), CLIENT, GW, (ok, reason) => (result = reason ? { ok, reason } : { ok }));
  net.run();
  return { net, client, gw, sa, result: () => result };
}

/** A client and a gateway on one network, nothing sent yet. */
function wired() {
  const net = new Net();
  return { net, client: net.add(CLIENT.addr), gw: net.add(GW.addr, { responder: gatewayPolicy() }) };
}

function assertMatchingChild(a: ReturnType<typeof pair>['client'], b: ReturnType<typeof pair>['gw']) {
  assert.equal(a.up.size, 1);
  assert.equal(b.up.size, 1);
  const [ka] = a.up.values();
  const [kb] = b.up.values();
  assert.equal(ka.spiIn, kb.spiOut);
  assert.equal(ka.spiOut, kb.spiIn);
  assert.deepEqual(ka.encKeyIn, kb.encKeyOut);
  assert.deepEqual(ka.encKeyOut, kb.encKeyIn);
  assert.deepEqual(ka.integKeyIn, kb.integKeyOut);
  assert.notDeepEqual(ka.encKeyIn, ka.encKeyOut);
  return { ka, kb };
}

describe('IKE engine: two engines wired together', () => {
  const suites = [
    { name: 'aes-cbc:128/sha256/14', ike: { encr: ['aes-cbc:128'], integ: ['sha256'], prf: ['sha256'], dh: [14] } },
    { name: 'aes-cbc:256/sha384/20', ike: { encr: ['aes-cbc:256'], integ: ['sha384'], prf: ['sha384'], dh: [20] } },
    { name: 'aes-gcm16:128/prf sha256/31', ike: { encr: ['aes-gcm16:128'], integ: [], prf: ['sha256'], dh: [31] } },
    { name: 'aes-gcm16:256/sha512/21', ike: { encr: ['aes-gcm16:256'], integ: [], prf: ['sha512'], dh: [21] } },
    { name: 'aes-cbc:128/sha1/19', ike: { encr: ['aes-cbc:128'], integ: ['sha1'], prf: ['sha1'], dh: [19] } },
  ];
  for (const s of suites) {
    it(`establishes IKE and CHILD SAs with ${s.name}`, () => {
      const child = { encr: s.ike.encr, integ: s.ike.integ.length ? s.ike.integ : ['sha256'] };
      const p = pair({ ike: s.ike }, { ike: s.ike }, child, child);
      assert.deepEqual(p.result(), { ok: true });
      assert.equal(p.sa.state, 'established');
      const { ka } = assertMatchingChild(p.client, p.gw);
      assert.equal(ka.encr.name, s.ike.encr[0].split(':')[0]);
      assert.equal(ka.local.port, 4500, 'floated to 4500 (forced encapsulation)');
      const gwSa = [...p.gw.engine.sas.values()][0];
      assert.equal(gwSa.state, 'established');
      assert.equal(gwSa.remote.port, 4500);
    });
  }

  it('works over IPv6 with IPv6 selectors', () => {
    const net = new Net();
    const c6 = { addr: '2001:db8::1', port: 500 };
    const g6 = { addr: '2001:db8::fe', port: 500 };
    const client = net.add(c6.addr);
    const v6 = (a: string, b: string) => [{ family: 6 as const, protocol: 0, startPort: 0, endPort: 65535, startAddr: a, endAddr: b }];
    const gw = net.add(g6.addr, { responder: gatewayPolicy({}, { localTs: v6('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), remoteTs: v6('fd00::', 'fd00::ffff') }) });
    let ok: boolean | undefined;
    client.engine.initiate(policy({}, { localTs: v6('fd00::1', 'fd00::1'), remoteTs: v6('fd01::', 'fd01::ffff') }), c6, g6, (r) => (ok = r));
    net.run();
    assert.equal(ok, true);
    const [k] = client.up.values();
    assert.equal(k.localTs[0].startAddr, 'fd00::1');
    assert.equal(k.remoteTs[0].endAddr, 'fd01::ffff');
    assert.equal(k.remote.addr, '2001:db8::fe');
    assert.equal(gw.up.size, 1);
  });

  it('creates further CHILD SAs with CREATE_CHILD_SA and matches them to the right responder config', () => {
    const ts = (a: string, b: string) => [{ family: 4 as const, protocol: 0, startPort: 0, endPort: 65535, startAddr: a, endAddr: b }];
    const second = { ...policy().child, encr: ['aes-gcm16:256'], localTs: ts('10.1.0.1', '10.1.0.1'), remoteTs: ts('10.3.0.0', '10.3.0.255'), pfsGroups: [31] };
    const gwSecond = { ...gatewayPolicy().child, encr: ['aes-gcm16:256'], localTs: ts('10.3.0.0', '10.3.255.255'), remoteTs: ts('10.1.0.0', '10.1.255.255'), pfsGroups: [31] };
    const net = new Net();
    const client = net.add(CLIENT.addr);
    net.add(GW.addr, { responder: { ...gatewayPolicy({}, { localTs: ts('10.2.0.0', '10.2.255.255') }), extraChildren: [gwSecond] } });
    const sa = client.engine.initiate({ ...policy(), extraChildren: [second] }, CLIENT, GW, () => client.engine.createExtraChildren(sa));
    net.run();
    assert.equal(sa.children.length, 2);
    const [a, b] = sa.children;
    assert.equal(a.encr.name, 'aes-cbc:128');
    assert.equal(b.encr.name, 'aes-gcm16:256');
    assert.equal(b.pfsGroup, 31);
    assert.equal(b.keys.remoteTs[0].startAddr, '10.3.0.0');
    const gwSa = [...net.nodes.get(GW.addr)!.engine.sas.values()][0];
    assert.equal(gwSa.children.length, 2);
    // Each entry its own kernel reqid, on both sides: a shared one would send 10.3/24's traffic with the first entry's SA.
    assert.deepEqual([a.keys.reqid, b.keys.reqid], [sa.tunnelId, childReqid(sa.tunnelId, 1)]);
    assert.notEqual(a.keys.reqid, b.keys.reqid);
    assert.deepEqual(gwSa.children.map((c) => c.keys.reqid), [gwSa.tunnelId, childReqid(gwSa.tunnelId, 1)]);
    // the rekey of the second one keeps its own algorithms, and its reqid (its policies stay)
    assert.ok(client.engine.rekeyChildById(b.id));
    net.run();
    assert.equal(sa.children.length, 2);
    assert.equal(sa.children[1].encr.name, 'aes-gcm16:256');
    assert.equal(sa.children[1].rekeys, 1);
    assert.equal(sa.children[1].keys.reqid, b.keys.reqid);
  });

  it('narrows the traffic selectors to the responder policy', () => {
    const p = pair({}, {}, {}, { localTs: [{ family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: '10.2.1.0', endAddr: '10.2.1.255' }] });
    const { ka } = assertMatchingChild(p.client, p.gw);
    assert.equal(ka.remoteTs[0].startAddr, '10.2.1.0');
    assert.equal(ka.remoteTs[0].endAddr, '10.2.1.255');
    assert.equal(ka.localTs[0].startAddr, '10.1.0.1');
  });

  it('retries with the group the responder asks for (INVALID_KE_PAYLOAD)', () => {
    const p = pair({ ike: { encr: ['aes-cbc:128'], integ: ['sha256'], prf: ['sha256'], dh: [19, 14] } }, { ike: { encr: ['aes-cbc:128'], integ: ['sha256'], prf: ['sha256'], dh: [14] } });
    assert.deepEqual(p.result(), { ok: true });
    assert.equal(p.sa.suite!.dhGroup, 14);
    assert.ok(p.client.logs.some((l) => l.includes('wants DH group 14')));
  });

  it('answers with a COOKIE and accepts the retry that carries it', () => {
    const p = pair({}, {}, {}, {}, 0);
    assert.deepEqual(p.result(), { ok: true });
    assert.ok(p.client.logs.some((l) => l.includes('COOKIE')));
  });

  it('fails cleanly when the pre-shared keys differ', () => {
    const p = pair({}, { psk: Buffer.from('other') });
    assert.equal(p.result()?.ok, false);
    assert.equal(p.sa.state, 'failed');
    assert.equal(p.gw.engine.sas.size, 0);
    assert.equal(p.client.up.size + p.gw.up.size, 0);
    assert.ok(!p.client.logs.join('\n').includes('test-psk-not-secret'), 'PSK never logged');
  });

  it('fails with NO_PROPOSAL_CHOSEN when no proposal matches', () => {
    const p = pair({}, { ike: { encr: ['aes-cbc:256'], integ: ['sha256'], prf: ['sha256'], dh: [14] } });
    assert.equal(p.result()?.ok, false);
    assert.match(p.result()!.reason!, /NO_PROPOSAL_CHOSEN/);
    // the gateway says why too, not only the client (what was offered, what it accepts)
    assert.ok(
      p.gw.logs.some((l) => l.startsWith('2 ') && l.includes('NO_PROPOSAL_CHOSEN (offered aes-cbc:128/prf sha256/sha256/group 14; ikeconf accepts aes-cbc:256 /')),
      p.gw.logs.join('\n'),
    );
  });

  it('retransmits lost requests and gives up after maxretran', () => {
    const net = new Net();
    const client = net.add(CLIENT.addr);
    net.add(GW.addr, { responder: gatewayPolicy() });
    let dropped = 0;
    net.drop = (data) => data[18] === Exchange.IKE_AUTH && dropped++ < 2; // lose IKE_AUTH twice
    let res: boolean | undefined;
    client.engine.initiate(policy(), CLIENT, GW, (ok) => (res = ok));
    net.run();
    net.advance(5000);
    assert.equal(res, true);
    assert.ok(dropped >= 3);
    // now a dead peer: everything lost
    const c2 = net.add('192.0.2.2');
    net.drop = (_d, _f, to) => to.addr === GW.addr && true;
    let res2: boolean | undefined;
    const sa2 = c2.engine.initiate(policy({ tunnelId: 2 }), { addr: '192.0.2.2', port: 500 }, GW, (ok) => (res2 = ok));
    net.advance(20_000);
    assert.equal(res2, false);
    assert.equal(sa2.state, 'failed');
  });

  it('rekeys CHILD SAs (with PFS) and the IKE SA, keeping one CHILD SA up', () => {
    const child = { lifetimeMs: 20_000, pfsGroups: [19] };
    const p = pair({ ikeLifetimeMs: 30_000, marginMs: 5000 }, { ikeLifetimeMs: 60_000, marginMs: 5000 }, child, { pfsGroups: [19] });
    assert.deepEqual(p.result(), { ok: true });
    const firstChild = [...p.client.up.keys()][0];
    const firstIke = p.sa.id;
    p.net.advance(70_000);
    assert.equal(p.client.up.size, 1);
    assert.equal(p.gw.up.size, 1);
    assert.notEqual([...p.client.up.keys()][0], firstChild, 'CHILD SA was replaced');
    assertMatchingChild(p.client, p.gw);
    const clientSas = [...p.client.engine.sas.values()];
    assert.equal(clientSas.length, 1);
    assert.notEqual(clientSas[0].id, firstIke, 'IKE SA was replaced');
    assert.ok(clientSas[0].rekeys >= 1);
    assert.equal(p.gw.engine.sas.size, 1);
    assert.ok(p.client.events.some((e) => e.kind === 'child' && e.state === 'rekeying'));
  });

  it('lets the responder rekey the IKE SA and a CHILD SA too', () => {
    const p = pair();
    const gwSa = [...p.gw.engine.sas.values()][0];
    assert.ok(p.gw.engine.rekeyIkeById(gwSa.id));
    p.net.run();
    const [newGw] = [...p.gw.engine.sas.values()];
    assert.equal(p.gw.engine.sas.size, 1);
    assert.notEqual(newGw.id, gwSa.id);
    assert.equal(newGw.initiator, true, 'the rekeying side is the initiator of the new IKE SA');
    const [newClient] = [...p.client.engine.sas.values()];
    assert.equal(p.client.engine.sas.size, 1);
    assert.equal(newClient.initiator, false);
    assert.ok(p.gw.engine.rekeyChildById(newGw.children[0].id));
    p.net.run();
    assertMatchingChild(p.client, p.gw);
    assert.equal(newClient.children[0].rekeys, 1);
    // and the moved SA still carries traffic of the protocol: DPD-style exchange both ways
    p.client.engine.deleteAll('done');
    p.net.run();
    assert.equal(p.gw.engine.sas.size, 0);
  });

  it('survives colliding CHILD rekeys from both sides', () => {
    const p = pair({}, {}, { lifetimeMs: 20_000 }, { lifetimeMs: 20_000 });
    const [c] = [...p.client.engine.sas.values()][0].children;
    const [g] = [...p.gw.engine.sas.values()][0].children;
    p.client.engine.rekeyChildById(c.id);
    p.gw.engine.rekeyChildById(g.id);
    p.net.run();
    p.net.advance(10_000);
    assert.equal(p.client.up.size, 1);
    assert.equal(p.gw.up.size, 1);
    assertMatchingChild(p.client, p.gw);
    const logs = p.client.logs.concat(p.gw.logs);
    assert.ok(logs.some((l) => /^3 .*rekey of CHILD .* failed: TEMPORARY_FAILURE; retrying/.test(l)), 'the refused rekey is told, as information');
    assert.deepEqual(logs.filter((l) => l.startsWith('2 ')), [], 'a collision is no error (loglevel 2 shows errors)');
  });

  it('resolves an IKE rekey collision: one new IKE SA on each side, CHILD SAs kept', () => {
    const p = pair();
    const c0 = [...p.client.engine.sas.values()][0];
    const g0 = [...p.gw.engine.sas.values()][0];
    assert.ok(p.client.engine.rekeyIkeById(c0.id));
    assert.ok(p.gw.engine.rekeyIkeById(g0.id));
    p.net.run();
    p.net.advance(10_000);
    const cs = [...p.client.engine.sas.values()];
    const gs = [...p.gw.engine.sas.values()];
    assert.equal(cs.length, 1);
    assert.equal(gs.length, 1);
    assert.notEqual(cs[0].id, c0.id);
    assert.equal(cs[0].spiI.toString('hex') + cs[0].spiR.toString('hex'), gs[0].spiI.toString('hex') + gs[0].spiR.toString('hex'));
    assertMatchingChild(p.client, p.gw);
    assert.ok(p.client.logs.concat(p.gw.logs).some((l) => l.includes('TEMPORARY_FAILURE')), 'the collision was seen and answered');
    assert.deepEqual(p.client.logs.concat(p.gw.logs).filter((l) => l.startsWith('2 ')), [], 'a collision is no error (loglevel 2 shows errors)');
  });

  it('deletes an expired CHILD SA at the peer too (not just locally)', () => {
    const p = pair({}, {}, { lifetimeMs: 10_000 });
    p.sa.children[0].rekeyAt = 0; // a rekey that never happens
    p.net.advance(20_000);
    assert.equal(p.client.up.size, 0);
    assert.equal(p.gw.up.size, 0, 'the peer was told');
    assert.equal(p.sa.state, 'established');
  });

  it('detects a dead peer with DPD', () => {
    const p = pair({ dpdMs: 5000 });
    assert.equal(p.sa.state, 'established');
    p.net.advance(6000);
    assert.equal(p.sa.state, 'established', 'DPD answered');
    p.net.nodes.delete(GW.addr); // the gateway is gone
    p.net.advance(30_000);
    assert.equal(p.sa.state, 'failed');
    assert.match(p.sa.lastError!, /DPD/);
    assert.equal(p.client.up.size, 0);
  });

  it('deletes all SAs on both sides (graceful stop)', () => {
    const p = pair();
    p.client.engine.deleteAll('stop');
    p.net.run();
    assert.equal(p.client.engine.sas.size, 0);
    assert.equal(p.gw.engine.sas.size, 0);
    assert.equal(p.gw.up.size, 0);
    assert.equal(p.client.up.size, 0);
  });

  it('a graceful stop while IKE_AUTH is in flight deletes the SA once it is up, so the responder is not left with it', () => {
    const { net, client, gw } = wired();
    const sa = client.engine.initiate(policy(), CLIENT, GW);
    // Deliver until the gateway has answered IKE_AUTH, holding its answer back.
    while (net.queue.length && !(net.queue[0].to === client && sa.pending?.exchange === Exchange.IKE_AUTH)) net.run(1);
    assert.equal(sa.state, 'connecting');
    assert.equal([...gw.engine.sas.values()][0]?.state, 'established', 'the gateway counts it up');
    client.engine.deleteAll('stop');
    net.run();
    assert.equal(client.engine.sas.size, 0);
    assert.equal(gw.engine.sas.size, 0, 'the gateway heard the DELETE');
    assert.ok(gw.logs.some((l) => /closed: deleted by the peer/.test(l)), gw.logs.slice(-3).join('\n'));
  });

  it('both sides stopping in the middle of a handshake: it finishes, both Deletes are answered, nothing is left', () => {
    const { net, client, gw } = wired();
    const sa = client.engine.initiate(policy(), CLIENT, GW);
    net.run(3); // IKE_SA_INIT there and back, IKE_AUTH there: the gateway counts it up, its answer is on the way
    assert.equal([...gw.engine.sas.values()][0]?.state, 'established');
    assert.equal(sa.state, 'connecting');
    client.engine.deleteAll('stop');
    gw.engine.deleteAll('stop');
    net.run();
    assert.equal(client.engine.sas.size, 0);
    assert.equal(gw.engine.sas.size, 0);
  });

  it('a stopping gateway answers no new IKE_SA_INIT', () => {
    const { net, client, gw } = wired();
    gw.engine.deleteAll('stop');
    const sa = client.engine.initiate(policy(), CLIENT, GW);
    net.run();
    assert.equal(gw.engine.sas.size, 0);
    assert.equal(sa.state, 'connecting');
  });

  it('detects no NAT where there is none, on the responder too (its request hashes have SPIr zero, RFC 7296 §2.23)', () => {
    const p = pair({ forceEncap: false }, { forceEncap: false });
    assert.deepEqual(p.result(), { ok: true });
    const gwSa = [...p.gw.engine.sas.values()][0];
    for (const sa of [p.sa, gwSa]) assert.deepEqual([sa.natLocal, sa.natRemote, sa.encap, sa.local.port], [false, false, false, 500], sa.initiator ? 'client' : 'gateway');
    // a peer faking its source hash (our forced encapsulation, strongSwan's encap = yes) is seen behind a NAT
    const q = pair({ forceEncap: true }, { forceEncap: false });
    const gwQ = [...q.gw.engine.sas.values()][0];
    assert.deepEqual([gwQ.natLocal, gwQ.natRemote, gwQ.encap, gwQ.local.port], [false, true, true, 4500]);
    assert.deepEqual([q.sa.natLocal, q.sa.natRemote], [false, false]);
  });

  it('sends NAT keepalives from the NAT-T port while it says it is behind a NAT, after the interval without an IKE message; none without a NAT or with 0', () => {
    const p = pair({ forceEncap: true, natKeepaliveMs: 20_000 }, { forceEncap: false, natKeepaliveMs: 20_000 });
    assert.deepEqual(p.result(), { ok: true });
    const start = p.net.now;
    p.net.advance(19_000);
    assert.equal(p.client.keepalives.length, 0, 'not before the interval');
    p.net.advance(2_000);
    assert.deepEqual(p.client.keepalives.map((k) => [k.from, k.to]), [[{ ...CLIENT, port: 4500 }, { ...GW, port: 4500 }]]);
    p.net.advance(40_000);
    assert.deepEqual(p.client.keepalives.map((k) => Math.round((k.at - start) / 1000)), [20, 40, 60], 'one every interval');
    assert.equal(p.sa.stats.keepalivesOut, 3);
    assert.equal(p.gw.keepalives.length, 0, 'the gateway is not behind a NAT and does not say so');
    // An IKE message sent (a DPD probe) starts the interval again.
    p.client.engine.dpd(p.sa);
    p.net.run();
    p.net.advance(19_000);
    assert.equal(p.client.keepalives.length, 3);
    p.net.advance(2_000);
    assert.equal(p.client.keepalives.length, 4);
    // No NAT on either side, or keepalives off: none.
    for (const over of [{ forceEncap: false }, { forceEncap: true, natKeepaliveMs: 0 }]) {
      const q = pair({ natKeepaliveMs: 20_000, ...over }, { forceEncap: false });
      assert.deepEqual(q.result(), { ok: true });
      q.net.advance(60_000);
      assert.equal(q.client.keepalives.length, 0, JSON.stringify(over));
    }
  });

  it('a gateway refusing a CHILD SA says why (the peer only sees the notify)', () => {
    const p = pair({}, {}, {}, { remoteTs: [{ family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: '10.1.0.0', endAddr: '10.1.255.255' }] });
    const base = policy().child;
    const extra = [{ ...base, encr: ['aes-gcm16:256'] }, { ...base, localTs: [{ ...base.localTs[0], startAddr: '10.9.0.1', endAddr: '10.9.0.1' }] }, { ...base, esn: true }];
    p.client.engine.createExtraChildren(Object.assign(p.sa, { policy: { ...p.sa.policy, extraChildren: extra } }));
    p.net.run();
    assert.equal(p.gw.up.size, 1);
    const refused = p.gw.logs.filter((l) => l.startsWith('2 ') && l.includes('CREATE_CHILD_SA request refused'));
    assert.equal(refused.length, 3, p.gw.logs.join('\n'));
    assert.match(refused[0], /NO_PROPOSAL_CHOSEN \(no childlist entry accepts the offered aes-gcm16:256\)/);
    assert.match(refused[1], /TS_UNACCEPTABLE \(offered TSi 10\.9\.0\.1-10\.9\.0\.1, TSr 10\.2\.0\.0-10\.2\.255\.255\)/);
    assert.match(refused[2], /the offered aes-cbc:128\/sha256\/esn\)/, 'says it is the ESN');
  });

  it('creates an extra CHILD SA and deletes a CHILD SA on request', () => {
    const p = pair();
    const gwSa = [...p.gw.engine.sas.values()][0];
    const cid = [...p.client.up.keys()][0];
    assert.ok(p.client.engine.deleteChildById(cid));
    p.net.run();
    assert.equal(p.client.up.size, 0);
    assert.equal(p.gw.up.size, 0);
    assert.equal(gwSa.state, 'established');
  });

  it('INITIAL_CONTACT replaces an older IKE SA of the same peer', () => {
    const { net, client, gw } = wired();
    client.engine.initiate(policy(), CLIENT, GW);
    net.run();
    client.engine.closeAll('the client restarted'); // it forgets its SAs, the gateway does not
    client.engine.initiate(policy(), CLIENT, GW);
    net.run();
    assert.equal(gw.engine.sas.size, 1);
    assert.equal(gw.up.size, 1);
  });

  it('the SA that replaces another by INITIAL_CONTACT keeps its tunnel number on the gateway; without it, a new number', () => {
    const { net, client, gw } = wired();
    client.engine.initiate(policy(), CLIENT, GW);
    net.run();
    const [first] = gw.engine.sas.values();
    assert.equal(first.tunnelId, 1);
    client.engine.closeAll('the client restarted');
    client.engine.initiate(policy(), CLIENT, GW); // the client restarted: same identity and address
    net.run();
    const [second] = gw.engine.sas.values();
    assert.notEqual(second, first);
    assert.equal(second.tunnelId, 1);
    assert.deepEqual([...gw.up.values()].map((k) => k.tunnelId), [1]);
    const est = gw.events.filter((e) => e.kind === 'ike' && e.state === 'established');
    assert.deepEqual(est.map((e) => e.tunnelId), [1, 1], 'established under the number it keeps');
    client.engine.initiate(policy({ initialContact: false }), CLIENT, GW);
    net.run();
    assert.deepEqual([...gw.engine.sas.values()].map((sa) => sa.tunnelId).sort(), [1, 2], 'numbered when established: the replacing SA used no number of its own');
  });

  it('sends INITIAL_CONTACT only while no other IKE SA of its ID to that peer is up (tunnels sharing a myid: strongSwan would drop the others)', () => {
    const { net, client, gw } = wired();
    const a = client.engine.initiate(policy(), CLIENT, GW);
    const b = client.engine.initiate(policy(), CLIENT, GW); // both in IKE_SA_INIT at once, as tunnels started together
    net.run();
    const c = client.engine.initiate(policy(), CLIENT, GW);
    net.run();
    assert.deepEqual([a, b, c].map((sa) => sa.state), ['established', 'established', 'established']);
    assert.equal(gw.engine.sas.size, 3, 'the gateway dropped none of them');
    assert.ok(!gw.logs.some((l) => /INITIAL_CONTACT: replaces/.test(l)), gw.logs.join('\n'));
    client.engine.closeAll('the client restarted');
    client.engine.initiate(policy(), CLIENT, GW);
    net.run();
    assert.equal(gw.engine.sas.size, 1, 'alone again: it sends INITIAL_CONTACT, the gateway drops the 3 it forgot');
  });

  it('INITIAL_CONTACT replaces every older IKE SA of the peer, also those set up without it, and takes the first number', () => {
    const { net, client, gw } = wired();
    const other = net.add('192.0.2.2'); // another client with the same identity (a shared myid), its own address
    other.engine.initiate(policy({ initialContact: false }), { addr: '192.0.2.2', port: 500 }, GW);
    net.run();
    client.engine.initiate(policy({ initialContact: false }), CLIENT, GW);
    net.run();
    client.engine.closeAll('the client restarted');
    client.engine.initiate(policy({ initialContact: false }), CLIENT, GW); // restarted without INITIAL_CONTACT: both linger
    net.run();
    const tunnels = () => [...gw.engine.sas.values()].map((sa) => `${sa.tunnelId} ${sa.remote.addr}`).sort();
    assert.deepEqual(tunnels(), ['1 192.0.2.2', '2 192.0.2.1', '3 192.0.2.1']);
    const old = [...gw.engine.sas.values()].filter((sa) => sa.remote.addr === CLIENT.addr);
    client.engine.closeAll('the client restarted');
    client.engine.initiate(policy({ initialContact: true }), CLIENT, GW); // restarted with it
    net.run();
    assert.deepEqual(tunnels(), ['1 192.0.2.2', '2 192.0.2.1'], 'both older SAs of 192.0.2.1 gone; the new one has its first number');
    assert.ok(old.every((sa) => sa.state === 'closed' && sa.children.length === 0));
    assert.deepEqual([...gw.up.values()].map((k) => k.tunnelId).sort(), [1, 2], 'their CHILD SAs are gone too');
    assert.ok(gw.logs.some((l) => /INITIAL_CONTACT: replaces IKE SA/.test(l)));
  });

  it('a gateway numbers a tunnel when its IKE SA is established: failed and abandoned handshakes use no number', () => {
    const net = new Net();
    const gw = net.add(GW.addr, { responder: gatewayPolicy() });
    const from = (i: number) => ({ addr: `192.0.2.${i}`, port: 500 });
    const clients = [1, 2, 3, 4, 5].map((i) => net.add(from(i).addr));
    // 1: wrong PSK
    clients[0].engine.initiate(policy({ psk: Buffer.from('wrong') }), from(1), GW);
    net.run();
    assert.equal(gw.engine.sas.size, 0);
    // 2: vanishes after IKE_SA_INIT (its IKE_AUTH never arrives), its IKE_SA_INIT sent twice with another SPI too
    net.drop = (d, f) => f.addr === from(2).addr && decodeHeader(d)?.exchange === Exchange.IKE_AUTH;
    clients[1].engine.initiate(policy(), from(2), GW);
    net.run();
    clients[1].engine.initiate(policy(), from(2), GW);
    net.run();
    const halfOpen = [...gw.engine.sas.values()];
    assert.equal(halfOpen.length, 2);
    assert.deepEqual(halfOpen.map((sa) => [sa.state, sa.tunnelId]), [['connecting', 0], ['connecting', 0]], 'half open: no number yet');
    assert.deepEqual(gw.events.filter((e) => e.kind === 'ike').map((e) => e.tunnelId), [0, 0, 0, 0], 'bad PSK connecting/failed and two connecting, all without a number');
    clients[1].engine.closeAll('vanished'); // sends nothing more
    net.drop = () => false;
    // 3, 4, 5 come up: 1, 2, 3
    for (const i of [3, 4, 5]) {
      clients[i - 1].engine.initiate(policy(), from(i), GW);
      net.run();
    }
    const est = () => [...gw.engine.sas.values()].filter((sa) => sa.state === 'established');
    assert.deepEqual(est().map((sa) => `${sa.remote.addr} ${sa.tunnelId}`), ['192.0.2.3 1', '192.0.2.4 2', '192.0.2.5 3']);
    assert.deepEqual([...gw.up.values()].map((k) => k.tunnelId), [1, 2, 3]);
    net.advance(20_000); // the half-open SAs time out
    assert.equal(gw.engine.sas.size, 3);
    const failed = gw.events.filter((e) => e.kind === 'ike' && e.state === 'failed');
    assert.deepEqual(failed.map((e) => e.tunnelId), [0, 0, 0]);
    clients[1].engine.initiate(policy(), from(2), GW); // client 2 comes back for good: the next number
    net.run();
    assert.deepEqual(est().map((sa) => sa.tunnelId).sort(), [1, 2, 3, 4]);
  });

  it('survives mutated and random datagrams: no internal error, the SA keeps working', () => {
    const { net, client, gw } = wired();
    const seen: { data: Buffer; from: typeof CLIENT; to: typeof GW }[] = [];
    net.drop = (data, from, to) => void seen.push({ data: Buffer.from(data), from, to }) as unknown as boolean;
    const sa = client.engine.initiate(policy({ dpdMs: 3000 }), CLIENT, GW);
    net.run();
    assert.equal(sa.state, 'established');
    let rnd = 12345;
    const next = () => (rnd = (rnd * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 3000; i++) {
      const m = seen[i % seen.length];
      const buf = Buffer.from(m.data);
      if (i % 3 === 0) buf[next() % buf.length] ^= 1 + (next() % 255);
      else if (i % 3 === 1) buf.writeUInt32BE(next(), 28 + (next() % Math.max(1, buf.length - 32)));
      const target = m.to.addr === GW.addr ? gw : client;
      target.engine.receive(i % 7 === 0 ? Buffer.from(Array.from({ length: next() % 200 }, () => next() & 255)) : buf, m.from, m.to);
    }
    assert.ok(!client.logs.concat(gw.logs).some((l) => l.startsWith('1 ')), 'no internal error');
    net.drop = () => false;
    net.queue = [];
    net.advance(4000);
    assert.equal(sa.state, 'established', 'DPD still answered after the garbage');
    assert.equal(client.up.size, 1);
  });

  it('answers an IKE_SA_INIT with an unknown critical payload with UNSUPPORTED_CRITICAL_PAYLOAD', () => {
    const net = new Net();
    const gw = net.add(GW.addr, { responder: gatewayPolicy() });
    const got: Buffer[] = [];
    net.add(CLIENT.addr).engine.receive = (d) => void got.push(d);
    const req = encodeMessage({ spiI: Buffer.alloc(8, 7), spiR: Buffer.alloc(8), exchange: Exchange.IKE_SA_INIT, flags: 0x08, messageId: 0, payloads: [{ type: 222, unknown: true, critical: true, body: Buffer.from('x') }] });
    gw.engine.receive(req, CLIENT, GW);
    net.run();
    assert.equal(got.length, 1);
    const r = decodeMessage(got[0]);
    assert.ok(r.ok);
    const n = r.msg.payloads[0] as { notifyType: number; data: Buffer };
    assert.equal(n.notifyType, Notify.UNSUPPORTED_CRITICAL_PAYLOAD);
    assert.deepEqual(n.data, Buffer.from([222]));
    assert.equal(gw.engine.sas.size, 0);
  });
});
