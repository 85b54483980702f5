// The shell's history file: the newest lines come back, and the file, which
// only grows by appends, is cut back once it holds twice the history size.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHistory } from '../../src/shell/repl.js';

describe('shell: history file', () => {
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-history-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `cmd ${i}`);

  it('gives the newest 1000 lines, newest first; a missing file is no history', () => {
    const file = join(dir, 'short');
    writeFileSync(file, lines(1500).join('\n') + '\n');
    const h = loadHistory(file);
    assert.equal(h.length, 1000);
    assert.deepEqual([h[0], h[999]], ['cmd 1499', 'cmd 500']);
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 1501, 'under twice the size: left as it is');
    assert.deepEqual(loadHistory(join(dir, 'none')), []);
  });

  it('cuts the file back to the newest 1000 lines once it holds over 2000, keeping it private', () => {
    const file = join(dir, 'long');
    writeFileSync(file, lines(2001).join('\n') + '\n', { mode: 0o600 });
    assert.deepEqual(loadHistory(file).slice(0, 2), ['cmd 2000', 'cmd 1999']);
    const kept = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual([kept.length, kept[0], kept.at(-1)], [1000, 'cmd 1001', 'cmd 2000']);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});
