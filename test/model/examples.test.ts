// The shipped examples validate and resolve to the expected model.
import { strict as assert } from 'node:assert';
import { join, relative } from 'node:path';
import { loadInputs } from '../../src/model/load.js';
import { assertGolden } from '../support/golden.js';
import { PROJECT_ROOT } from '../support/paths.js';

function stable(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'string' && v.startsWith(PROJECT_ROOT) ? relative(PROJECT_ROOT, v) : v), 2) + '\n';
}

describe('model: examples resolve to the golden model', () => {
  it('examples/starter (controller config + recipe + two setup files)', () => {
    const dir = join(PROJECT_ROOT, 'examples', 'starter');
    const inputs = loadInputs(join(dir, 'recipe.yaml'), join(dir, 'controller.yaml'));
    assert.deepEqual(inputs.warnings, []);
    assert.equal(inputs.recipe.instances.length, 2);
    assertGolden('model/starter.json', stable(inputs));
  });
});
