// The lab: N simulated servers on this machine, each a network, mount, PID
// and UTS namespace running a real sshd. Used by `myikev2 lab` and by tests.
export { labUp, DEFAULT_DIR } from './up.js';
export { labDown, type LabDownResult } from './down.js';
export { labStatus, type LabStatus, type ServerStatus } from './status.js';
export type { Lab, LabServer, LabUpOptions } from './types.js';
