// The server bundle (daemon + engine in one file) and its content-addressed
// home on each server: BASE/<first 16 hex of its SHA-256>/myikev2-server.mjs.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MyikeError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { execChecked, shq, type Transport } from './transport.js';

export const BUNDLE_FILE = 'myikev2-server.mjs';
export const DEFAULT_BUNDLES_DIR = '/var/lib/myikev2/bundles';

export interface Bundle {
  localPath: string;
  /** Hex SHA-256 of the file; the daemon reports `sha256:<this>` as its build. */
  sha256: string;
}

/** dist/bundle/myikev2-server.mjs of this package. */
export function defaultBundlePath(): string {
  return path.join(packageRoot(), 'dist', 'bundle', BUNDLE_FILE);
}

export async function loadBundle(localPath = defaultBundlePath()): Promise<Bundle> {
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

/** Where a bundle lives on a server. */
export function remoteBundlePath(bundle: Bundle, baseDir = DEFAULT_BUNDLES_DIR): string {
  return path.posix.join(baseDir, bundle.sha256.slice(0, 16), BUNDLE_FILE);
}

/**
 * Put the bundle on the server unless that exact content is already there
 * (one round trip to check). The upload goes to a temp name and is renamed
 * into place, so a half-written bundle is never run.
 */
export async function pushBundle(
  t: Transport,
  bundle: Bundle,
  baseDir = DEFAULT_BUNDLES_DIR,
): Promise<{ uploaded: boolean; remotePath: string }> {
  const remotePath = remoteBundlePath(bundle, baseDir);
  const dir = path.posix.dirname(remotePath);
  const r = await execChecked(t, `test -f ${shq(remotePath)} && echo present || mkdir -p -m 0755 ${shq(dir)}`, 'push bundle');
  if (r.stdout.trim() === 'present') return { uploaded: false, remotePath };
  await t.push(bundle.localPath, remotePath);
  return { uploaded: true, remotePath };
}
