// What the protocol core is configured with and what it calls back: the core
// does no I/O and reads no clock of its own (design §2.5).
import type { ChildSaKeys, Endpoint, TsRange } from '../child-sa.js';
import type { AlgLists } from './proposals.js';

export interface IdConf {
  type: number; // IdType
  data: Buffer;
}

export interface ChildPolicy {
  encr: string[];
  integ: string[];
  pfsGroups: number[]; // empty: no PFS
  esn: boolean;
  tunnelMode: boolean;
  lifetimeMs: number;
  replayWindow: number;
  localTs: TsRange[];
  remoteTs: TsRange[];
}

/** Everything one IKE SA (and its CHILD SAs) is negotiated with. */
export interface IkePolicy {
  tunnelId: number; // 0 on a gateway until the peer is known
  ike: Required<Pick<AlgLists, 'encr' | 'integ' | 'prf' | 'dh'>>;
  psk: Buffer;
  localId: IdConf;
  child: ChildPolicy;
  /** Further CHILD SAs (setup childlist[1..]): the client creates them after IKE_AUTH; a responder accepts any of them too. */
  extraChildren?: ChildPolicy[];
  retransmitMs: number;
  maxRetransmit: number;
  dpdMs: number; // 0: no DPD
  ikeLifetimeMs: number; // 0: never rekey
  marginMs: number;
  jitter: boolean;
  initialContact: boolean;
  /** Make the peer UDP-encapsulate ESP (user-space data path): send a NAT_DETECTION_SOURCE_IP that cannot match. */
  forceEncap: boolean;
  natt: boolean; // send NAT detection payloads at all
  /** Idle time (no IKE message sent) before a NAT keepalive, when behind a NAT or saying so (forceEncap); 0: none. */
  natKeepaliveMs?: number;
  /** Port to float to (default 4500; tests on loopback use others). */
  nattPort?: number;
}

export type IkeState = 'connecting' | 'established' | 'rekeying' | 'deleting' | 'closed' | 'failed';
export type ChildState = 'installed' | 'rekeying' | 'deleting' | 'closed';

export interface SaEvent {
  kind: 'ike' | 'child';
  id: string;
  tunnelId: number;
  state: IkeState | ChildState;
  reason?: string;
  at: number;
}

export interface IkeHost {
  now(): number;
  random(n: number): Buffer;
  /** Send one IKE message (the I/O layer adds the non-ESP marker on the NAT-T port). */
  send(from: Endpoint, to: Endpoint, data: Buffer): void;
  /** Send one NAT keepalive (RFC 3948 §2.3: a 0xFF byte, no marker) from the NAT-T port. */
  keepalive?(from: Endpoint, to: Endpoint): void;
  childUp(keys: ChildSaKeys): void;
  childDown(childId: string): void;
  event(e: SaEvent): void;
  log(level: number, msg: string): void;
  /** Highest level log() prints (lines above it need not be built); default: all. */
  logLevel?: number;
}

export const NATT_PORT = 4500;
export const IKE_PORT = 500;
