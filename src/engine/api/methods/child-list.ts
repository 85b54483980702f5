import { describeChild } from '../../program/describe.js';
import { optBool, optInt, optString, registerMethod } from '../registry.js';

registerMethod('child.list', {
  summary: 'CHILD SAs: SPIs, state, algorithms, selectors, counters, keys on request ({tunnel?, id?, keys?})',
  handler(p, { rt }) {
    const tunnel = optInt(p, 'tunnel');
    const id = optString(p, 'id');
    const keys = optBool(p, 'keys');
    const out = [];
    for (const sa of rt.engine.sas.values()) {
      if (tunnel !== undefined && sa.tunnelId !== tunnel) continue;
      for (const c of sa.children) if (id === undefined || c.id === id) out.push(describeChild(sa, c, keys, rt.dp));
    }
    return { children: out };
  },
});
