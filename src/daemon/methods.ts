// The method table: one small handler per protocol method (docs/daemon-protocol.md).
import { isAbsolute } from 'node:path';
import { unixSocketAnswers } from '../unix-socket.js';
import type { Holder, Locks } from './locks.js';
import type { ManifestStore } from './manifests.js';
import { logFiles, tailLines } from './logs.js';
import {
  KEY_RE,
  NAME_RE,
  NETNS_RE,
  optBool,
  optEnum,
  optInt,
  optObject,
  optPath,
  optString,
  optStringRecord,
  reqString,
  reqStringArray,
  type Params,
} from './params.js';
import {
  ErrorCodes,
  type Backoff,
  type HelloResult,
  type LogLine,
  type LogStream,
  type MethodName,
  type NetnsBatch,
  type ResultOf,
  type SpawnParams,
} from './protocol.js';
import { configureNamespaces } from './netns.js';
import { RpcError } from './rpc-error.js';
import type { Supervisor } from './supervisor.js';

export interface DaemonInfo {
  pid: number;
  build: string;
  startedAt: string;
  socket: string;
  stateDir: string;
}

/** What a handler may do with the connection it is answering. */
export interface Session extends Holder {
  readonly version: number;
  hello(params: Params): HelloResult;
  /** A subscription whose events start after the response is written. */
  subscribe(tag: string | undefined): number;
  followLogs(name: string, files: { stream: LogStream; path: string }[]): number;
  unsubscribe(id: number): void;
}

export interface MethodContext {
  sup: Supervisor;
  manifests: ManifestStore;
  locks: Locks;
  info: DaemonInfo;
  session: Session;
  shutdown(stopInstances: boolean): Promise<void>;
  /** How many clients besides `session` are connected. */
  otherClients(session: Session): number;
}

type Handler<M extends MethodName> = (p: Params, ctx: MethodContext) => ResultOf<M> | Promise<ResultOf<M>>;

const MAX_TIMEOUT_MS = 24 * 3600 * 1000;

function selector(p: Params): { name?: string; tag?: string } {
  const name = optString(p, 'name', NAME_RE, 'an instance name');
  const tag = optString(p, 'tag', NAME_RE, 'a tag');
  if (name === undefined && tag === undefined) throw new RpcError(ErrorCodes.BAD_REQUEST, 'give params.name or params.tag');
  return { name, tag };
}

function spawnParams(p: Params): SpawnParams {
  const b = optObject(p, 'backoff') ?? {};
  const backoff: Partial<Backoff> = {};
  for (const k of ['initialMs', 'maxMs', 'resetAfterMs'] as const) {
    const v = optInt(b, k, 0, MAX_TIMEOUT_MS);
    if (v !== undefined) backoff[k] = v;
  }
  const factor = b.factor;
  if (factor !== undefined && (typeof factor !== 'number' || !(factor >= 1 && factor <= 100))) {
    throw new RpcError(ErrorCodes.BAD_REQUEST, 'params.backoff.factor must be a number from 1 to 100');
  }
  if (factor !== undefined) backoff.factor = factor as number;
  return {
    name: reqString(p, 'name', NAME_RE, 'a name of 1-128 letters, digits or _.:@-'),
    tag: optString(p, 'tag', NAME_RE, 'a tag of 1-128 letters, digits or _.:@-'),
    argv: reqStringArray(p, 'argv'),
    netns: optString(p, 'netns', NETNS_RE, 'a network namespace name'),
    env: optStringRecord(p, 'env'),
    cwd: optPath(p, 'cwd'),
    logdir: optPath(p, 'logdir'),
    restart: optEnum(p, 'restart', ['never', 'on-failure', 'always'] as const),
    backoff,
    stopTimeoutMs: optInt(p, 'stopTimeoutMs', 0, MAX_TIMEOUT_MS),
    logMaxBytes: optInt(p, 'logMaxBytes', 1024, 2 ** 40),
    replace: optBool(p, 'replace'),
  };
}

function netnsBatches(p: Params): NetnsBatch[] {
  const v = p.batches;
  const ok = (b: unknown): b is NetnsBatch =>
    !!b && typeof b === 'object' && typeof (b as NetnsBatch).netns === 'string' && NETNS_RE.test((b as NetnsBatch).netns) && typeof (b as NetnsBatch).commands === 'string';
  if (!Array.isArray(v) || !v.every(ok)) throw new RpcError(ErrorCodes.BAD_REQUEST, 'params.batches must be an array of { netns, commands }');
  return v;
}

export const methods: { [M in MethodName]: Handler<M> } = {
  hello: (p, { session }) => session.hello(p),

  spawn: async (p, { sup }) => ({ instance: await sup.spawn(spawnParams(p)) }),

  stop: async (p, { sup }) => {
    const sel = selector(p);
    if (sel.name === undefined) await sup.startsOver(sel.tag!);
    const names = sup.select(sel);
    const mode = optEnum(p, 'mode', ['graceful', 'hard'] as const) ?? 'graceful';
    const timeoutMs = optInt(p, 'timeoutMs', 0, MAX_TIMEOUT_MS);
    const down = Promise.all(names.map((n) => sup.stop(n, mode, timeoutMs)));
    if (optBool(p, 'wait') === false) return { instances: names.map((n) => sup.get(n)) };
    await down;
    const instances = names.map((n) => sup.get(n));
    // Removed in the same answer: one state save for both, not two (each answer waits for its save).
    return optBool(p, 'remove') ? { instances, removed: sup.remove(names) } : { instances };
  },

  remove: (p, { sup }) => ({ removed: sup.remove(sup.select(selector(p))) }),

  list: (p, { sup }) => ({ instances: sup.list(optString(p, 'tag', NAME_RE, 'a tag')) }),

  status: (p, { sup, manifests, info, session }) => {
    const name = optString(p, 'name', NAME_RE, 'an instance name');
    return {
      ...info,
      version: session.version,
      counts: sup.counts(),
      manifests: manifests.size,
      ...(name === undefined ? {} : { instance: sup.get(name) }),
    };
  },

  logs: (p, { sup, session }) => {
    const inst = sup.get(reqString(p, 'name', NAME_RE, 'an instance name'));
    const which = optEnum(p, 'stream', ['stdout', 'stderr', 'both'] as const) ?? 'both';
    const tail = optInt(p, 'tail', 0, 100_000) ?? 100;
    const files = logFiles(inst, which);
    // Follow from the current ends before reading the tail: a line may show twice, none is lost.
    const subscription = optBool(p, 'follow') ? session.followLogs(inst.name, files) : undefined;
    const lines: LogLine[] = files.flatMap((f) => tailLines(f.path, tail).map((line) => ({ stream: f.stream, line })));
    return subscription === undefined ? { lines } : { lines, subscription };
  },

  subscribe: (p, { sup, session }) => {
    const tag = optString(p, 'tag', NAME_RE, 'a tag');
    return { subscription: session.subscribe(tag), instances: sup.list(tag) };
  },

  unsubscribe: (p, { session }) => {
    const id = optInt(p, 'subscription', 0, Number.MAX_SAFE_INTEGER);
    if (id === undefined) throw new RpcError(ErrorCodes.BAD_REQUEST, 'params.subscription must be a subscription id');
    session.unsubscribe(id);
    return { ok: true };
  },

  shutdown: async (p, ctx) => {
    await ctx.shutdown(optBool(p, 'stopInstances') ?? false);
    return { ok: true };
  },

  'shutdown.ifIdle': async (_p, ctx) => {
    const instances = ctx.sup.list().length;
    const manifests = ctx.manifests.keys('').length;
    const clients = ctx.otherClients(ctx.session);
    const busy = [instances && `${instances} instance(s)`, manifests && `${manifests} run manifest(s)`, clients && `${clients} other client(s) connected`].filter(Boolean).join(', ');
    if (busy) return { stopped: false, busy };
    await ctx.shutdown(false);
    return { stopped: true, busy: null };
  },

  'probe.unix': async (p) => {
    const paths = reqStringArray(p, 'paths');
    if (paths.some((x) => !isAbsolute(x))) throw new RpcError(ErrorCodes.BAD_REQUEST, 'params.paths must be absolute paths');
    const answers = await Promise.all(paths.map((x) => unixSocketAnswers(x)));
    return { answering: paths.filter((_, i) => answers[i]) };
  },

  'netns.configure': (p, { sup }) => configureNamespaces(sup.helper, netnsBatches(p)),

  'manifest.put': (p, { manifests, sup }) => {
    if (!('value' in p)) throw new RpcError(ErrorCodes.BAD_REQUEST, 'params.value is required (any JSON)');
    manifests.put(reqString(p, 'key', KEY_RE, 'a key of 1-256 letters, digits or _.:@/-'), p.value);
    sup.warmHelpers();
    return { ok: true };
  },

  'manifest.get': (p, { manifests }) => {
    const key = reqString(p, 'key', KEY_RE, 'a manifest key');
    if (!manifests.has(key)) throw new RpcError(ErrorCodes.NOT_FOUND, `no manifest under key ${key}`);
    return { value: manifests.get(key) };
  },

  'manifest.list': (p, { manifests }) => ({ keys: manifests.keys(optString(p, 'prefix') ?? '') }),

  'manifest.delete': (p, { manifests }) => ({
    deleted: manifests.delete(reqString(p, 'key', KEY_RE, 'a manifest key')),
  }),

  // Held by the asking connection until unlock or until it closes.
  lock: async (p, { locks, session }) => {
    await locks.acquire(reqString(p, 'key', KEY_RE, 'a lock name'), session, optString(p, 'owner')?.slice(0, 200) || 'another client');
    return { ok: true };
  },

  unlock: (p, { locks, session }) => ({ released: locks.release(reqString(p, 'key', KEY_RE, 'a lock name'), session) }),
};

export const FEATURES = Object.keys(methods);
