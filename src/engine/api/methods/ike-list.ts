import { describeIke } from '../../program/describe.js';
import { optBool, optInt, optString, registerMethod } from '../registry.js';

registerMethod('ike.list', {
  summary: 'IKE SAs: SPIs, state, algorithms, endpoints, NAT, lifetimes ({tunnel?, id?, keys?})',
  handler(p, { rt }) {
    const tunnel = optInt(p, 'tunnel');
    const id = optString(p, 'id');
    const keys = optBool(p, 'keys');
    const sas = [...rt.engine.sas.values()].filter((sa) => (tunnel === undefined || sa.tunnelId === tunnel) && (id === undefined || sa.id === id));
    return { sas: sas.map((sa) => describeIke(sa, keys)) };
  },
});
