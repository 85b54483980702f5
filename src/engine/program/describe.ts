// What the API shows of an IKE SA and a CHILD SA (keys only on request:
// this is a test tool, and wireshark/peer debugging needs them).
import type { ChildSa, IkeSa } from '../ike/ike-sa.js';
import type { Endpoint, TsRange } from '../child-sa.js';
import type { DataPlane, ChildSaStats } from '../esp/data-plane.js';
import { fromBytes } from '../ike/addr.js';
import { IdType } from '../ike/constants.js';

export interface IkeInfo {
  id: string;
  tunnelId: number;
  state: string;
  initiator: boolean;
  spiI: string;
  spiR: string;
  local: Endpoint;
  remote: Endpoint;
  udpEncap: boolean;
  natLocal: boolean;
  natRemote: boolean;
  localId: string;
  peerId?: string;
  encr?: string;
  integ?: string;
  prf?: string;
  dhGroup?: number;
  establishedAt?: string;
  rekeyAt?: string;
  expireAt?: string;
  rekeys: number;
  children: string[];
  retransmits: number;
  lastError?: string;
  keys?: Record<string, string>;
}

export interface ChildInfo {
  id: string;
  ikeId: string;
  tunnelId: number;
  state: string;
  spiIn: string;
  spiOut: string;
  mode: 'tunnel' | 'transport';
  encr: string;
  integ: string;
  pfsGroup?: number;
  esn: boolean;
  local: Endpoint;
  remote: Endpoint;
  localTs: TsRange[];
  remoteTs: TsRange[];
  createdAt: string;
  rekeyAt?: string;
  expireAt?: string;
  rekeys: number;
  stats?: ChildSaStats;
  keys?: { encIn: string; encOut: string; integIn: string; integOut: string };
}

export function idText(id: { type: number; data: Buffer }): string {
  if (id.type === IdType.IPV4_ADDR || id.type === IdType.IPV6_ADDR) {
    try {
      return fromBytes(id.data);
    } catch {
      return id.data.toString('hex');
    }
  }
  if (id.type === IdType.FQDN || id.type === IdType.RFC822_ADDR) return id.data.toString('utf8');
  return `${id.type}:${id.data.toString('hex')}`;
}

const iso = (t: number) => (t ? new Date(t).toISOString() : undefined);
export const spiHex = (spi: number) => '0x' + spi.toString(16).padStart(8, '0');

export function describeIke(sa: IkeSa, withKeys = false): IkeInfo {
  const s = sa.suite;
  const info: IkeInfo = {
    id: sa.id,
    tunnelId: sa.tunnelId,
    state: sa.state,
    initiator: sa.initiator,
    spiI: sa.spiI.toString('hex'),
    spiR: sa.spiR.toString('hex'),
    local: sa.local,
    remote: sa.remote,
    udpEncap: sa.encap,
    natLocal: sa.natLocal,
    natRemote: sa.natRemote,
    localId: idText(sa.policy.localId),
    peerId: sa.peerId ? idText(sa.peerId) : undefined,
    encr: s?.encr.name,
    integ: s?.integ?.name,
    prf: s?.prf.name,
    dhGroup: s?.dhGroup,
    establishedAt: iso(sa.establishedAt),
    rekeyAt: iso(sa.rekeyAt),
    expireAt: iso(sa.expireAt),
    rekeys: sa.rekeys,
    children: sa.children.map((c) => c.id),
    retransmits: sa.stats.retransmits,
    lastError: sa.lastError,
  };
  if (withKeys && sa.keys) info.keys = Object.fromEntries(Object.entries(sa.keys).map(([k, v]) => [k, (v as Buffer).toString('hex')]));
  return info;
}

export function describeChild(sa: IkeSa, c: ChildSa, withKeys: boolean, dp?: DataPlane): ChildInfo {
  const k = c.keys;
  const info: ChildInfo = {
    id: c.id,
    ikeId: sa.id,
    tunnelId: sa.tunnelId,
    state: c.state,
    spiIn: spiHex(c.spiIn),
    spiOut: spiHex(c.spiOut),
    mode: k.tunnelMode ? 'tunnel' : 'transport',
    encr: c.encr.name,
    integ: c.integ?.name ?? 'none',
    pfsGroup: c.pfsGroup,
    esn: k.esn,
    local: k.local,
    remote: k.remote,
    localTs: k.localTs,
    remoteTs: k.remoteTs,
    createdAt: iso(c.createdAt)!,
    rekeyAt: iso(c.rekeyAt),
    expireAt: iso(c.expireAt),
    rekeys: c.rekeys,
    stats: dp?.childStats(c.id),
  };
  if (withKeys) info.keys = { encIn: k.encKeyIn.toString('hex'), encOut: k.encKeyOut.toString('hex'), integIn: k.integKeyIn.toString('hex'), integOut: k.integKeyOut.toString('hex') };
  return info;
}
