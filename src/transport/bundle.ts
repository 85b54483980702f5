// The server bundle (engine, engine CLI and daemon in one file), the daemon's
// own smaller file built with it, and their content-addressed home on each
// server: BASE/<first 16 hex of the daemon file's SHA-256>/myikev2-server.mjs
// and myikev2-daemon.mjs (the daemon file names the server bundle). The
// daemon file exists for speed only: a daemon that parses 0.12 MB instead of
// 0.65 starts on ~40 ms less CPU.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MyikeError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { execChecked, shq, type Transport } from './transport.js';

export const BUNDLE_FILE = 'myikev2-server.mjs';
export const DAEMON_FILE = 'myikev2-daemon.mjs';
export const DEFAULT_BUNDLES_DIR = '/var/lib/myikev2/bundles';

export interface BundleFile {
  localPath: string;
  /** Hex SHA-256 of the file. */
  sha256: string;
}

export interface Bundle extends BundleFile {
  /** The daemon's own file; without it the daemon runs from the bundle. The daemon reports `sha256:<its sha256>` as its build. */
  daemon?: BundleFile;
}

/** dist/bundle/myikev2-server.mjs of this package. */
export function defaultBundlePath(): string {
  return path.join(packageRoot(), 'dist', 'bundle', BUNDLE_FILE);
}

async function readBundleFile(localPath: string): Promise<BundleFile> {
  let data: Buffer;
  try {
    data = await fsp.readFile(localPath);
  } catch (e) {
    throw new MyikeError('E_BUNDLE', `server bundle ${localPath} is missing: ${(e as Error).message}`, {
      hint: 'build it with `npm run build`',
      cause: e,
    });
  }
  return { localPath, sha256: createHash('sha256').update(data).digest('hex') };
}

/** The bundle at localPath, with the daemon file next to it when there is one. */
export async function loadBundle(localPath = defaultBundlePath()): Promise<Bundle> {
  const daemonPath = path.join(path.dirname(localPath), DAEMON_FILE);
  const hasDaemon = await fsp.access(daemonPath).then(() => true, () => false);
  const [bundle, daemon] = await Promise.all([readBundleFile(localPath), hasDaemon ? readBundleFile(daemonPath) : undefined]);
  return { ...bundle, ...(daemon ? { daemon } : {}) };
}

/** What the daemon runs from, and reports as its build (`sha256:<sha256>`). */
export function daemonFile(bundle: Bundle): BundleFile {
  return bundle.daemon ?? bundle;
}

/**
 * Where a bundle lives on a server: named by its daemon's build, which covers
 * both files (the daemon file names the server bundle), so a directory never
 * holds a daemon file of another build beside the same server bundle.
 */
export function remoteBundlePath(bundle: Bundle, baseDir = DEFAULT_BUNDLES_DIR): string {
  return path.posix.join(baseDir, daemonFile(bundle).sha256.slice(0, 16), BUNDLE_FILE);
}

/** Where the daemon's file of a bundle lives on a server (beside the bundle; the bundle itself without one). */
export function remoteDaemonPath(bundle: Bundle, baseDir = DEFAULT_BUNDLES_DIR): string {
  return bundle.daemon ? path.posix.join(path.posix.dirname(remoteBundlePath(bundle, baseDir)), DAEMON_FILE) : remoteBundlePath(bundle, baseDir);
}

/**
 * Put the bundle (and its daemon file) on the server unless that exact
 * content is already there (one round trip to check). Each upload goes to a
 * temp name and is renamed into place, so a half-written file is never run;
 * the daemon file goes last, so its presence means both are there.
 */
export async function pushBundle(
  t: Transport,
  bundle: Bundle,
  baseDir = DEFAULT_BUNDLES_DIR,
): Promise<{ uploaded: boolean; remotePath: string }> {
  const remotePath = remoteBundlePath(bundle, baseDir);
  const daemonPath = remoteDaemonPath(bundle, baseDir);
  const dir = path.posix.dirname(remotePath);
  // Touched when found: a teardown removes bundles no one pushed or found for a day.
  const r = await execChecked(t, `test -f ${shq(remotePath)} && test -f ${shq(daemonPath)} && touch ${shq(dir)} && echo present || mkdir -p -m 0755 ${shq(dir)}`, 'push bundle');
  if (r.stdout.trim() === 'present') return { uploaded: false, remotePath };
  await t.push(bundle.localPath, remotePath);
  if (bundle.daemon) await t.push(bundle.daemon.localPath, daemonPath);
  return { uploaded: true, remotePath };
}
