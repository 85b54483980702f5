// The verification teardown ends with is what makes "verified clean" true:
// run the generated script against real leftovers of a run and check that
// it names each of them, and nothing once they are gone.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceRecord } from '../../src/run/manifest.js';
import { renderVerifyScript } from '../../src/run/render.js';
import { sh } from '../support/machine.js';

describe('run: the teardown verification @integration', () => {
  // Not the 'm' of real run tags, so nothing of a real run can match.
  const tag = `z${(process.pid % 0xffff).toString(16).padStart(4, '0')}`;
  const addr = `fd00:7e57:${(process.pid % 0xffff).toString(16)}::7`;
  const runDir = mkdtempSync(join(tmpdir(), 'myikev2-verify-'));
  const record = {
    id: 7,
    name: 'probe',
    server: 'local',
    kind: 'other',
    netns: `${tag}-probe`,
    vethHost: `${tag}h7`,
    daemonName: `${tag}.probe`,
    runDir,
    logdir: runDir,
    mgmtAddr: addr,
    dataIf: null,
    dataIfAddr: '',
    dataIfOrig: null,
    destroycmds: '',
    hash: '',
  } satisfies InstanceRecord;
  const verify = () => sh(renderVerifyScript(tag, 'local', [record])).split('\n').filter(Boolean).sort();
  const removeAll = () => {
    sh(`ip -6 route del ${addr}/128 2>/dev/null; ip link del ${tag}h7 2>/dev/null; ip netns del ${tag}-probe 2>/dev/null; true`);
    rmSync(runDir, { recursive: true, force: true });
  };

  after(() => {
    removeAll();
    assert.equal(sh(`ip netns list | grep '^${tag}-'; ip -o link show | grep ': ${tag}'; ip -6 route show | grep '^${addr} '`), '');
  });

  it('names each namespace, link, host route and directory of the run left behind, and nothing once they are gone', () => {
    sh(`ip netns add ${tag}-probe && ip link add ${tag}h7 type veth peer name ${tag}p7 && ip link set ${tag}h7 up && ip -6 route add ${addr}/128 dev ${tag}h7`);
    assert.deepEqual(verify(), [`files ${runDir}`, `link ${tag}h7`, `netns ${tag}-probe`, `route ${addr}`]);
    removeAll();
    assert.deepEqual(verify(), []);
  });
});
