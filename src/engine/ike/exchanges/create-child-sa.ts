// CREATE_CHILD_SA (RFC 7296 §1.3): a new CHILD SA, rekeying a CHILD SA
// (§1.3.3) and rekeying the IKE SA (§1.3.2, §2.18), with PFS when configured.
// Collisions (§2.8.1): a rekey request for an SA we are rekeying ourselves is
// answered with TEMPORARY_FAILURE, and a refused rekey is retried after a
// random pause, so exactly one of two colliding rekeys completes.
import { Exchange, Notify, notifyName, PayloadType, ProtocolId } from '../constants.js';
import type { AnyPayload, KePayload, NoncePayload, NotifyPayload, SaPayload, TsPayload } from '../payloads/codec.js';
import { buildProposals, chooseProposal, type ChosenSuite } from '../proposals.js';
import { createDhKey, DH_GROUPS, DhError, type DhKey } from '../crypto/dh.js';
import { deriveIkeKeys } from '../crypto/keys.js';
import { tsFromWire, tsToWire } from '../addr.js';
import { errorNotify, findPayload, IkeNotifyError, IkeSa, notifies, notifyPayload, randomSpi4, requestHandlers, type ChildSa } from '../ike-sa.js';
import { childCandidates, makeChild, spiBuf } from '../child.js';
import { childLists, pickChild, transportRequested } from './ike-auth.js';
import type { ChildPolicy } from '../types.js';
import { startDeleteChildren, startDeleteIke } from './informational.js';

function retryPauseMs(sa: IkeSa): number {
  return 1000 + (sa.host.random(2).readUInt16BE(0) % 3000);
}

function groupBuf(g: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(g, 0);
  return b;
}

function invalidKe(payloads: AnyPayload[]): number | undefined {
  const n = errorNotify(payloads);
  return n?.notifyType === Notify.INVALID_KE_PAYLOAD && n.data.length >= 2 ? n.data.readUInt16BE(0) : undefined;
}

// ---- new or rekeyed CHILD SA, initiator ----------------------------------------

/** A new CHILD SA (with `newPolicy`, default the first of the setup) or the rekey of `rekeyOf`. */
export function startCreateChild(sa: IkeSa, rekeyOf?: ChildSa, group?: number, newPolicy?: ChildPolicy): void {
  sa.enqueue(rekeyOf ? `rekey CHILD ${rekeyOf.id}` : 'new CHILD SA', () => {
    if (rekeyOf) rekeyOf.rekeyQueued = false;
    if (rekeyOf && !sa.children.includes(rekeyOf)) return;
    if (rekeyOf) rekeyOf.rekeyAt = 0;
    if (rekeyOf) sa.setChildState(rekeyOf, 'rekeying');
    const c = rekeyOf?.policy ?? newPolicy ?? sa.policy.child;
    const pfsGroup = c.pfsGroups.length ? (group ?? c.pfsGroups[0]) : undefined;
    const dh = pfsGroup !== undefined ? createDhKey(pfsGroup) : undefined;
    const ni = sa.host.random(32);
    const spiIn = randomSpi4(sa.host);
    const localTs = rekeyOf ? rekeyOf.keys.localTs : c.localTs;
    const remoteTs = rekeyOf ? rekeyOf.keys.remoteTs : c.remoteTs;
    const tunnelMode = rekeyOf ? rekeyOf.keys.tunnelMode : c.tunnelMode;
    const payloads: AnyPayload[] = [];
    if (rekeyOf) payloads.push(notifyPayload(Notify.REKEY_SA, Buffer.alloc(0), ProtocolId.ESP, spiBuf(rekeyOf.spiIn)));
    if (!tunnelMode) payloads.push(notifyPayload(Notify.USE_TRANSPORT_MODE));
    const dhList = pfsGroup !== undefined ? [pfsGroup, ...c.pfsGroups.filter((g) => g !== pfsGroup)] : [];
    payloads.push(
      { type: PayloadType.SA, proposals: buildProposals(ProtocolId.ESP, { ...childLists(c, false), dh: dhList }, spiBuf(spiIn)) },
      { type: PayloadType.NONCE, data: ni },
    );
    if (dh) payloads.push({ type: PayloadType.KE, group: dh.group, data: dh.publicValue });
    payloads.push({ type: PayloadType.TSi, selectors: localTs.map(tsToWire) }, { type: PayloadType.TSr, selectors: remoteTs.map(tsToWire) });
    sa.request(Exchange.CREATE_CHILD_SA, payloads, (p) => onChildResponse(sa, p, { rekeyOf, dh, ni, spiIn, tunnelMode, cp: c }), rekeyOf ? 'CHILD rekey' : 'CREATE_CHILD_SA');
  });
}

function onChildResponse(sa: IkeSa, payloads: AnyPayload[], ctx: { rekeyOf?: ChildSa; dh?: DhKey; ni: Buffer; spiIn: number; tunnelMode: boolean; cp: ChildPolicy }): void {
  const { rekeyOf } = ctx;
  const back = (reason: string, retry: boolean) => {
    // A rekey refused with TEMPORARY_FAILURE collided with the peer's own (or came while it was busy): retried, not an error.
    const retried = retry && !!rekeyOf && sa.children.includes(rekeyOf);
    sa.log(retried ? 3 : 2, `${rekeyOf ? `rekey of CHILD ${rekeyOf.id}` : 'new CHILD SA'} failed: ${reason}${retried ? '; retrying' : ''}`);
    if (rekeyOf && sa.children.includes(rekeyOf)) {
      sa.setChildState(rekeyOf, 'installed');
      if (retry) rekeyOf.rekeyAt = sa.host.now() + retryPauseMs(sa);
    }
  };
  const wantGroup = invalidKe(payloads);
  if (wantGroup !== undefined && ctx.cp.pfsGroups.includes(wantGroup) && wantGroup !== ctx.dh?.group) {
    if (rekeyOf) sa.setChildState(rekeyOf, 'installed');
    return startCreateChild(sa, rekeyOf, wantGroup, ctx.cp);
  }
  const err = errorNotify(payloads);
  if (err) {
    if (err.notifyType === Notify.CHILD_SA_NOT_FOUND && rekeyOf) return sa.removeChild(rekeyOf, 'peer does not know it');
    return back(notifyName(err.notifyType), err.notifyType === Notify.TEMPORARY_FAILURE);
  }
  const saP = findPayload<SaPayload>(payloads, PayloadType.SA);
  const nonce = findPayload<NoncePayload>(payloads, PayloadType.NONCE);
  const ke = findPayload<KePayload>(payloads, PayloadType.KE);
  const tsi = findPayload<TsPayload>(payloads, PayloadType.TSi);
  const tsr = findPayload<TsPayload>(payloads, PayloadType.TSr);
  const dhList = ctx.dh ? [ctx.dh.group] : [];
  const chosen = saP?.proposals.length === 1 ? chooseProposal(ProtocolId.ESP, saP.proposals, { ...childLists(ctx.cp, false), dh: dhList }, !!ctx.dh) : undefined;
  if (!chosen || !nonce || !tsi || !tsr || chosen.spi.length !== 4) return back('malformed or unacceptable response', false);
  let pfsSecret: Buffer | undefined;
  if (ctx.dh) {
    if (!ke || ke.group !== ctx.dh.group) return back('response lacks the PFS KE payload', false);
    try {
      pfsSecret = ctx.dh.compute(ke.data);
    } catch (e) {
      return back((e as Error).message, false);
    }
  }
  const child = makeChild(sa, {
    suite: chosen,
    spiIn: ctx.spiIn,
    spiOut: chosen.spi.readUInt32BE(0),
    ni: ctx.ni,
    nr: nonce.data,
    weInitiated: true,
    localTs: tsi.selectors.map(tsFromWire),
    remoteTs: tsr.selectors.map(tsFromWire),
    tunnelMode: !transportRequested(payloads),
    pfsSecret,
    rekeys: rekeyOf ? rekeyOf.rekeys + 1 : 0,
    policy: ctx.cp,
  });
  sa.addChild(child);
  if (rekeyOf) startDeleteChildren(sa, [rekeyOf], 'rekeyed');
}

// ---- IKE SA rekey, initiator -----------------------------------------------------

export function startRekeyIke(sa: IkeSa, group?: number): void {
  sa.enqueue('rekey IKE SA', () => {
    if (sa.state !== 'established') return;
    sa.rekeyingIke = true;
    const g = group ?? sa.suite!.dhGroup;
    const dh = createDhKey(g);
    const ni = sa.host.random(32);
    const newSpi = sa.host.random(8);
    const payloads: AnyPayload[] = [
      { type: PayloadType.SA, proposals: buildProposals(ProtocolId.IKE, { ...sa.policy.ike, dh: [g, ...sa.policy.ike.dh.filter((x) => x !== g)] }, newSpi) },
      { type: PayloadType.NONCE, data: ni },
      { type: PayloadType.KE, group: g, data: dh.publicValue },
    ];
    sa.request(Exchange.CREATE_CHILD_SA, payloads, (p) => onRekeyIkeResponse(sa, p, dh, ni, newSpi), 'IKE rekey');
  });
}

function onRekeyIkeResponse(sa: IkeSa, payloads: AnyPayload[], dh: DhKey, ni: Buffer, newSpi: Buffer): void {
  sa.rekeyingIke = false;
  const wantGroup = invalidKe(payloads);
  if (wantGroup !== undefined && sa.policy.ike.dh.includes(wantGroup) && wantGroup !== dh.group) return startRekeyIke(sa, wantGroup);
  const err = errorNotify(payloads);
  if (err) {
    const collision = err.notifyType === Notify.TEMPORARY_FAILURE; // the peer rekeys itself, or is busy: retried, not an error
    sa.log(collision ? 3 : 2, `IKE rekey refused: ${notifyName(err.notifyType)}${collision ? '; retrying' : ''}`);
    if (sa.state === 'established') sa.rekeyAt = sa.host.now() + retryPauseMs(sa);
    return;
  }
  const saP = findPayload<SaPayload>(payloads, PayloadType.SA);
  const nonce = findPayload<NoncePayload>(payloads, PayloadType.NONCE);
  const ke = findPayload<KePayload>(payloads, PayloadType.KE);
  const chosen = saP?.proposals.length === 1 ? chooseProposal(ProtocolId.IKE, saP.proposals, { ...sa.policy.ike, dh: [dh.group] }, true) : undefined;
  if (!chosen || !nonce || !ke || ke.group !== dh.group || chosen.spi.length !== 8) {
    sa.log(2, 'IKE rekey response unacceptable; keeping the old IKE SA until it expires');
    return;
  }
  let secret: Buffer;
  try {
    secret = dh.compute(ke.data);
  } catch (e) {
    sa.log(2, `IKE rekey: ${(e as Error).message}`);
    return;
  }
  const next = successor(sa, true, newSpi, chosen.spi, chosen, secret, ni, nonce.data);
  sa.log(3, `rekeyed to IKE SA ${next.id}`);
  startDeleteIke(sa, 'rekeyed');
}

/** The IKE SA that replaces `old` after a rekey; the CHILD SAs move over to it. */
function successor(old: IkeSa, weInitiated: boolean, spiI: Buffer, spiR: Buffer, chosen: ChosenSuite, secret: Buffer, ni: Buffer, nr: Buffer): IkeSa {
  const next = new IkeSa(old.registry, old.policy, weInitiated, Buffer.from(spiI), Buffer.from(spiR), { ...old.local }, { ...old.remote });
  next.suite = { encr: chosen.encr, integ: chosen.integ, prf: chosen.prf!, dhGroup: chosen.dhGroup! };
  next.ni = ni;
  next.nr = nr;
  const { keys } = deriveIkeKeys(next.suite, secret, ni, nr, next.spiI, next.spiR, { prf: old.suite!.prf, key: old.keys!.skD });
  next.installKeys(keys);
  next.encap = old.encap;
  next.natLocal = old.natLocal;
  next.natRemote = old.natRemote;
  next.peerId = old.peerId;
  next.rekeys = old.rekeys + 1;
  next.children = old.children;
  old.children = [];
  old.registry.register(next);
  next.markEstablished();
  // Exchanges still queued on the old IKE SA die with it: redo them on the new one.
  const now = next.host.now();
  for (const c of next.children) {
    if (c.rekeyQueued) {
      c.rekeyQueued = false;
      c.rekeyAt = now;
    }
    if (c.state === 'rekeying') next.setChildState(c, 'installed');
  }
  const deleting = next.children.filter((c) => c.state === 'deleting');
  if (deleting.length) startDeleteChildren(next, deleting, 'rekeyed');
  return next;
}

// ---- responder ---------------------------------------------------------------------

function handleCreateChild(sa: IkeSa, payloads: AnyPayload[]): AnyPayload[] {
  if (sa.state !== 'established') throw new IkeNotifyError(Notify.TEMPORARY_FAILURE, undefined, `IKE SA is ${sa.state}`);
  const saP = findPayload<SaPayload>(payloads, PayloadType.SA);
  const nonce = findPayload<NoncePayload>(payloads, PayloadType.NONCE);
  const ke = findPayload<KePayload>(payloads, PayloadType.KE);
  if (!saP || !nonce) throw new IkeNotifyError(Notify.INVALID_SYNTAX, undefined, 'SA or Nonce missing');
  if (saP.proposals[0]?.protocol === ProtocolId.IKE) return respondRekeyIke(sa, saP, nonce, ke);
  const rekey = notifies(payloads).find((n: NotifyPayload) => n.notifyType === Notify.REKEY_SA);
  let old: ChildSa | undefined;
  if (rekey) {
    const spi = rekey.spi.length === 4 ? rekey.spi.readUInt32BE(0) : -1;
    old = sa.children.find((c) => c.spiOut === spi);
    if (!old) throw new IkeNotifyError(Notify.CHILD_SA_NOT_FOUND);
    if (old.state === 'rekeying' || old.state === 'deleting') throw new IkeNotifyError(Notify.TEMPORARY_FAILURE, undefined, `CHILD ${old.id} is ${old.state}`);
  }
  const { cp, chosen, remoteTs, localTs } = pickChild(sa, payloads, saP.proposals, old ? [old.policy] : childCandidates(sa), ke?.group);
  let pfsSecret: Buffer | undefined;
  let dh: DhKey | undefined;
  if (chosen.dhGroup !== undefined) {
    if (!ke || ke.group !== chosen.dhGroup) throw new IkeNotifyError(Notify.INVALID_KE_PAYLOAD, groupBuf(chosen.dhGroup));
    dh = createDhKey(chosen.dhGroup);
    try {
      pfsSecret = dh.compute(ke.data);
    } catch (e) {
      if (e instanceof DhError) throw new IkeNotifyError(Notify.INVALID_SYNTAX, undefined, e.message);
      throw e;
    }
  }
  const transport = transportRequested(payloads) && !cp.tunnelMode;
  const spiIn = randomSpi4(sa.host);
  const nr = sa.host.random(32);
  const child = makeChild(sa, {
    suite: chosen,
    spiIn,
    spiOut: chosen.spi.readUInt32BE(0),
    ni: nonce.data,
    nr,
    weInitiated: false,
    localTs,
    remoteTs,
    tunnelMode: !transport,
    pfsSecret,
    rekeys: old ? old.rekeys + 1 : 0,
    policy: cp,
  });
  sa.addChild(child);
  if (old) old.rekeyAt = 0; // the initiator deletes it
  const out: AnyPayload[] = [];
  if (transport) out.push(notifyPayload(Notify.USE_TRANSPORT_MODE));
  out.push({ type: PayloadType.SA, proposals: [{ ...chosen.proposal, spi: spiBuf(spiIn) }] }, { type: PayloadType.NONCE, data: nr });
  if (dh) out.push({ type: PayloadType.KE, group: dh.group, data: dh.publicValue });
  out.push({ type: PayloadType.TSi, selectors: remoteTs.map(tsToWire) }, { type: PayloadType.TSr, selectors: localTs.map(tsToWire) });
  return out;
}

function respondRekeyIke(sa: IkeSa, saP: SaPayload, nonce: NoncePayload, ke?: KePayload): AnyPayload[] {
  if (sa.rekeyingIke || sa.pending) throw new IkeNotifyError(Notify.TEMPORARY_FAILURE, undefined, 'we are busy with a request of our own');
  const chosen = chooseProposal(ProtocolId.IKE, saP.proposals, sa.policy.ike, true);
  if (!chosen || chosen.spi.length !== 8) throw new IkeNotifyError(Notify.NO_PROPOSAL_CHOSEN);
  if (!ke || ke.group !== chosen.dhGroup) throw new IkeNotifyError(Notify.INVALID_KE_PAYLOAD, groupBuf(chosen.dhGroup!));
  const dh = createDhKey(chosen.dhGroup!);
  let secret: Buffer;
  try {
    secret = dh.compute(ke.data);
  } catch (e) {
    throw new IkeNotifyError(Notify.INVALID_SYNTAX, undefined, (e as Error).message);
  }
  const ourSpi = sa.host.random(8);
  const nr = sa.host.random(32);
  const next = successor(sa, false, chosen.spi, ourSpi, chosen, secret, nonce.data, nr);
  sa.log(3, `peer rekeyed us to IKE SA ${next.id}`);
  sa.queue = [];
  sa.setState('rekeying');
  return [
    { type: PayloadType.SA, proposals: [{ ...chosen.proposal, spi: ourSpi }] },
    { type: PayloadType.NONCE, data: nr },
    { type: PayloadType.KE, group: dh.group, data: dh.publicValue },
  ];
}

requestHandlers.set(Exchange.CREATE_CHILD_SA, handleCreateChild);
