import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root, from compiled tests in dist/test/... */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures');
/** The package's bin: the command line's one-file bundle. */
export const CLI = join(PROJECT_ROOT, 'dist', 'cli', 'myikev2.js');
