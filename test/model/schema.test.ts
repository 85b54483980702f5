// Schema errors say what a value of the wrong type should look like and how
// to write it, since YAML reads `5`, `42` or `"22"` other than one may think.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSetup } from '../../src/model/setup.js';
import { Diagnostics } from '../../src/model/source.js';

function setupErrors(text: string): { message: string; hint?: string }[] {
  const dir = mkdtempSync(join(tmpdir(), 'myikev2-schema-'));
  try {
    const file = join(dir, 'setup.yaml');
    writeFileSync(file, `role: gateway\nbindifname: x0\nbindifaddr: 10.0.0.1/24\n${text}`);
    const diag = new Diagnostics();
    readSetup(file, diag);
    return diag.errors.filter((e) => /wrong type|invalid value/.test(e.message)).map((e) => ({ message: e.message, hint: e.hint }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('model: schema errors of the wrong type or value', () => {
  it('asks for a duration with its unit', () =>
    assert.deepEqual(setupErrors('runningtime: 30\n'), [
      { message: 'runningtime: wrong type (expected a duration such as "100ms", "3s", "5m", "2h" or "1h30m")', hint: 'give the unit: runningtime: 30s (or ms, m, h)' },
    ]));

  it('says to quote a number where text is expected, without showing a secret', () => {
    assert.deepEqual(setupErrors('desc: 42\n'), [{ message: 'desc: wrong type (expected string)', hint: 'put the value in quotes: desc: "42"' }]);
    assert.deepEqual(setupErrors('ikeconf:\n  psk: 12345678\n'), [{ message: 'ikeconf.psk: wrong type (expected string)', hint: 'put the value in quotes' }]);
  });

  it('says to drop the quotes of a number, and how to write a boolean, a list', () => {
    assert.deepEqual(setupErrors('numberoftunnels: "10"\n'), [{ message: 'numberoftunnels: wrong type (expected integer)', hint: 'write the number without quotes: numberoftunnels: 10' }]);
    assert.deepEqual(setupErrors('abortonerr: "yes"\n'), [{ message: 'abortonerr: wrong type (expected boolean)', hint: 'write true or false, without quotes' }]);
    assert.equal(setupErrors('ikeconf:\n  dhgrpid: 19\n')[0]?.hint, 'a YAML list: one item per line, each starting with "- "');
  });

  it('suggests the value meant by a misspelt one', () => {
    assert.deepEqual(setupErrors('ikeconf:\n  childlist:\n  - ownts:\n    - {type: v44}\n').map((e) => e.hint), ['did you mean "v4"?']);
    assert.deepEqual(setupErrors('ikeconf:\n  childlist:\n  - ownts:\n    - {type: ipv6-only}\n').map((e) => e.hint), [undefined]);
  });
});
