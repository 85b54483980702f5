// IKE_AUTH with a pre-shared key (RFC 7296 §1.2, §2.15) and the first CHILD SA
// with traffic-selector narrowing (§2.9), both roles.
import { AuthMethod, Exchange, Notify, notifyName, PayloadType, ProtocolId } from '../constants.js';
import type { AnyPayload, AuthPayload, IdPayload, Proposal, SaPayload, TsPayload } from '../payloads/codec.js';
import { idBody } from '../payloads/id.js';
import { pskAuth } from '../crypto/keys.js';
import { buildProposals, chooseProposal, offerText, type ChosenSuite } from '../proposals.js';
import { DH_GROUPS } from '../crypto/dh.js';
import type { ChildPolicy } from '../types.js';
import { narrow, tsFromWire, tsToWire } from '../addr.js';
import { errorNotify, findPayload, IkeNotifyError, IkeSa, notifies, notifyPayload, randomSpi4, requestHandlers } from '../ike-sa.js';
import { childCandidates, makeChild, spiBuf } from '../child.js';
import type { TsRange } from '../../child-sa.js';

function ourIdPayload(sa: IkeSa, type: 35 | 36): IdPayload {
  return { type, idType: sa.policy.localId.type, data: sa.policy.localId.data };
}

export function childLists(c: ChildPolicy, withPfs: boolean) {
  return { encr: c.encr, integ: c.integ, dh: withPfs ? c.pfsGroups : [], esn: c.esn };
}

/**
 * Responder: the first CHILD config whose algorithms and selectors fit the
 * request; otherwise the error of the closest miss (TS_UNACCEPTABLE if some
 * config had the algorithms, else NO_PROPOSAL_CHOSEN).
 */
export function pickChild(sa: IkeSa, payloads: AnyPayload[], proposals: Proposal[], candidates: ChildPolicy[], ke?: number): { cp: ChildPolicy; chosen: ChosenSuite; remoteTs: TsRange[]; localTs: TsRange[] } {
  let err: IkeNotifyError | undefined;
  for (const cp of candidates) {
    const dh = ke === undefined ? [] : cp.pfsGroups.length ? cp.pfsGroups : DH_GROUPS;
    const chosen = chooseProposal(ProtocolId.ESP, proposals, { ...childLists(cp, false), dh }, ke !== undefined);
    if (!chosen || chosen.spi.length !== 4) continue;
    try {
      return { cp, chosen, ...narrowTs(cp, payloads) };
    } catch (e) {
      if (!(e instanceof IkeNotifyError)) throw e;
      err = e;
    }
  }
  throw err ?? new IkeNotifyError(Notify.NO_PROPOSAL_CHOSEN, undefined, `NO_PROPOSAL_CHOSEN (no childlist entry accepts the offered ${offerText(proposals) || 'nothing'})`);
}

export function transportRequested(payloads: AnyPayload[]): boolean {
  return notifies(payloads).some((n) => n.notifyType === Notify.USE_TRANSPORT_MODE);
}


// ---- initiator ---------------------------------------------------------------

export function startIkeAuth(sa: IkeSa): void {
  const id = ourIdPayload(sa, PayloadType.IDi);
  const auth = pskAuth(sa.suite!.prf, sa.policy.psk, sa.initRequest!, sa.nr, sa.keys!.skPi, idBody(id));
  const spiIn = randomSpi4(sa.host);
  const c = sa.policy.child;
  const payloads: AnyPayload[] = [id];
  // RFC 7296 §2.4: INITIAL_CONTACT asserts this is the only IKE SA between the two identities;
  // tunnels sharing a myid must not send it while another is up (strongSwan drops that one).
  if (sa.policy.initialContact && !sa.registry.hasContact(sa)) payloads.push(notifyPayload(Notify.INITIAL_CONTACT));
  payloads.push({ type: PayloadType.AUTH, method: AuthMethod.PSK, data: auth });
  if (!c.tunnelMode) payloads.push(notifyPayload(Notify.USE_TRANSPORT_MODE));
  payloads.push(
    { type: PayloadType.SA, proposals: buildProposals(ProtocolId.ESP, childLists(c, false), spiBuf(spiIn)) },
    { type: PayloadType.TSi, selectors: c.localTs.map(tsToWire) },
    { type: PayloadType.TSr, selectors: c.remoteTs.map(tsToWire) },
  );
  sa.request(Exchange.IKE_AUTH, payloads, (p) => onAuthResponse(sa, p, spiIn), 'IKE_AUTH');
}

function onAuthResponse(sa: IkeSa, payloads: AnyPayload[], spiIn: number): void {
  const id = findPayload<IdPayload>(payloads, PayloadType.IDr);
  const auth = findPayload<AuthPayload>(payloads, PayloadType.AUTH);
  if (!id || !auth) {
    const err = errorNotify(payloads);
    return sa.fail(`IKE_AUTH refused by the peer: ${err ? notifyName(err.notifyType) : 'no IDr/AUTH in the response'}`);
  }
  if (auth.method !== AuthMethod.PSK) return sa.fail(`peer authenticates with method ${auth.method}, we expect a pre-shared key`);
  const want = pskAuth(sa.suite!.prf, sa.policy.psk, sa.initResponse!, sa.ni, sa.keys!.skPr, idBody(id));
  if (!want.equals(auth.data)) return sa.fail('the peer\'s AUTH does not verify (pre-shared keys differ?)');
  sa.peerId = { type: id.idType, data: id.data };
  const ni = sa.ni;
  const nr = sa.nr;
  sa.markEstablished();
  const childErr = errorNotify(payloads);
  const saP = findPayload<SaPayload>(payloads, PayloadType.SA);
  const tsi = findPayload<TsPayload>(payloads, PayloadType.TSi);
  const tsr = findPayload<TsPayload>(payloads, PayloadType.TSr);
  const chosen = saP && saP.proposals.length === 1 ? chooseProposal(ProtocolId.ESP, saP.proposals, childLists(sa.policy.child, false), false) : undefined;
  if (childErr || !chosen || !tsi || !tsr || chosen.spi.length !== 4) {
    const why = childErr ? notifyName(childErr.notifyType) : 'no acceptable CHILD SA in the response';
    sa.lastError = `CHILD SA not created: ${why}`;
    sa.log(2, sa.lastError);
    sa.onAuthDone?.(false, sa.lastError);
    sa.onAuthDone = undefined;
    return;
  }
  const child = makeChild(sa, {
    suite: chosen,
    spiIn,
    spiOut: chosen.spi.readUInt32BE(0),
    ni,
    nr,
    weInitiated: true,
    localTs: tsi.selectors.map(tsFromWire),
    remoteTs: tsr.selectors.map(tsFromWire),
    tunnelMode: !transportRequested(payloads),
    rekeys: 0,
    policy: sa.policy.child,
  });
  sa.addChild(child);
  sa.onAuthDone?.(true);
  sa.onAuthDone = undefined;
}

// ---- responder ---------------------------------------------------------------

const tsText = (p: TsPayload) => p.selectors.map(tsFromWire).map((t) => `${t.startAddr}-${t.endAddr}${t.protocol ? ` proto ${t.protocol}` : ''}${t.startPort || t.endPort !== 65535 ? ` ports ${t.startPort}-${t.endPort}` : ''}`).join(', ');

/** Narrows TSi/TSr to what our policy allows (the peer's TSi is our remote side). */
export function narrowTs(cp: ChildPolicy, payloads: AnyPayload[]): { remoteTs: TsRange[]; localTs: TsRange[] } {
  const tsi = findPayload<TsPayload>(payloads, PayloadType.TSi);
  const tsr = findPayload<TsPayload>(payloads, PayloadType.TSr);
  if (!tsi || !tsr) throw new IkeNotifyError(Notify.INVALID_SYNTAX, undefined, 'TSi or TSr missing');
  const remoteTs = narrow(tsi.selectors.map(tsFromWire), cp.remoteTs);
  const localTs = narrow(tsr.selectors.map(tsFromWire), cp.localTs);
  if (!remoteTs.length || !localTs.length) throw new IkeNotifyError(Notify.TS_UNACCEPTABLE, undefined, `TS_UNACCEPTABLE (offered TSi ${tsText(tsi)}, TSr ${tsText(tsr)})`);
  return { remoteTs, localTs };
}

function handleAuthRequest(sa: IkeSa, payloads: AnyPayload[]): AnyPayload[] {
  if (sa.state !== 'connecting' || sa.initiator) throw new IkeNotifyError(Notify.INVALID_SYNTAX, undefined, 'unexpected IKE_AUTH');
  const id = findPayload<IdPayload>(payloads, PayloadType.IDi);
  const auth = findPayload<AuthPayload>(payloads, PayloadType.AUTH);
  if (!id || !auth || auth.method !== AuthMethod.PSK) {
    sa.closeAfterResponse = 'IKE_AUTH without IDi/AUTH(PSK)';
    throw new IkeNotifyError(Notify.AUTHENTICATION_FAILED);
  }
  const want = pskAuth(sa.suite!.prf, sa.policy.psk, sa.initRequest!, sa.nr, sa.keys!.skPi, idBody(id));
  if (!want.equals(auth.data)) {
    sa.closeAfterResponse = 'the peer\'s AUTH does not verify (pre-shared keys differ?)';
    throw new IkeNotifyError(Notify.AUTHENTICATION_FAILED);
  }
  sa.peerId = { type: id.idType, data: id.data };
  const idr = ourIdPayload(sa, PayloadType.IDr);
  const ourAuth = pskAuth(sa.suite!.prf, sa.policy.psk, sa.initResponse!, sa.ni, sa.keys!.skPr, idBody(idr));
  const response: AnyPayload[] = [idr, { type: PayloadType.AUTH, method: AuthMethod.PSK, data: ourAuth }];
  const ni = sa.ni;
  const nr = sa.nr;
  // before markEstablished: the SA gets its tunnel number (maybe that of the SAs it replaces)
  sa.registry.authenticated(sa, notifies(payloads).some((n) => n.notifyType === Notify.INITIAL_CONTACT));
  sa.markEstablished();
  try {
    response.push(...acceptFirstChild(sa, payloads, ni, nr));
  } catch (err) {
    if (!(err instanceof IkeNotifyError)) throw err;
    sa.log(2, `first CHILD SA refused: ${err.message}`);
    response.push(notifyPayload(err.notifyType, err.data));
  }
  return response;
}

function acceptFirstChild(sa: IkeSa, payloads: AnyPayload[], ni: Buffer, nr: Buffer): AnyPayload[] {
  const saP = findPayload<SaPayload>(payloads, PayloadType.SA);
  if (!saP) throw new IkeNotifyError(Notify.NO_PROPOSAL_CHOSEN, undefined, 'no SA payload');
  const { cp, chosen, remoteTs, localTs } = pickChild(sa, payloads, saP.proposals, childCandidates(sa));
  const transport = transportRequested(payloads) && !cp.tunnelMode;
  const spiIn = randomSpi4(sa.host);
  const child = makeChild(sa, {
    suite: chosen,
    spiIn,
    spiOut: chosen.spi.readUInt32BE(0),
    ni,
    nr,
    weInitiated: false,
    localTs,
    remoteTs,
    tunnelMode: !transport,
    rekeys: 0,
    policy: cp,
  });
  sa.addChild(child);
  const out: AnyPayload[] = [];
  if (transport) out.push(notifyPayload(Notify.USE_TRANSPORT_MODE));
  out.push(
    { type: PayloadType.SA, proposals: [{ ...chosen.proposal, spi: spiBuf(spiIn) }] },
    { type: PayloadType.TSi, selectors: remoteTs.map(tsToWire) },
    { type: PayloadType.TSr, selectors: localTs.map(tsToWire) },
  );
  return out;
}

requestHandlers.set(Exchange.IKE_AUTH, handleAuthRequest);
