import assert from 'node:assert/strict';
import { clientPolicy, engineAddresses, gatewayPolicy, identity, shiftTs, tunnelAddr } from '../../../src/engine/program/policy.js';
import type { EngineSetup } from '../../../src/model/setup-types.js';
import { IdType } from '../../../src/engine/ike/constants.js';

const ts = (startaddr: string, endaddr: string) => ({ type: 'v4' as const, protocol: 0, startport: 0, endport: 65535, startaddr, endaddr });

function setup(over: Partial<EngineSetup> = {}): EngineSetup {
  return {
    file: '/x.yaml', sha256: '', role: 'client', desc: '', runningtimeMs: 0, numberoftunnels: 3, loglevel: 2,
    startclntaddr: '172.31.1.250/16', peeraddr: '172.31.0.1', bindifname: 'data0', bindifaddr: '', staticroute: '',
    setupintervalMs: 100, tunnelretryintervalMs: 10_000, tunnelmaxretry: 3, owntsaddrincrease: 1, peertsaddrincrease: 0,
    apilistenaddr: '0.0.0.0', apilistenport: 12330, abortonerr: false,
    ikeconf: {
      dhgrpid: [19], ikeencyptalg: ['aes-gcm16:128'], ikeintegrityalg: ['sha256'], ikeprfalg: ['sha256'], authownmethod: 'psk', authpeermethod: 'psk',
      psk: 'k', myid: 'client-src-addr', retranintervalMs: 10_000, maxretran: 4, cookiethreshold: 2000, initialcontact: true, initiatedpd: true, dpdintervalMs: 30_000,
      ikelifetimeMs: 600_000, margintimeMs: 60_000, jitter: true, enablenatt: false, natkeepaliveMs: 20_000, tradtionalencapforceudp: false, installfastpath: false,
      childlist: [{ tunnelmode: true, encalg: ['aes-gcm16:128'], integrityalg: ['sha256'], protocol: 'esp', lifetimeMs: 300_000, esn: false, pfsenabled: true, pfsgrpid: [19], replaywindowsize: 256, ownts: [ts('10.10.0.1', '10.10.0.1')], peerts: [ts('0.0.0.0', '255.255.255.255')] }],
    },
    pingconf: { destaddr: '', deststep: 1, srcaddr: '', srcstep: 1, autoaddr: false, intervalMs: 1000, pktlen: 64, maxlossrate: 10, holdtimeMs: 10_000 },
    ...over,
  };
}

describe('engine policy from the setup file', () => {
  it('numbers tunnel addresses from startclntaddr across octets', () => {
    assert.equal(tunnelAddr(setup(), 1), '172.31.1.250');
    assert.equal(tunnelAddr(setup(), 10), '172.31.2.3');
  });

  it('lists the addresses an engine needs on its interface: the tunnels\', then bindifaddr, each once', () => {
    assert.deepEqual(engineAddresses(setup()), ['172.31.1.250/16', '172.31.1.251/16', '172.31.1.252/16']);
    assert.deepEqual(engineAddresses(setup({ bindifaddr: '172.31.1.251/16' })), ['172.31.1.250/16', '172.31.1.251/16', '172.31.1.252/16']);
    assert.deepEqual(engineAddresses(setup({ role: 'gateway', bindifaddr: '172.31.0.1/16' })), ['172.31.0.1/16']);
    assert.deepEqual(engineAddresses(setup({ role: 'gateway', bindifaddr: 'fd00::1' })), ['fd00::1/128']);
  });

  it('shifts selectors per tunnel but never the whole address space', () => {
    const p = clientPolicy(setup(), 3);
    assert.deepEqual([p.child.localTs[0].startAddr, p.child.localTs[0].endAddr], ['10.10.0.3', '10.10.0.3']);
    assert.deepEqual([p.child.remoteTs[0].startAddr, p.child.remoteTs[0].endAddr], ['0.0.0.0', '255.255.255.255']);
    assert.equal(shiftTs([ts('10.0.0.0', '10.0.0.255')], 256)[0].startAddr, '10.0.1.0');
  });

  it('uses the tunnel address as ID, forces UDP encapsulation for the user-space path, PFS groups when enabled', () => {
    const p = clientPolicy(setup(), 2);
    assert.deepEqual(p.localId, { type: IdType.IPV4_ADDR, data: Buffer.from([172, 31, 1, 251]) });
    assert.equal(p.forceEncap, true);
    assert.equal(p.natt, true);
    assert.deepEqual(p.child.pfsGroups, [19]);
    assert.equal(p.dpdMs, 30_000);
    const fast = clientPolicy(setup({ ikeconf: { ...setup().ikeconf, installfastpath: true, initiatedpd: false } }), 1);
    assert.equal(fast.forceEncap, false);
    assert.equal(fast.natt, false);
    assert.equal(fast.dpdMs, 0);
  });

  it('turns childlist[1..] into extra CHILD SAs, shifted per tunnel like the first', () => {
    const base = setup();
    const second = { ...base.ikeconf.childlist[0], encalg: ['aes-cbc:256'], ownts: [ts('10.11.0.1', '10.11.0.1')], peerts: [ts('10.30.0.0', '10.30.0.255')] };
    const p = clientPolicy({ ...base, ikeconf: { ...base.ikeconf, childlist: [base.ikeconf.childlist[0], second] } }, 4);
    assert.equal(p.extraChildren?.length, 1);
    assert.equal(p.extraChildren![0].localTs[0].startAddr, '10.11.0.4');
    assert.deepEqual(p.extraChildren![0].encr, ['aes-cbc:256']);
    assert.equal(clientPolicy(base, 1).extraChildren, undefined);
  });

  it('turns myid into the right ID type', () => {
    assert.equal(identity('gw.example.net', '1.2.3.4').type, IdType.FQDN);
    assert.equal(identity('@gw', '1.2.3.4').data.toString(), 'gw');
    assert.equal(identity('a@b.c', '1.2.3.4').type, IdType.RFC822_ADDR);
    assert.equal(identity('2001:db8::1', '1.2.3.4').data.length, 16);
  });

  it('gives the gateway its bindifaddr as ID', () => {
    const g = gatewayPolicy(setup({ role: 'gateway', bindifaddr: '172.31.0.1/16' }));
    assert.deepEqual(g.localId.data, Buffer.from([172, 31, 0, 1]));
    assert.equal(g.tunnelId, 0);
  });
});
