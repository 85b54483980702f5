import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root, from compiled tests in dist/test/... */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures');
/** The package's bin: the command line's one-file bundle. */
export const CLI = join(PROJECT_ROOT, 'dist', 'cli', 'myikev2.js');

/**
 * A fresh path under the temp directory, not created: a suite names its
 * directory when it is defined but makes it in before(), so a run that
 * filters the suite's tests out (npm run test:unit) leaves nothing behind.
 */
export function tempPath(prefix: string): string {
  return join(tmpdir(), `${prefix}${process.pid}-${randomBytes(4).toString('hex')}`);
}
