// IKE_SA_INIT (RFC 7296 §1.2, §2.6 cookies, §1.3 INVALID_KE_PAYLOAD, §2.23 NAT detection), both roles.
import { createHash } from 'node:crypto';
import { Exchange, Flag, Notify, notifyName, PayloadType, ProtocolId } from '../constants.js';
import { encodeMessage, type IkeHeader, type IkeMessage } from '../message.js';
import type { AnyPayload, KePayload, NoncePayload, SaPayload } from '../payloads/codec.js';
import { buildProposals, chooseProposal, offerText } from '../proposals.js';
import { createDhKey, DhError } from '../crypto/dh.js';
import { deriveIkeKeys } from '../crypto/keys.js';
import { natHash } from '../crypto/natd.js';
import { errorNotify, findPayload, IkeSa, notifies, notifyPayload, type SaRegistry } from '../ike-sa.js';
import type { Endpoint } from '../../child-sa.js';
import type { IkePolicy } from '../types.js';
import { NATT_PORT } from '../types.js';
import { own } from '../bytes.js';
import { startIkeAuth } from './ike-auth.js';

const ZERO_SPI = Buffer.alloc(8);

function natPayloads(sa: IkeSa, spiR: Buffer): AnyPayload[] {
  if (!sa.policy.natt && !sa.policy.forceEncap) return [];
  // A source hash that cannot match makes the peer believe we are behind a NAT,
  // so it floats to 4500 and UDP-encapsulates ESP (RFC 7296 §2.23 allows this).
  const src = sa.policy.forceEncap ? sa.host.random(20) : natHash(sa.spiI, spiR, sa.local.addr, sa.local.port);
  const dst = natHash(sa.spiI, spiR, sa.remote.addr, sa.remote.port);
  return [notifyPayload(Notify.NAT_DETECTION_SOURCE_IP, src), notifyPayload(Notify.NAT_DETECTION_DESTINATION_IP, dst)];
}

/**
 * Reads the peer's NAT detection payloads; decides whether to use UDP encapsulation.
 * The hashes cover the SPIs of the message's header: in the request SPIr is still zero.
 */
function detectNat(sa: IkeSa, payloads: AnyPayload[], spiR: Buffer): void {
  const ns = notifies(payloads);
  const srcs = ns.filter((n) => n.notifyType === Notify.NAT_DETECTION_SOURCE_IP);
  const dst = ns.find((n) => n.notifyType === Notify.NAT_DETECTION_DESTINATION_IP);
  if (!srcs.length || !dst) {
    sa.encap = sa.policy.forceEncap;
    return;
  }
  const peerHash = natHash(sa.spiI, spiR, sa.remote.addr, sa.remote.port);
  const ourHash = natHash(sa.spiI, spiR, sa.local.addr, sa.local.port);
  sa.natRemote = !srcs.some((n) => n.data.equals(peerHash));
  sa.natLocal = !dst.data.equals(ourHash);
  sa.encap = sa.natRemote || sa.natLocal || sa.policy.forceEncap;
  if (sa.debug) sa.log(4, `NAT detection: local ${sa.natLocal ? 'behind NAT' : 'direct'}, peer ${sa.natRemote ? 'behind NAT' : 'direct'}, UDP encapsulation ${sa.encap ? 'on' : 'off'}`);
}

function keysFromSecret(sa: IkeSa, secret: Buffer): void {
  const { keys } = deriveIkeKeys(sa.suite!, secret, sa.ni, sa.nr, sa.spiI, sa.spiR);
  sa.installKeys(keys);
}

// ---- initiator ---------------------------------------------------------------

export function startIkeSaInit(sa: IkeSa): void {
  sa.nextMsgId = 0;
  const group = sa.dhGroup ?? sa.policy.ike.dh[0];
  sa.dhGroup = group;
  sa.dh = createDhKey(group);
  if (!sa.ni.length) sa.ni = sa.host.random(32);
  const payloads: AnyPayload[] = [];
  if (sa.cookie) payloads.push(notifyPayload(Notify.COOKIE, sa.cookie));
  // Offer the KE group first so the responder does not pick another one we did not send.
  const dh = [group, ...sa.policy.ike.dh.filter((g) => g !== group)];
  payloads.push(
    { type: PayloadType.SA, proposals: buildProposals(ProtocolId.IKE, { ...sa.policy.ike, dh }, Buffer.alloc(0)) },
    { type: PayloadType.KE, group, data: sa.dh.publicValue },
    { type: PayloadType.NONCE, data: sa.ni },
    ...natPayloads(sa, ZERO_SPI),
  );
  sa.initRequest = sa.request(Exchange.IKE_SA_INIT, payloads, (p, raw, h) => onInitResponse(sa, p, raw, h), 'IKE_SA_INIT');
}

function onInitResponse(sa: IkeSa, payloads: AnyPayload[], raw: Buffer, header: IkeHeader): void {
  const cookie = notifies(payloads).find((n) => n.notifyType === Notify.COOKIE);
  if (cookie) {
    if (sa.cookie && sa.cookie.equals(cookie.data)) return sa.fail('the responder keeps asking for the same COOKIE');
    sa.log(3, 'responder asked for a COOKIE, retrying with it');
    sa.cookie = cookie.data;
    return startIkeSaInit(sa);
  }
  const err = errorNotify(payloads);
  if (err?.notifyType === Notify.INVALID_KE_PAYLOAD && err.data.length >= 2) {
    const want = err.data.readUInt16BE(0);
    if (want === sa.dhGroup || !sa.policy.ike.dh.includes(want)) return sa.fail(`responder wants DH group ${want}, which we do not offer`);
    sa.log(3, `responder wants DH group ${want} instead of ${sa.dhGroup}, retrying`);
    sa.dhGroup = want;
    return startIkeSaInit(sa);
  }
  if (err) return sa.fail(`IKE_SA_INIT refused by the peer: ${notifyName(err.notifyType)}`);
  const saP = findPayload<SaPayload>(payloads, PayloadType.SA);
  const ke = findPayload<KePayload>(payloads, PayloadType.KE);
  const nonce = findPayload<NoncePayload>(payloads, PayloadType.NONCE);
  if (!saP || !ke || !nonce) return sa.fail('IKE_SA_INIT response lacks SA, KE or Nonce');
  if (saP.proposals.length !== 1) return sa.fail('IKE_SA_INIT response must carry exactly one proposal');
  const chosen = chooseProposal(ProtocolId.IKE, saP.proposals, sa.policy.ike, true);
  if (!chosen || chosen.dhGroup !== sa.dhGroup || ke.group !== sa.dhGroup) return sa.fail('responder chose a proposal we did not offer');
  sa.spiR = own(header.spiR);
  sa.nr = nonce.data;
  sa.suite = { encr: chosen.encr, integ: chosen.integ, prf: chosen.prf!, dhGroup: chosen.dhGroup! };
  let secret: Buffer;
  try {
    secret = sa.dh!.compute(ke.data);
  } catch (e) {
    return sa.fail(`peer's KE: ${(e as Error).message}`);
  }
  sa.dh = undefined;
  keysFromSecret(sa, secret);
  sa.initResponse = raw;
  detectNat(sa, payloads, sa.spiR);
  const natt = sa.policy.nattPort ?? NATT_PORT;
  if (sa.encap && sa.local.port !== natt) {
    sa.local = { addr: sa.local.addr, port: natt };
    sa.remote = { addr: sa.remote.addr, port: natt };
  }
  startIkeAuth(sa);
}

// ---- responder ---------------------------------------------------------------

export interface ResponderContext extends SaRegistry {
  policy: IkePolicy;
  cookieSecret: Buffer;
  cookiesRequired(): boolean;
}

function plainError(msg: IkeMessage, notifyType: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return encodeMessage({ spiI: msg.spiI, spiR: ZERO_SPI, exchange: Exchange.IKE_SA_INIT, flags: Flag.RESPONSE, messageId: 0, payloads: [notifyPayload(notifyType, data)] });
}

function cookieFor(ctx: ResponderContext, ni: Buffer, from: Endpoint, spiI: Buffer): Buffer {
  // RFC 7296 §2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
  return Buffer.concat([Buffer.from([1]), createHash('sha256').update(ni).update(from.addr).update(spiI).update(ctx.cookieSecret).digest()]);
}

/**
 * Answers a new IKE_SA_INIT request. Returns the new (half-open) SA when one
 * was created, and the bytes to send back in every case.
 */
export function respondIkeSaInit(ctx: ResponderContext, raw: Buffer, msg: IkeMessage, from: Endpoint, to: Endpoint): { sa?: IkeSa; response: Buffer } {
  const { payloads } = msg;
  const saP = findPayload<SaPayload>(payloads, PayloadType.SA);
  const ke = findPayload<KePayload>(payloads, PayloadType.KE);
  const nonce = findPayload<NoncePayload>(payloads, PayloadType.NONCE);
  if (!saP || !ke || !nonce) return { response: plainError(msg, Notify.INVALID_SYNTAX) };
  if (ctx.cookiesRequired()) {
    const want = cookieFor(ctx, nonce.data, from, msg.spiI);
    const first = payloads[0];
    const got = first?.type === PayloadType.NOTIFY && (first as { notifyType: number }).notifyType === Notify.COOKIE ? (first as { data: Buffer }).data : undefined;
    if (!got || !got.equals(want)) return { response: plainError(msg, Notify.COOKIE, want) };
  }
  const chosen = chooseProposal(ProtocolId.IKE, saP.proposals, ctx.policy.ike, true);
  if (!chosen) {
    // the initiator only sees NO_PROPOSAL_CHOSEN: say here what it offered and what we accept
    const { encr, integ, prf, dh } = ctx.policy.ike;
    ctx.host.log(2, `IKE_SA_INIT from ${from.addr}: no acceptable proposal, answered NO_PROPOSAL_CHOSEN (offered ${offerText(saP.proposals)}; ikeconf accepts ${encr.join(',')} / ${integ.join(',')} / prf ${(prf ?? []).join(',')} / groups ${dh.join(',')})`);
    return { response: plainError(msg, Notify.NO_PROPOSAL_CHOSEN) };
  }
  if (ke.group !== chosen.dhGroup) {
    ctx.host.log(3, `IKE_SA_INIT from ${from.addr}: KE of group ${ke.group}, asking for group ${chosen.dhGroup} (INVALID_KE_PAYLOAD)`);
    const g = Buffer.alloc(2);
    g.writeUInt16BE(chosen.dhGroup!, 0);
    return { response: plainError(msg, Notify.INVALID_KE_PAYLOAD, g) };
  }
  // numbered when established (SaRegistry.authenticated): failed or abandoned handshakes use no number
  const policy = { ...ctx.policy, tunnelId: 0 };
  const sa = new IkeSa(ctx, policy, false, Buffer.from(msg.spiI), ctx.host.random(8), { ...to }, { ...from });
  sa.suite = { encr: chosen.encr, integ: chosen.integ, prf: chosen.prf!, dhGroup: chosen.dhGroup! };
  sa.dhGroup = chosen.dhGroup;
  const dh = createDhKey(chosen.dhGroup!);
  let secret: Buffer;
  try {
    secret = dh.compute(ke.data);
  } catch (e) {
    if (e instanceof DhError) return { response: plainError(msg, Notify.INVALID_SYNTAX) };
    throw e;
  }
  sa.ni = nonce.data;
  sa.nr = ctx.host.random(32);
  keysFromSecret(sa, secret);
  detectNat(sa, payloads, ZERO_SPI);
  const response: AnyPayload[] = [
    { type: PayloadType.SA, proposals: [{ ...chosen.proposal, spi: Buffer.alloc(0) }] },
    { type: PayloadType.KE, group: chosen.dhGroup!, data: dh.publicValue },
    { type: PayloadType.NONCE, data: sa.nr },
    ...(notifies(payloads).some((n) => n.notifyType === Notify.NAT_DETECTION_SOURCE_IP) ? natPayloads(sa, sa.spiR) : []),
  ];
  const data = sa.plain(Exchange.IKE_SA_INIT, true, 0, response);
  sa.initRequest = raw;
  sa.initResponse = data;
  sa.lastResponse = { msgId: 0, data };
  sa.peerMsgId = 1;
  return { sa, response: data };
}
