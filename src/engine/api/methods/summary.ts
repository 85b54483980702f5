import { registerMethod } from '../registry.js';

registerMethod('summary', {
  summary: 'tunnels configured/created/live, setup rate, SA counts, errors, ping totals',
  handler: (_p, { rt }) => rt.summary(),
});
