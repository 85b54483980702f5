// The teardown script's output: the logs section (a base64 .tar.gz) comes
// first and is taken off before the removal and verification lines are read.
import { strict as assert } from 'node:assert';
import { gzipSync } from 'node:zlib';
import { LOGS_MARKER } from '../../src/run/render.js';
import { splitLogs } from '../../src/run/teardown.js';

describe('teardown: the logs in the script output', () => {
  const tgz = gzipSync(Buffer.from('log bytes'));
  const cases: { title: string; out: string; logs: Buffer | null; rest: string }[] = [
    { title: 'logs, then removal and verification lines', out: `${LOGS_MARKER}\n${tgz.toString('base64')}\nleft: x\n@@v@@\nnetns y\n`, logs: tgz, rest: 'left: x\n@@v@@\nnetns y\n' },
    { title: 'no logs section: the output as it is', out: 'left: x\n@@v@@\n', logs: null, rest: 'left: x\n@@v@@\n' },
    { title: 'an empty archive counts as no logs', out: `${LOGS_MARKER}\n\n@@v@@\n`, logs: null, rest: '@@v@@\n' },
    { title: 'output that ends with the archive', out: `${LOGS_MARKER}\n${tgz.toString('base64')}`, logs: tgz, rest: '' },
  ];
  for (const c of cases)
    it(c.title, () => {
      const r = splitLogs(c.out);
      assert.deepEqual(r.logs, c.logs);
      assert.equal(r.rest, c.rest);
    });
});
