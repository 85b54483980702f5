// The daemon's wire protocol (docs/daemon-protocol.md): types shared by the
// daemon and its client. Newline-delimited JSON; unknown fields are ignored.

/** Versions this build speaks, oldest first. */
export const PROTOCOL_VERSIONS: readonly number[] = [1];

export const DEFAULT_SOCKET = '/run/myikev2/daemon.sock';
export const DEFAULT_STATE_DIR = '/var/lib/myikev2/daemon';
/** Longest line either side accepts; a longer one closes the connection. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export type RestartPolicy = 'never' | 'on-failure' | 'always';

export interface Backoff {
  /** Delay before the first restart. */
  initialMs: number;
  /** Upper bound of the delay. */
  maxMs: number;
  /** Each consecutive restart multiplies the delay by this. */
  factor: number;
  /** A run at least this long resets the delay to initialMs. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000, factor: 2, resetAfterMs: 10_000 };
export const DEFAULT_STOP_TIMEOUT_MS = 5_000;
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;

export type InstanceState =
  | 'running' // process alive
  | 'stopping' // SIGTERM sent, waiting for exit (SIGKILL after stopTimeoutMs)
  | 'backoff' // exited, restart scheduled at nextRestartAt
  | 'exited' // exited by itself, no restart
  | 'stopped' // ended by a stop request
  | 'lost'; // found dead (or not ours any more) when the daemon re-adopted it

export interface SpawnParams {
  /** Unique among the daemon's instances: [A-Za-z0-9_.:@-], 1..128 chars. */
  name: string;
  /** Free label (e.g. the run tag) used by list/stop/subscribe filters. */
  tag?: string;
  /** Program and arguments, executed directly (no shell). */
  argv: string[];
  /** Network namespace (`ip netns exec NETNS argv...`); absent = the daemon's own. */
  netns?: string;
  /** Added to the base environment (PATH, LANG, HOME from the daemon). */
  env?: Record<string, string>;
  /** Working directory; default the log directory. */
  cwd?: string;
  /** Where NAME.log (stdout and stderr, in the order written) goes; default STATE_DIR/logs. */
  logdir?: string;
  restart?: RestartPolicy;
  backoff?: Partial<Backoff>;
  /** Graceful stop: SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs?: number;
  /** Each log file is rotated to one `.prev` file beyond this size. */
  logMaxBytes?: number;
  /** Replace an instance of the same name that is not running (default false). */
  replace?: boolean;
}

export interface InstanceInfo {
  name: string;
  tag: string | null;
  argv: string[];
  netns: string | null;
  /** Names only: values may be secrets and are never sent back. */
  envKeys: string[];
  cwd: string;
  logdir: string;
  /** The same file, LOGDIR/NAME.log, for both streams (two files for an instance an older daemon started). */
  stdoutPath: string;
  stderrPath: string;
  restart: RestartPolicy;
  backoff: Backoff;
  stopTimeoutMs: number;
  logMaxBytes: number;
  state: InstanceState;
  pid: number | null;
  /** Field 22 of /proc/PID/stat (clock ticks since boot): identifies the process with its pid. */
  procStartTime: number | null;
  startedAt: string | null;
  exitedAt: string | null;
  /** null while running, or when the exit status is unknowable (re-adopted process). */
  exitCode: number | null;
  signal: string | null;
  restarts: number;
  nextRestartAt: string | null;
  /** True when watched by polling /proc after a daemon restart (not our child). */
  adopted: boolean;
  /** Why the instance is lost or failed to start. */
  error: string | null;
}

export type InstanceEventName =
  | 'started'
  | 'restarted'
  | 'exited'
  | 'stopping'
  | 'killed'
  | 'adopted'
  | 'lost'
  | 'removed';

export interface ServerHello {
  type: 'hello';
  versions: number[];
  build: string;
  features: string[];
  pid: number;
  startedAt: string;
  /** 'token': hello must carry the token before anything else is answered. */
  auth: 'none' | 'token';
}

export interface HelloParams {
  versions: number[];
  client?: string;
  token?: string;
}
export interface HelloResult {
  version: number;
  build: string;
  features: string[];
  pid: number;
  startedAt: string;
}

export interface Selector {
  name?: string;
  tag?: string;
}

export interface StatusResult {
  pid: number;
  build: string;
  version: number;
  startedAt: string;
  socket: string;
  stateDir: string;
  counts: Partial<Record<InstanceState, number>>;
  manifests: number;
  /** Present when params.name was given. */
  instance?: InstanceInfo;
}

export interface LogsParams {
  name: string;
  stream?: 'stdout' | 'stderr' | 'both';
  /** Last N lines of each selected stream (default 100, 0 = none). */
  tail?: number;
  follow?: boolean;
}
/** Where a log line came from: `output` is a file holding both streams in the order written. */
export type LogStream = 'stdout' | 'stderr' | 'output';
export interface LogLine {
  stream: LogStream;
  line: string;
}
export interface LogsResult {
  lines: LogLine[];
  /** With follow: the subscription that carries `log` events. */
  subscription?: number;
}

/** An `ip -batch` text to run inside one network namespace (`netns.configure`). */
export interface NetnsBatch {
  netns: string;
  commands: string;
}

/** Every method: its params and result. */
export interface DaemonMethods {
  hello: { params: HelloParams; result: HelloResult };
  spawn: { params: SpawnParams; result: { instance: InstanceInfo } };
  stop: {
    params: Selector & { mode?: 'graceful' | 'hard'; timeoutMs?: number; wait?: boolean; remove?: boolean };
    /** removed: with `remove` (and `wait`), the instances forgotten once down; absent from older daemons, which ignore `remove`. */
    result: { instances: InstanceInfo[]; removed?: string[] };
  };
  remove: { params: Selector; result: { removed: string[] } };
  list: { params: { tag?: string }; result: { instances: InstanceInfo[] } };
  status: { params: { name?: string }; result: StatusResult };
  logs: { params: LogsParams; result: LogsResult };
  subscribe: { params: { tag?: string }; result: { subscription: number; instances: InstanceInfo[] } };
  unsubscribe: { params: { subscription: number }; result: { ok: true } };
  shutdown: { params: { stopInstances?: boolean }; result: { ok: true } };
  /** Shuts down only when nothing would be lost: no instance, no manifest, no other client (the check and the shutdown are one step). */
  'shutdown.ifIdle': { params: Record<string, never>; result: { stopped: boolean; busy: string | null } };
  /** Which of these Unix sockets a process listens on (a file that is not a socket, or refuses, is not). */
  'probe.unix': { params: { paths: string[] }; result: { answering: string[] } };
  'netns.configure': {
    params: { batches: NetnsBatch[] };
    result: { configured: number; via: 'helper' | 'ip' };
  };
  'manifest.put': { params: { key: string; value: unknown }; result: { ok: true } };
  'manifest.get': { params: { key: string }; result: { value: unknown } };
  'manifest.list': { params: { prefix?: string }; result: { keys: string[] } };
  'manifest.delete': { params: { key: string }; result: { deleted: boolean } };
  lock: { params: { key: string; owner?: string }; result: { ok: true } };
  unlock: { params: { key: string }; result: { released: boolean } };
}
export type MethodName = keyof DaemonMethods;
export type ParamsOf<M extends MethodName> = DaemonMethods[M]['params'];
export type ResultOf<M extends MethodName> = DaemonMethods[M]['result'];

export interface Request {
  id: number | string;
  method: string;
  params?: unknown;
}

export interface ErrorBody {
  code: string;
  message: string;
}

export interface Response {
  type: 'response';
  id: number | string | null;
  result?: unknown;
  error?: ErrorBody;
}

export interface InstanceEvent {
  type: 'event';
  subscription: number;
  event: InstanceEventName;
  at: string;
  instance: InstanceInfo;
}
export interface LogEvent {
  type: 'event';
  subscription: number;
  event: 'log';
  at: string;
  name: string;
  stream: LogStream;
  data: string;
}
export type DaemonEvent = InstanceEvent | LogEvent;

/** Error codes a response may carry. */
export const ErrorCodes = {
  PARSE: 'E_PARSE',
  BAD_REQUEST: 'E_BAD_REQUEST',
  UNKNOWN_METHOD: 'E_UNKNOWN_METHOD',
  HELLO_REQUIRED: 'E_HELLO_REQUIRED',
  AUTH: 'E_AUTH',
  VERSION: 'E_VERSION',
  NOT_FOUND: 'E_NOT_FOUND',
  EXISTS: 'E_EXISTS',
  SPAWN: 'E_SPAWN',
  NETNS: 'E_NETNS',
  SHUTTING_DOWN: 'E_SHUTTING_DOWN',
  LOCKED: 'E_LOCKED',
  INTERNAL: 'E_INTERNAL',
} as const;

/** Highest version both sides speak (the older side's newest), or null. */
export function negotiateVersion(ours: readonly number[], theirs: readonly number[]): number | null {
  const common = ours.filter((v) => theirs.includes(v));
  return common.length ? Math.max(...common) : null;
}
