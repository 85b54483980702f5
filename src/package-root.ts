// Where the package's files (templates/, examples/, schemas/, dist/bundle/)
// are: found from this module's file, which is in dist/src/ when run from the
// compiled tree and in dist/cli/ when run from the command line's bundle.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MyikeError } from './errors.js';

let root: string | undefined;

/** The directory holding myikev2's package.json. */
export function packageRoot(): string {
  if (root) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'myikev2') return (root = dir);
    if (dirname(dir) === dir) throw new MyikeError('E_INSTALL', `cannot find myikev2's package.json above ${fileURLToPath(import.meta.url)}`, { hint: 'run myikev2 from its package (npm ci, then npx myikev2)' });
  }
}
