// Pure: the IKE policy of each tunnel (client) or of the gateway, from the
// setup file. Tunnel n (1-based) uses startclntaddr + (n-1) as its own
// address and shifts its selectors by (n-1) × owntsaddrincrease /
// peertsaddrincrease (a selector covering the whole address space is not shifted).
import { isIP } from 'node:net';
import type { ChildConf, EngineSetup, TrafficSelectorConf } from '../../model/setup-types.js';
import type { TsRange } from '../child-sa.js';
import { addToAddr, toBytes } from '../ike/addr.js';
import { IdType } from '../ike/constants.js';
import { own } from '../ike/bytes.js';
import type { IdConf, IkePolicy } from '../ike/types.js';

export function splitCidr(cidr: string): { addr: string; prefix: number } {
  const [addr, len] = cidr.split('/');
  return { addr, prefix: len === undefined ? (isIP(addr) === 6 ? 128 : 32) : Number(len) };
}

/** The own (outer) address of tunnel n. */
export function tunnelAddr(setup: EngineSetup, n: number): string {
  return addToAddr(splitCidr(setup.startclntaddr).addr, n - 1);
}

/**
 * The addresses (CIDR) an engine needs on its interface: a client's tunnel
 * addresses, then bindifaddr; each once. `exec` adds those missing, or
 * `myikev2 run` sets them while configuring the namespace (`exec --no-netconf`).
 */
export function engineAddresses(setup: EngineSetup): string[] {
  const out: string[] = [];
  if (setup.role === 'client') {
    const { prefix } = splitCidr(setup.startclntaddr);
    for (let n = 1; n <= setup.numberoftunnels; n++) out.push(`${tunnelAddr(setup, n)}/${prefix}`);
  }
  const b = setup.bindifaddr;
  if (b) out.push(b.includes('/') ? b : `${b}/${splitCidr(b).prefix}`);
  return [...new Set(out)];
}

/** The `ip -batch` lines adding (or deleting) these addresses (also what the daemon's namespace helper runs). */
export function addressBatch(op: 'add' | 'del', ifname: string, cidrs: string[]): string {
  // IPv6: nodad, or the address stays tentative and cannot be bound for a second or two
  return cidrs.map((c) => `addr ${op} ${c} dev ${ifname}${op === 'add' && c.includes(':') ? ' nodad' : ''}\n`).join('');
}

export function identity(myid: string, ownAddr: string): IdConf {
  const v = myid === 'client-src-addr' ? ownAddr : myid;
  if (isIP(v) === 4) return { type: IdType.IPV4_ADDR, data: own(toBytes(v)) };
  if (isIP(v) === 6) return { type: IdType.IPV6_ADDR, data: own(toBytes(v)) };
  if (v.includes('@') && !v.startsWith('@')) return { type: IdType.RFC822_ADDR, data: Buffer.from(v) };
  return { type: IdType.FQDN, data: Buffer.from(v.replace(/^@/, '')) };
}

function isWhole(ts: TrafficSelectorConf): boolean {
  return ts.type === 'v4' ? ts.startaddr === '0.0.0.0' && ts.endaddr === '255.255.255.255' : ts.startaddr === '::' && /^ffff(:ffff){7}$/.test(ts.endaddr);
}

export function shiftTs(list: TrafficSelectorConf[], step: number): TsRange[] {
  return list.map((ts) => ({
    family: ts.type === 'v4' ? 4 : 6,
    protocol: ts.protocol,
    startPort: ts.startport,
    endPort: ts.endport,
    startAddr: isWhole(ts) || !step ? ts.startaddr : addToAddr(ts.startaddr, step),
    endAddr: isWhole(ts) || !step ? ts.endaddr : addToAddr(ts.endaddr, step),
  }));
}

function childPolicy(c: ChildConf, own: TsRange[], peer: TsRange[]): IkePolicy['child'] {
  return {
    encr: c.encalg,
    integ: c.integrityalg,
    pfsGroups: c.pfsenabled ? c.pfsgrpid : [],
    esn: c.esn,
    tunnelMode: c.tunnelmode,
    lifetimeMs: c.lifetimeMs,
    replayWindow: c.replaywindowsize,
    localTs: own,
    remoteTs: peer,
  };
}

const PSKS = new WeakMap<EngineSetup, Buffer>();

function basePolicy(setup: EngineSetup, tunnelId: number, ownAddr: string, child: IkePolicy['child']): IkePolicy {
  const k = setup.ikeconf;
  let psk = PSKS.get(setup);
  if (!psk) PSKS.set(setup, (psk = own(Buffer.from(k.psk))));
  const forceEncap = !k.installfastpath || k.tradtionalencapforceudp;
  return {
    tunnelId,
    ike: { encr: k.ikeencyptalg, integ: k.ikeintegrityalg, prf: k.ikeprfalg, dh: k.dhgrpid },
    psk,
    localId: identity(k.myid, ownAddr),
    child,
    retransmitMs: k.retranintervalMs,
    maxRetransmit: k.maxretran,
    dpdMs: k.initiatedpd ? k.dpdintervalMs : 0,
    ikeLifetimeMs: k.ikelifetimeMs,
    marginMs: k.margintimeMs,
    jitter: k.jitter,
    initialContact: k.initialcontact,
    forceEncap,
    natt: k.enablenatt || forceEncap,
    natKeepaliveMs: k.natkeepaliveMs,
  };
}

/** Policy of client tunnel n: the first CHILD SA from childlist[0] (in IKE_AUTH), the others created after it. */
export function clientPolicy(setup: EngineSetup, n: number): IkePolicy {
  const [first, ...rest] = setup.ikeconf.childlist.map((c) =>
    childPolicy(c, shiftTs(c.ownts, (n - 1) * setup.owntsaddrincrease), shiftTs(c.peerts, (n - 1) * setup.peertsaddrincrease)),
  );
  const p = basePolicy(setup, n, tunnelAddr(setup, n), first);
  if (rest.length) p.extraChildren = rest;
  return p;
}

/** Policy the gateway answers every client with (selectors narrowed per request). */
export function gatewayPolicy(setup: EngineSetup): IkePolicy {
  const [first, ...rest] = setup.ikeconf.childlist.map((c) => childPolicy(c, shiftTs(c.ownts, 0), shiftTs(c.peerts, 0)));
  const p = basePolicy(setup, 0, splitCidr(setup.bindifaddr).addr, first);
  if (rest.length) p.extraChildren = rest;
  return p;
}
