// Building a CHILD SA (and the ChildSaKeys handed to the data plane) once an
// exchange has agreed on its proposal, SPIs, nonces and traffic selectors.
import { childReqid, type ChildSaKeys, type EspInteg, type TsRange } from '../child-sa.js';
import { deriveChildKeys } from './crypto/keys.js';
import { ownAll } from './bytes.js';
import type { ChosenSuite } from './proposals.js';
import type { ChildSa, IkeSa } from './ike-sa.js';
import type { ChildPolicy } from './types.js';

const INTEG_NAMES: Record<string, EspInteg> = { sha1: 'sha1-96', sha256: 'sha256-128', sha384: 'sha384-192', sha512: 'sha512-256' };

export interface NewChild {
  suite: ChosenSuite;
  spiIn: number;
  spiOut: number;
  ni: Buffer;
  nr: Buffer;
  /** Whether we initiated the exchange that created it (decides which keys are ours). */
  weInitiated: boolean;
  localTs: TsRange[];
  remoteTs: TsRange[];
  tunnelMode: boolean;
  pfsSecret?: Buffer;
  rekeys: number;
  policy: ChildPolicy;
}

/** The setup's childlist entries of an IKE SA, in order: what a responder may answer with, by preference, and what numbers an entry's reqid. */
export function childCandidates(sa: IkeSa): ChildPolicy[] {
  return [sa.policy.child, ...(sa.policy.extraChildren ?? [])];
}

export function makeChild(sa: IkeSa, n: NewChild): ChildSa {
  const { encr, integ } = n.suite;
  const km = deriveChildKeys(sa.suite!.prf, sa.keys!.skD, n.ni, n.nr, encr.keyMatLen, integ?.keyLen ?? 0, n.pfsSecret);
  const [encOut, integOut, encIn, integIn] = n.weInitiated ? [km.encI, km.integI, km.encR, km.integR] : [km.encR, km.integR, km.encI, km.integI];
  const now = sa.host.now();
  const [encKeyIn, encKeyOut, integKeyIn, integKeyOut] = ownAll([encIn, encOut, integIn, integOut]);
  const keys: ChildSaKeys = {
    tunnelId: sa.tunnelId,
    childId: `${sa.tunnelId}-${n.spiIn.toString(16).padStart(8, '0')}`,
    // The entry of the setup's childlist it was made from (a rekey keeps its policy, so its reqid).
    reqid: childReqid(sa.tunnelId, Math.max(0, childCandidates(sa).indexOf(n.policy))),
    spiIn: n.spiIn,
    spiOut: n.spiOut,
    encr: { name: encr.aead ? 'aes-gcm16' : 'aes-cbc', keyBits: encr.keyBits as 128 | 256 },
    integ: integ ? INTEG_NAMES[integ.name] : 'none',
    encKeyIn,
    encKeyOut,
    integKeyIn,
    integKeyOut,
    tunnelMode: n.tunnelMode,
    esn: !!n.suite.esn,
    replayWindow: n.policy.replayWindow,
    local: { ...sa.local },
    remote: { ...sa.remote },
    localTs: n.localTs,
    remoteTs: n.remoteTs,
  };
  const { rekeyAt, expireAt } = sa.lifetimes(now, n.policy.lifetimeMs);
  return {
    id: keys.childId,
    spiIn: n.spiIn,
    spiOut: n.spiOut,
    encr,
    integ,
    pfsGroup: n.suite.dhGroup,
    state: 'installed',
    keys,
    createdAt: now,
    rekeyAt,
    expireAt,
    rekeys: n.rekeys,
    policy: n.policy,
  };
}

export function spiBuf(spi: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(spi >>> 0, 0);
  return b;
}
