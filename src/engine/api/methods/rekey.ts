import { ApiError, optInt, optString, registerMethod, type Params } from '../registry.js';
import type { EngineRuntime } from '../../program/runtime.js';

function selectIke(rt: EngineRuntime, p: Params) {
  const id = optString(p, 'id');
  const tunnel = optInt(p, 'tunnel');
  const all = p.all === true;
  if (id === undefined && tunnel === undefined && !all) throw new ApiError('E_BAD_REQUEST', 'name what to rekey: params.id, params.tunnel or params.all: true');
  return [...rt.engine.sas.values()].filter((sa) => sa.state === 'established' && (all || sa.id === id || sa.tunnelId === tunnel || sa.children.some((c) => c.id === id)));
}

registerMethod('child.rekey', {
  summary: 'rekey CHILD SAs ({id} of a CHILD SA, {tunnel}, or {all: true})',
  handler(p, { rt }) {
    const id = optString(p, 'id');
    const rekeyed: string[] = [];
    for (const sa of selectIke(rt, p)) for (const c of sa.children) if ((id === undefined || c.id === id || sa.id === id) && rt.engine.rekeyChildById(c.id)) rekeyed.push(c.id);
    if (!rekeyed.length) throw new ApiError('E_NOT_FOUND', 'no installed CHILD SA matches');
    return { rekeyed };
  },
});

registerMethod('ike.rekey', {
  summary: 'rekey IKE SAs ({id}, {tunnel}, or {all: true})',
  handler(p, { rt }) {
    const rekeyed = selectIke(rt, p).filter((sa) => rt.engine.rekeyIkeById(sa.id)).map((sa) => sa.id);
    if (!rekeyed.length) throw new ApiError('E_NOT_FOUND', 'no established IKE SA matches');
    return { rekeyed };
  },
});
