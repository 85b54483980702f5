import { registerMethod } from '../registry.js';

registerMethod('subscribe', {
  summary: 'snapshot of all SAs, then every SA/tunnel state change pushed as {type:"event"}',
  handler(_p, { rt, conn }) {
    const subscription = conn.nextSubscriptionId();
    const off = rt.subscribe((e) => conn.push({ type: 'event', subscription, ...e, at: new Date(e.at).toISOString() }));
    conn.onClose(off);
    return { subscription, snapshot: { summary: rt.summary(), ike: rt.ikeList(), children: rt.childList(false) } };
  },
});
