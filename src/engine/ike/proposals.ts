// Building our SA proposals from the configured algorithm lists and choosing
// one from a peer's offer (RFC 7296 §3.3.6: the responder picks exactly one
// proposal, one transform of each type, in the initiator's order of preference).
import { ProtocolId, TransformType } from './constants.js';
import type { Proposal, Transform } from './payloads/codec.js';
import { encrById, encrByName, integById, integByName, prfById, prfByName, type EncrAlg, type IntegAlg, type PrfAlg } from './crypto/algorithms.js';

export interface AlgLists {
  encr: string[];
  integ: string[];
  prf?: string[]; // IKE only
  dh: number[]; // empty for a CHILD SA without PFS
  esn?: boolean; // ESP only
}

export interface ChosenSuite {
  encr: EncrAlg;
  integ?: IntegAlg;
  prf?: PrfAlg;
  dhGroup?: number;
  esn?: boolean;
  spi: Buffer; // the peer's SPI from its proposal
  proposal: Proposal; // the single proposal to put in our answer
}

function encrTransform(e: EncrAlg): Transform {
  return { type: TransformType.ENCR, id: e.id, keyLength: e.keyBits };
}

/** One proposal for the non-AEAD ciphers and one for the AEAD ones (they cannot be mixed). */
export function buildProposals(protocol: number, lists: AlgLists, spi: Buffer): Proposal[] {
  const encrs = lists.encr.map(encrByName);
  const groups = [encrs.filter((e) => !e.aead), encrs.filter((e) => e.aead)].filter((g) => g.length);
  return groups.map((group, i) => {
    const transforms: Transform[] = group.map(encrTransform);
    if (protocol === ProtocolId.IKE) for (const p of lists.prf ?? []) transforms.push({ type: TransformType.PRF, id: prfByName(p).id });
    if (!group[0].aead) for (const a of lists.integ) transforms.push({ type: TransformType.INTEG, id: integByName(a).id });
    for (const g of lists.dh) transforms.push({ type: TransformType.DH, id: g });
    if (protocol === ProtocolId.ESP) transforms.push({ type: TransformType.ESN, id: lists.esn ? 1 : 0 });
    return { num: i + 1, protocol, spi, transforms };
  });
}

/**
 * Picks the first acceptable proposal of the peer. `expectDh`: whether a KE
 * comes with this exchange (DH transforms are ignored when not, as in
 * IKE_AUTH, where some peers leave them in the child proposal).
 */
export function chooseProposal(protocol: number, offered: Proposal[], ours: AlgLists, expectDh: boolean): ChosenSuite | undefined {
  for (const p of offered) {
    if (p.protocol !== protocol) continue;
    const pick = (type: number, ok: (t: Transform) => boolean) => p.transforms.find((t) => t.type === type && ok(t));
    const encrT = pick(TransformType.ENCR, (t) => {
      const e = encrById(t.id, t.keyLength);
      return !!e && ours.encr.includes(e.name);
    });
    if (!encrT) continue;
    const encr = encrById(encrT.id, encrT.keyLength)!;
    let integ: IntegAlg | undefined;
    if (!encr.aead) {
      const t = pick(TransformType.INTEG, (t) => {
        const a = integById(t.id);
        return !!a && ours.integ.includes(a.name);
      });
      if (!t) continue;
      integ = integById(t.id);
    }
    let prf: PrfAlg | undefined;
    if (protocol === ProtocolId.IKE) {
      const t = pick(TransformType.PRF, (t) => {
        const a = prfById(t.id);
        return !!a && (ours.prf ?? []).includes(a.name);
      });
      if (!t) continue;
      prf = prfById(t.id);
    }
    let dhGroup: number | undefined;
    const offeredDh = p.transforms.filter((t) => t.type === TransformType.DH && t.id !== 0);
    if (expectDh && (offeredDh.length || ours.dh.length)) {
      const t = offeredDh.find((t) => ours.dh.includes(t.id));
      if (!t) continue;
      dhGroup = t.id;
    }
    let esn: boolean | undefined;
    if (protocol === ProtocolId.ESP) {
      const esns = p.transforms.filter((t) => t.type === TransformType.ESN);
      const want = ours.esn ? 1 : 0;
      if (esns.length && !esns.some((t) => t.id === want)) continue;
      esn = !!ours.esn;
    }
    const transforms: Transform[] = [encrTransform(encr)];
    if (prf) transforms.push({ type: TransformType.PRF, id: prf.id });
    if (integ) transforms.push({ type: TransformType.INTEG, id: integ.id });
    if (dhGroup !== undefined) transforms.push({ type: TransformType.DH, id: dhGroup });
    if (esn !== undefined) transforms.push({ type: TransformType.ESN, id: esn ? 1 : 0 });
    return { encr, integ, prf, dhGroup, esn, spi: p.spi, proposal: { num: p.num, protocol, spi: p.spi, transforms } };
  }
  return undefined;
}

/** The first DH group of the offered proposals that we also accept: what the initiator's KE should use. */
export function firstAcceptableGroup(offered: Proposal[], ours: number[]): number | undefined {
  for (const p of offered) for (const t of p.transforms) if (t.type === TransformType.DH && ours.includes(t.id)) return t.id;
  return undefined;
}

/** A peer's offer in setup-file names, for the line saying why we refused it: "aes-cbc:256/sha512/prf sha512/group 20, …". */
export function offerText(offered: Proposal[]): string {
  const name = (t: Transform): string | undefined => {
    if (t.type === TransformType.ENCR) return encrById(t.id, t.keyLength)?.name ?? `encr ${t.id}${t.keyLength ? `:${t.keyLength}` : ''}`;
    if (t.type === TransformType.INTEG) return integById(t.id)?.name ?? `integ ${t.id}`;
    if (t.type === TransformType.PRF) return `prf ${prfById(t.id)?.name ?? t.id}`;
    if (t.type === TransformType.DH) return `group ${t.id}`;
    if (t.type === TransformType.ESN) return t.id ? 'esn' : 'noesn';
    return undefined;
  };
  // "noesn" alone is what everybody offers: named only next to "esn"
  const plainNoEsn = (p: Proposal) => p.transforms.every((t) => t.type !== TransformType.ESN || t.id === 0);
  return offered.map((p) => p.transforms.filter((t) => t.type !== TransformType.ESN || !plainNoEsn(p)).map(name).filter(Boolean).join('/')).join(', ');
}
