// The transport's public face: reach servers (SSH or local), check them,
// put the server bundle there and get a connected daemon client.
export type { ExecOptions, ExecResult, InteractiveResult, Terminal, Transport } from './transport.js';
export { execChecked, shq } from './transport.js';
export { LocalTransport } from './local.js';
export { SshTransport, type SshOptions, defaultKnownHostsFile } from './ssh.js';
export { connectServer, ConnectionPool } from './connect.js';
export { preflight, type PreflightFacts, MIN_NODE_MAJOR } from './preflight.js';
export { loadBundle, pushBundle, remoteBundlePath, defaultBundlePath, DEFAULT_BUNDLES_DIR, type Bundle } from './bundle.js';
export {
  connectDaemon,
  ensureDaemon,
  DaemonLink,
  type DaemonSession,
  type EnsureDaemonOptions,
  type WatchUpdate,
} from './ensure-daemon.js';
