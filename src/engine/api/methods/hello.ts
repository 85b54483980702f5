import { ApiError, API_VERSION, methodNames, registerMethod } from '../registry.js';

registerMethod('hello', {
  summary: 'optional version negotiation: {versions:[1]} → {version, features}',
  handler(p, { rt }) {
    const versions = Array.isArray(p.versions) ? (p.versions as unknown[]) : [API_VERSION];
    if (!versions.includes(API_VERSION)) throw new ApiError('E_VERSION', `this engine speaks API version ${API_VERSION} only`);
    return { version: API_VERSION, features: methodNames(), pid: process.pid, role: rt.setup.role };
  },
});
