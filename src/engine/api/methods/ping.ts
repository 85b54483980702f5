import { ApiError, registerMethod } from '../registry.js';

registerMethod('ping.summary', {
  summary: 'ping test figures per tunnel and in total',
  handler(_p, { rt }) {
    if (!rt.dp) throw new ApiError('E_NO_DATAPLANE', 'this engine uses the kernel fast path: no user-space ping test');
    return rt.dp.pingSummary();
  },
});

registerMethod('ping.clear', {
  summary: 'reset the ping counters (clearping)',
  handler(_p, { rt }) {
    if (!rt.dp) throw new ApiError('E_NO_DATAPLANE', 'this engine uses the kernel fast path: no user-space ping test');
    rt.dp.clearPing();
    return { cleared: true };
  },
});
