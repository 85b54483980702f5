// Golden files: expected output kept under test/golden/. Run the tests with
// UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from './paths.js';

export function assertGolden(name: string, actual: string): void {
  const file = join(PROJECT_ROOT, 'test', 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI && !existsSync(file)) assert.fail(`golden file ${name} is missing`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.equal(actual, readFileSync(file, 'utf8'), `differs from test/golden/${name} (UPDATE_GOLDEN=1 to accept)`);
}
