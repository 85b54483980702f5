// The verification teardown ends with is what makes "verified clean" true:
// run the generated script against real leftovers of a run and check that
// it names each of them, and nothing once they are gone.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { InstanceRecord } from '../../src/run/manifest.js';
import { renderVerifyScript } from '../../src/run/render.js';
import { spawnSync } from 'node:child_process';
import { sh } from '../support/machine.js';
import { tempPath } from '../support/paths.js';

describe('run: the teardown verification @integration', () => {
  // Not the 'm' of real run tags, so nothing of a real run can match.
  const tag = `z${(process.pid % 0xffff).toString(16).padStart(4, '0')}`;
  const addr = `fd00:7e57:${(process.pid % 0xffff).toString(16)}::7`;
  const runDir = tempPath('myikev2-verify-');
  before(() => mkdirSync(runDir));
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
  const policy = `src ${addr}/128 dst fd00:7e57::1/128 dir out`;
  let stray: ChildProcess | undefined;
  let listener: Server | undefined;
  const removeAll = async () => {
    sh(`ip -6 route del ${addr}/128 2>/dev/null; ip link del ${tag}h7 2>/dev/null; ip netns del ${tag}-probe 2>/dev/null; ip xfrm policy del ${policy} 2>/dev/null; true`);
    if (stray && stray.exitCode === null && stray.signalCode === null) {
      const gone = new Promise((r) => stray!.once('exit', r));
      stray.kill('SIGKILL');
      await gone;
    }
    await new Promise((r) => (listener ? listener.close(r) : r(undefined)));
    rmSync(runDir, { recursive: true, force: true });
  };

  after(async () => {
    await removeAll();
    assert.equal(sh(`ip netns list | grep '^${tag}-'; ip -o link show | grep ': ${tag}'; ip -6 route show | grep '^${addr} '; ip xfrm policy | grep '${addr}'; true`), '');
  });

  it('names each namespace, link, host route, xfrm policy, tagged process, socket and directory of the run left behind, and nothing once they are gone', async () => {
    sh(`ip netns add ${tag}-probe && ip link add ${tag}h7 type veth peer name ${tag}p7 && ip link set ${tag}h7 up && ip -6 route add ${addr}/128 dev ${tag}h7`);
    sh(`ip xfrm policy add ${policy}`);
    // A process of the run outside its namespace (it carries the run's tag), and a socket under a path of the run.
    stray = spawn('sleep', ['300'], { env: { ...process.env, MYIKEV2_TAG: tag }, stdio: 'ignore', detached: true }); // its own session, as instances have
    await new Promise((r) => stray!.once('spawn', r));
    mkdirSync(join(runDir, tag));
    const sock = join(runDir, tag, 's.sock');
    listener = createServer();
    await new Promise<void>((r) => listener!.listen(sock, r));
    const found = verify();
    assert.deepEqual(found, [
      `files ${runDir}`,
      `link ${tag}h7`,
      `netns ${tag}-probe`,
      `process ${stray.pid} (sleep)`,
      `route ${addr}`,
      `socket ${sock}`,
      `xfrm policy src ${addr}/128 dst fd00:7e57::1/128 dir out`,
    ]);
    await removeAll();
    assert.deepEqual(verify(), []);
    // Run from an environment carrying the tag (a controller started inside an instance's), the script does not name itself.
    const tagged = spawnSync('sh', ['-c', renderVerifyScript(tag, 'local', [record])], { encoding: 'utf8', env: { ...process.env, MYIKEV2_TAG: tag } });
    assert.equal(tagged.stdout, '');
  });

  it('names a leftover xfrm state by its selectors, never by its keys', () => {
    // This kernel has no ESP, so no state can be added: a stand-in `ip` prints
    // one (as `ip -o xfrm state` does) and runs the real ip for the rest.
    const bin = join(runDir, 'bin');
    mkdirSync(bin, { recursive: true });
    const key = '0x00112233445566778899aabbccddeeff';
    const line = `src ${addr} dst fd00:7e57::1\\tproto esp spi 0x00000100 reqid 1 mode tunnel\\treplay-window 0 \\tauth-trunc hmac(sha256) ${key}${key.slice(2)} 128\\tenc cbc(aes) ${key}\\tsel src ::/0 dst ::/0 `;
    writeFileSync(join(bin, 'ip'), `#!/bin/sh\nif [ "$*" = "-o xfrm state" ]; then printf '%b\\n' '${line}'; exit 0; fi\nexec /usr/sbin/ip "$@"\n`, { mode: 0o755 });
    const r = spawnSync('sh', ['-c', renderVerifyScript(tag, 'local', [record])], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    rmSync(bin, { recursive: true, force: true });
    const found = r.stdout.split('\n').filter((l) => l.startsWith('xfrm '));
    assert.deepEqual(found, [`xfrm state src ${addr} dst fd00:7e57::1 proto esp spi 0x00000100`]);
    assert.ok(!r.stdout.includes(key.slice(2)), 'no key material in the output');
  });
});
