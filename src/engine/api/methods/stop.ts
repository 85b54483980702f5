import { ApiError, registerMethod } from '../registry.js';

registerMethod('stop', {
  summary: 'stop the engine: {graceful: true} (default) deletes every SA with the peer first; {graceful: false} just stops',
  handler(p, { rt }) {
    if (p.graceful !== undefined && typeof p.graceful !== 'boolean') throw new ApiError('E_BAD_REQUEST', 'params.graceful must be true or false');
    const mode = p.graceful === false ? 'hard' : 'graceful';
    // Answer first; the engine stops (and closes this connection) right after.
    setImmediate(() => void rt.stop(mode, 'stopped through the API'));
    return { stopping: mode };
  },
});
