import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execEngine, defaultRunDir } from '../../../src/engine/program/exec.js';
import { MyikeError } from '../../../src/errors.js';

describe('myikev2 exec: start-up checks', () => {
  let dir: string;
  let server: Server | undefined;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'myikev2-exec-'))));
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('derives the run directory from the setup file name', () => {
    assert.equal(defaultRunDir('/x/y/gw-1.yaml'), '/run/myikev2/engine/gw-1');
  });

  it('rejects a bad setup file with exit code 2 and touches nothing', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'role: client\nnumberoftunnels: many\n');
    const runDir = join(dir, 'bad.run');
    await assert.rejects(execEngine({ file: f, json: false, runDir }), (e: MyikeError) => e.exitCode === 2);
    assert.equal(existsSync(runDir), false);
  });

  it('says which address and port another program holds, not "a bug"', async () => {
    const addr = `127.${1 + (process.pid % 200)}.77.1`;
    const f = join(dir, 'gw-busy.yaml');
    writeFileSync(f, `role: gateway\nbindifname: lo\nbindifaddr: ${addr}/32\nikeconf:\n  psk: x\n`);
    const holder = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(500, addr, r));
    try {
      await assert.rejects(execEngine({ file: f, json: false, runDir: join(dir, 'gw-busy.run'), noTcp: true, noNetconf: true }), (e: MyikeError) => {
        assert.equal(e.code, 'E_BIND');
        assert.match(e.describe(), new RegExp(`${addr.replace(/\./g, '\\.')} port 500: another program .*\n  hint: stop that program`));
        return true;
      });
    } finally {
      holder.close();
    }
    assert.equal(existsSync(join(dir, 'gw-busy.run')), false, 'the run directory it made is gone');
  });

  it('says an address no interface has is missing (--no-netconf), not "a bug"; leaves a run directory it did not make as it was', async () => {
    const f = join(dir, 'gw-noaddr.yaml');
    writeFileSync(f, 'role: gateway\nbindifname: lo\nbindifaddr: fd6d:7969:6b65:7632::dead/128\nikeconf:\n  psk: x\n');
    const runDir = join(dir, 'users-own');
    mkdirSync(runDir);
    writeFileSync(join(runDir, 'keep.txt'), 'the user\'s\n');
    await assert.rejects(execEngine({ file: f, json: false, runDir, noTcp: true, noNetconf: true }), (e: MyikeError) => {
      assert.equal(e.code, 'E_BIND');
      assert.match(e.describe(), /fd6d:7969:6b65:7632::dead port 500: no interface of this namespace has that address/);
      return true;
    });
    assert.deepEqual(readdirSync(runDir), ['keep.txt']);
  });

  for (const runDir of ['', '/dev/null/run'])
    it(`refuses a run directory that cannot be made (${JSON.stringify(runDir)}) as bad usage, not "a bug"`, async () => {
      const f = join(dir, 'gw-rundir.yaml');
      writeFileSync(f, 'role: gateway\nbindifname: lo\nbindifaddr: 127.0.0.1/8\nikeconf:\n  psk: x\n');
      await assert.rejects(execEngine({ file: f, json: false, runDir, noTcp: true, noNetconf: true }), (e: MyikeError) => e.code === 'E_RUN_DIR' && e.exitCode === 2);
    });

  it('refuses a run directory that a live engine uses', async () => {
    const f = join(dir, 'gw.yaml');
    writeFileSync(f, 'role: gateway\nbindifname: lo\nbindifaddr: 127.0.0.1/8\nikeconf:\n  psk: x\n');
    const runDir = join(dir, 'busy.run');
    mkdirSync(runDir);
    server = createServer();
    await new Promise<void>((r) => server!.listen(join(runDir, 'api.sock'), () => r()));
    await assert.rejects(execEngine({ file: f, json: false, runDir, noTcp: true }), (e: MyikeError) => e.code === 'E_RUN_DIR_BUSY' && e.exitCode === 2);
    assert.ok(existsSync(join(runDir, 'api.sock')), 'the other engine keeps its socket');
  });
});
