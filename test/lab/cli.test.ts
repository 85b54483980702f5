// The `myikev2 lab` command as a user runs it: real processes, exit codes, output.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown } from '../../src/lab/index.js';

const MAIN = join(process.cwd(), 'dist/cli/myikev2.js');

function myikev2(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('myikev2 lab (command) @integration', function () {
  this.timeout(60_000);
  let cwd: string;
  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'myikev2-labcli-'));
  });
  afterEach(async () => {
    const dir = join(cwd, '.myikev2-lab');
    if (existsSync(join(dir, 'lab.json'))) await labDown({ dir });
    rmSync(cwd, { recursive: true, force: true });
  });

  it('brings a lab up in ./.myikev2-lab, reports it, and brings it down', () => {
    const up = myikev2(['lab', 'up', '--servers', '2'], cwd);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /^lab [a-z0-9]{5} up: 2 server\(s\) in [\d.]+ s, files in \.myikev2-lab$/m);
    const login = /^log in: +(ssh .*)$/m.exec(up.stdout)?.[1];
    assert.ok(login, up.stdout);
    assert.deepEqual(readdirSync(join(cwd, '.myikev2-lab')).sort(), ['authorized_keys', 'controller.yaml', 'id_ed25519', 'id_ed25519.pub', 'known_hosts', 'lab.json', 'srv1', 'srv2']);

    // The printed login line works as printed, with strict host-key checking.
    const args = login.split(' ').slice(1);
    const ssh = spawnSync('ssh', ['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', ...args, 'hostname'], { cwd, encoding: 'utf8', timeout: 20_000 });
    assert.equal(ssh.status, 0, ssh.stderr);
    assert.equal(ssh.stdout.trim(), 'srv1');

    const st = myikev2(['lab', 'status', '--json'], cwd);
    assert.equal(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout);
    assert.equal(status.healthy, true);
    assert.deepEqual(status.servers.map((s: { name: string; answers: boolean }) => [s.name, s.answers]), [['srv1', true], ['srv2', true]]);

    const down = myikev2(['lab', 'down'], cwd);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /nothing left/);
    assert.deepEqual(readdirSync(cwd), []);

    const again = myikev2(['lab', 'status'], cwd);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no lab recorded/);
  });

  it('status of a lab whose server stopped answering exits 1 and says what to do', () => {
    const up = myikev2(['lab', 'up', '--servers', '1'], cwd);
    assert.equal(up.code, 0, up.stderr);
    const { servers } = JSON.parse(myikev2(['lab', 'status', '--json'], cwd).stdout);
    process.kill(servers[0].sshdPid, 'SIGTERM');
    let st = myikev2(['lab', 'status'], cwd);
    for (let i = 0; i < 20 && st.code === 0; i++) st = myikev2(['lab', 'status'], cwd);
    assert.equal(st.code, 1, st.stdout);
    assert.match(st.stdout, /srv1 .* NO /);
    assert.match(st.stderr, /srv1 not answering \(see \.myikev2-lab\/srv1\/sshd\.log\)\n  hint: .*myikev2 lab down --dir \.myikev2-lab, then lab up again/);
  });

  const badUsage: Array<[string[], RegExp]> = [
    [['lab', 'up', '--servers', '0'], /invalid number of servers/],
    [['lab', 'up', '--servers', 'x'], /invalid number 'x'/],
    [['lab', 'up', '--id', 'Lab1'], /invalid lab id/],
    [['lab', 'up', '--data', 'srv1-srv9'], /srv9, which is not in this lab/],
    [['lab', 'up', '--prefix6', 'fd00::/64'], /not a \/48/],
    [['lab', 'up', '--dir', 'a dir'], /spaces or shell characters/],
    [['lab', 'up', '--sshd-config', 'MaxSessions 2\nPermitRootLogin yes'], /invalid sshd_config line/],
    [['lab', 'up', '--sshd-config', 'Match User x'], /invalid sshd_config line/],
  ];
  for (const [args, re] of badUsage) {
    it(`rejects '${args.join(' ')}' with exit 2 and changes nothing`, () => {
      const r = myikev2(args, cwd);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /hint: /);
      assert.deepEqual(readdirSync(cwd), []);
    });
  }

  it('removes what it made when interrupted with Ctrl-C (SIGINT)', async () => {
    const child = spawn(process.execPath, [MAIN, 'lab', 'up', '--servers', '4'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const state = join(cwd, '.myikev2-lab', 'lab.json');
    for (let i = 0; i < 2000 && !existsSync(state); i++) await new Promise((r) => setTimeout(r, 2));
    const id = JSON.parse(readFileSync(state, 'utf8')).id as string;
    child.kill('SIGINT');
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, /interrupted/);
    assert.deepEqual(readdirSync(cwd), []);
    assert.ok(!readdirSync('/run/netns').some((n) => n.includes(`-${id}-`)));
    assert.ok(!readdirSync('/sys/class/net').some((n) => n.startsWith(`ml${id}`)));
  });

  it('refuses a second lab in the same directory', () => {
    assert.equal(myikev2(['lab', 'up', '--servers', '1'], cwd).code, 0);
    const second = myikev2(['lab', 'up', '--servers', '1'], cwd);
    assert.equal(second.code, 2);
    assert.match(second.stderr, /already recorded/);
    assert.match(second.stderr, /lab down/);
  });
});
