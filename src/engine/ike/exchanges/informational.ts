// INFORMATIONAL (RFC 7296 §1.4, §2.4): dead peer detection (an empty
// request), deleting CHILD SAs and the IKE SA, and answering the peer's.
import { Exchange, notifyName, PayloadType, ProtocolId } from '../constants.js';
import type { AnyPayload, DeletePayload } from '../payloads/codec.js';
import { notifies, requestHandlers, type ChildSa, type IkeSa } from '../ike-sa.js';
import { spiBuf } from '../child.js';

export function startDpd(sa: IkeSa): void {
  sa.enqueue('DPD', () => {
    sa.request(Exchange.INFORMATIONAL, [], () => undefined, 'DPD');
  });
}

export function startDeleteChildren(sa: IkeSa, children: ChildSa[], reason: string): void {
  for (const c of children) sa.setChildState(c, 'deleting', reason);
  sa.enqueue('delete CHILD SAs', () => {
    const live = children.filter((c) => sa.children.includes(c));
    if (!live.length) return;
    const del: DeletePayload = { type: PayloadType.DELETE, protocol: ProtocolId.ESP, spiSize: 4, spis: live.map((c) => spiBuf(c.spiIn)) };
    sa.request(Exchange.INFORMATIONAL, [del], () => live.forEach((c) => sa.removeChild(c, reason)), 'delete CHILD');
  });
}

/** Deletes the IKE SA (and with it every CHILD SA) at the peer, then here. */
export function startDeleteIke(sa: IkeSa, reason: string): void {
  if (sa.state === 'closed' || sa.state === 'failed') return;
  // A delete goes before anything else queued: nothing else matters any more.
  sa.queue = [];
  sa.setState('deleting', reason);
  sa.enqueue('delete IKE SA', () => {
    const del: DeletePayload = { type: PayloadType.DELETE, protocol: ProtocolId.IKE, spiSize: 0, spis: [] };
    sa.request(Exchange.INFORMATIONAL, [del], () => sa.close(reason), 'delete IKE');
  });
}

function handleInformational(sa: IkeSa, payloads: AnyPayload[]): AnyPayload[] {
  for (const n of notifies(payloads)) sa.log(3, `peer notifies ${notifyName(n.notifyType)}`);
  const response: AnyPayload[] = [];
  for (const d of payloads.filter((p): p is DeletePayload => p.type === PayloadType.DELETE)) {
    if (d.protocol === ProtocolId.IKE) {
      sa.closeAfterResponse = sa.state === 'rekeying' ? 'rekeyed' : 'deleted by the peer';
      return [];
    }
    if (d.protocol !== ProtocolId.ESP && d.protocol !== ProtocolId.AH) continue;
    const ours: Buffer[] = [];
    for (const spi of d.spis) {
      if (spi.length !== 4) continue;
      const c = sa.children.find((x) => x.spiOut === spi.readUInt32BE(0));
      if (!c) continue;
      // Both sides deleting the same SA: answer without it (RFC 7296 §1.4.1).
      if (c.state !== 'deleting') ours.push(spiBuf(c.spiIn));
      sa.removeChild(c, 'deleted by the peer');
    }
    if (ours.length) response.push({ type: PayloadType.DELETE, protocol: d.protocol, spiSize: 4, spis: ours });
  }
  return response;
}

requestHandlers.set(Exchange.INFORMATIONAL, handleInformational);
