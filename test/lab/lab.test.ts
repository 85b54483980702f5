// Integration tests of the lab: real namespaces, real sshd, plain OpenSSH client.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { labDown, labStatus, labUp, type Lab } from '../../src/lab/index.js';
import { isAlive, nsOf, processesIn } from '../../src/lab/proc.js';
import { readState } from '../../src/lab/state.js';
import { sshArgs, sshRun, useLab } from '../support/lab.js';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

/** What of this machine a lab could touch, as comparable lines. */
function snapshot(): Record<string, string[]> {
  const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean).sort();
  return {
    netns: lines(sh('ip', ['netns', 'list'])).map((l) => l.split(' ')[0]!),
    links: lines(sh('ip', ['-o', 'link', 'show'])).map((l) => l.split(':')[1]!.trim().split('@')[0]!),
    routes6: lines(sh('ip', ['-6', 'route', 'show'])),
    routes4: lines(sh('ip', ['-4', 'route', 'show'])),
  };
}

/** Entries present after but not before that carry one of the lab's marks. */
function labDiff(before: Record<string, string[]>, after: Record<string, string[]>, marks: string[]): string[] {
  const out: string[] = [];
  for (const k of Object.keys(before)) {
    const old = new Set(before[k]);
    for (const line of after[k]!) if (!old.has(line) && marks.some((m) => line.includes(m))) out.push(`${k}: ${line}`);
  }
  return out;
}

describe('lab @integration', function () {
  this.timeout(60_000);

  describe('a lab of 3 servers', () => {
    const env = useLab({ servers: 3 });

    it('answers plain ssh with strict host-key checking on every server', async () => {
      const results = await Promise.all(env.lab.servers.map((s) => sshRun(env.lab, s, 'hostname; ip netns list; echo ok')));
      results.forEach((r, i) => {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.split('\n')[0], env.lab.servers[i]!.name);
        assert.match(r.stdout, /^ok$/m);
      });
    });

    it('gives every server its own host key (a known_hosts with srv2 key for srv1 is refused)', () => {
      const [srv1, srv2] = env.lab.servers as [Lab['servers'][0], Lab['servers'][0]];
      const lines = readFileSync(env.lab.knownHostsPath, 'utf8').trim().split('\n');
      const key2 = lines.find((l) => l.startsWith(`${srv2.sshAddr},`))!.split(' ').slice(1).join(' ');
      const wrong = join(env.lab.dir, `wrong_known_hosts.${process.pid}`);
      writeFileSync(wrong, `${srv1.sshAddr} ${key2}\n`);
      try {
        const r = spawnSync('ssh', ['-i', env.lab.keyPath, '-o', `UserKnownHostsFile=${wrong}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${srv1.sshAddr}`, 'true'], { encoding: 'utf8', timeout: 20_000 });
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /Host key verification failed/);
      } finally {
        rmSync(wrong, { force: true });
      }
    });

    it('keeps a namespace created in srv1 out of srv2 and the host', async () => {
      const [srv1, srv2] = env.lab.servers as [Lab['servers'][0], Lab['servers'][0]];
      const name = `inner${process.pid}`;
      const add = await sshRun(env.lab, srv1, `ip netns add ${name} && ip netns list`);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, new RegExp(`^${name}\\b`, 'm'));
      const other = await sshRun(env.lab, srv2, 'ip netns list');
      assert.equal(other.code, 0, other.stderr);
      assert.doesNotMatch(other.stdout, new RegExp(name));
      assert.doesNotMatch(sh('ip', ['netns', 'list']), new RegExp(name));
      assert.ok(!existsSync(`/run/netns/${name}`));
    });

    it('gives each server a private /run and an empty /root', async () => {
      const [srv1, srv2] = env.lab.servers as [Lab['servers'][0], Lab['servers'][0]];
      const w = await sshRun(env.lab, srv1, 'echo srv1 > /run/marker && ls -A /root');
      assert.equal(w.code, 0, w.stderr);
      assert.equal(w.stdout.trim(), '');
      const r = await sshRun(env.lab, srv2, 'cat /run/marker 2>&1 || echo absent');
      assert.match(r.stdout, /absent/);
      assert.ok(!existsSync('/run/marker'));
    });

    it('lets a process in srv1 reach srv2 over data0 (IPv4 and IPv6)', async () => {
      const [srv1, srv2] = env.lab.servers as [Lab['servers'][0], Lab['servers'][0]];
      // node in srv1 opens TCP to srv2's sshd on srv2's data addresses; the route must be data0.
      const probe = (addr: string) =>
        `ip -o route get ${addr} && node -e "const s=require('net').connect(22,'${addr}');` +
        `s.on('data',d=>{console.log(String(d).split('\\r')[0]);process.exit(0)});s.on('error',e=>{console.log(e.message);process.exit(1)});` +
        `setTimeout(()=>process.exit(2),3000)"`;
      for (const addr of [srv2.dataAddr4, srv2.dataAddr6]) {
        const r = await sshRun(env.lab, srv1, probe(addr));
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, / dev data0 /);
        assert.match(r.stdout, /^SSH-2\.0-/m);
      }
    });

    it('routes each server mgmtaddrprefix from the base namespace and forwards inside the server only', async () => {
      const routes = sh('ip', ['-6', 'route', 'show']);
      for (const s of env.lab.servers) assert.match(routes, new RegExp(`^${s.mgmtPrefix.replace('/', '\\/')} via ${s.sshAddr} `, 'm'));
      const f = await sshRun(env.lab, env.lab.servers[0]!, 'cat /proc/sys/net/ipv6/conf/all/forwarding');
      assert.equal(f.stdout.trim(), '1');
    });

    it('keeps a server reachable after its management link went down and up again (an outage to test)', async () => {
      const srv = env.lab.servers[2]!;
      sh('ip', ['-n', srv.netns, 'link', 'set', 'mgmt0', 'down']);
      sh('ip', ['-n', srv.netns, 'link', 'set', 'mgmt0', 'up']);
      const r = await sshRun(env.lab, srv, 'hostname');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), srv.name);
    });

    it('writes a controller.yaml naming every server with its key and known_hosts', () => {
      const text = readFileSync(env.lab.controllerConfigPath, 'utf8');
      for (const s of env.lab.servers) {
        assert.match(text, new RegExp(`sshaddr: ${s.sshAddr}$`, 'm'));
        assert.match(text, new RegExp(`mgmtaddrprefix: ${s.mgmtPrefix}$`, 'm'));
      }
      assert.match(text, new RegExp(`sshkeypath: ${env.lab.keyPath}$`, 'm'));
      assert.match(text, new RegExp(`knownhosts: ${env.lab.knownHostsPath}$`, 'm'));
    });

    it('lets the base namespace reach an instance on myikev2mgmtbrg inside srv1 through mgmtaddrprefix', async () => {
      const srv1 = env.lab.servers[0]!;
      const p = srv1.mgmtPrefix.replace(/::\/64$/, '');
      const [gw, inst] = [`${p}::1`, `${p}::10`];
      // What the product does for an instance, by hand: a bridge in the server, a namespace on it.
      const r = await sshRun(env.lab, srv1, [
        `ip link add myikev2mgmtbrg type bridge && ip link set myikev2mgmtbrg up && ip addr add ${gw}/64 dev myikev2mgmtbrg nodad`,
        'ip netns add inst && ip link add m0 type veth peer name eth0 netns inst && ip link set m0 master myikev2mgmtbrg up',
        `ip -n inst link set lo up && ip -n inst link set eth0 up && ip -n inst addr add ${inst}/64 dev eth0 nodad && ip -n inst route add default via ${gw}`,
        `(setsid ip netns exec inst node -e "require('net').createServer(s=>s.end('hello from inst')).listen(7000,'${inst}')" </dev/null >/dev/null 2>&1 &)`,
      ].join(' && '));
      assert.equal(r.code, 0, r.stderr);
      let got = '';
      for (let i = 0; i < 100 && !got; i++) {
        got = await new Promise<string>((resolve) => {
          const sock = connect({ host: inst, port: 7000 });
          let buf = '';
          sock.on('data', (d) => (buf += d));
          sock.on('end', () => resolve(buf));
          sock.on('error', () => setTimeout(() => resolve(''), 50));
        });
      }
      assert.equal(got, 'hello from inst');
    });

    it('reports every server answering in status', async () => {
      const st = await labStatus({ dir: env.lab.dir });
      assert.equal(st.healthy, true);
      assert.deepEqual(st.servers.map((s) => [s.name, s.answers, s.running]), env.lab.servers.map((s) => [s.name, true, true]));
    });
  });

  describe('two labs at once, one with point-to-point data links', () => {
    const bridged = useLab({ servers: 2 });
    const p2p = useLab({ servers: 3, data: 'srv1-srv2,srv2-srv3' });

    it('gives the labs distinct names and prefixes', () => {
      const [a, b] = [bridged.lab, p2p.lab];
      assert.notEqual(a.id, b.id);
      assert.notEqual(a.mgmtBridge, b.mgmtBridge);
      assert.notEqual(a.servers[0]!.netns, b.servers[0]!.netns);
      assert.notEqual(a.servers[0]!.sshAddr, b.servers[0]!.sshAddr);
      assert.equal(b.dataBridge, undefined);
    });

    it('connects only the listed pairs', async () => {
      const [srv1, srv2, srv3] = p2p.lab.servers as [Lab['servers'][0], Lab['servers'][0], Lab['servers'][0]];
      assert.deepEqual(srv2.dataIfs.map((d) => [d.name, d.peer]), [['data0', 'srv1'], ['data1', 'srv3']]);
      const toSrv2 = srv2.dataIfs[0]!.addr4;
      const toSrv3 = srv3.dataIfs[0]!.addr4;
      const r = await sshRun(p2p.lab, srv1, `ip -o route get ${toSrv2}; ` +
        `node -e "const s=require('net').connect(22,'${toSrv2}');s.on('data',d=>{console.log(String(d).split('\\r')[0]);process.exit(0)});setTimeout(()=>process.exit(2),3000)"; ` +
        `ip route get ${toSrv3} 2>&1 || true`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${toSrv2.replace(/\./g, '\\.')} dev data0 `, 'm'));
      assert.match(r.stdout, /^SSH-2\.0-/m);
      assert.match(r.stdout, /Network is unreachable/);
    });

    it('keeps the servers of one lab out of the other', async () => {
      const r = await sshRun(bridged.lab, bridged.lab.servers[0]!, `ip -o addr show | grep -c ${p2p.lab.servers[0]!.sshAddr} || true`);
      assert.equal(r.stdout.trim(), '0');
    });
  });

  describe('a lab with extra sshd_config lines', () => {
    const env = useLab({ servers: 1, sshdConfig: ['AllowTcpForwarding no'] });
    it('runs sshd with them (TCP forwarding refused)', async () => {
      const srv1 = env.lab.servers[0]!;
      const r = spawnSync('ssh', [...sshArgs(env.lab, srv1).slice(0, -1), '-W', `[${srv1.sshAddr}]:22`, `root@${srv1.sshAddr}`], { encoding: 'utf8', input: '', timeout: 20_000 });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /administratively prohibited/);
    });
  });

  describe('lab down', () => {
    let tmp: string;
    beforeEach(() => {
      tmp = mkdtempSync(join(tmpdir(), 'myikev2-labdown-'));
    });
    afterEach(async () => {
      // Safety net for a failing test: never leave a lab behind.
      const dir = join(tmp, 'lab');
      if (existsSync(join(dir, 'lab.json'))) await labDown({ dir });
      rmSync(tmp, { recursive: true, force: true });
    });

    it('leaves the machine as before, even with instances still running inside the servers', async () => {
      const before = snapshot();
      const filesBefore = readdirSync(tmp);
      const lab = await labUp({ servers: 2, dir: join(tmp, 'lab') });
      const state = readState(lab.dir)!;
      const [srv1] = lab.servers as [Lab['servers'][0]];
      // An "instance": a nested namespace with a long-running process in it, detached.
      const r = await sshRun(lab, srv1, 'ip netns add inst1 && ip link add v0 type veth peer name v1 netns inst1 && ' +
        '(setsid ip netns exec inst1 sleep 600 </dev/null >/dev/null 2>&1 &) ; sleep 0.2; pgrep -c sleep');
      assert.equal(r.code, 0, r.stderr);
      const ns = {
        net: new Set(lab.servers.map((s) => nsOf(state.runtime[s.name]!.sshdPid!, 'net')!)),
        mnt: new Set<number>(),
        pid: new Set(lab.servers.map((s) => state.runtime[s.name]!.pidNs!)),
      };
      const labPids = processesIn(ns);
      assert.ok(labPids.length >= 3, `expected sshd and the sleeper, got ${labPids}`);
      const during = snapshot();
      assert.ok(during.netns.includes(srv1.netns));

      const down = await labDown({ dir: lab.dir });
      assert.deepEqual(down.leftovers, []);
      const after = snapshot();
      assert.deepEqual(labDiff(before, after, [lab.id, lab.hostAddr6.replace(/::1$/, '')]), []);
      for (const k of ['netns', 'links'] as const) {
        for (const item of during[k].filter((x) => !before[k].includes(x))) {
          if (item.includes(lab.id)) assert.ok(!after[k].includes(item), `${k} ${item} left`);
        }
      }
      assert.deepEqual(labPids.filter(isAlive), []);
      assert.deepEqual(readdirSync(tmp), filesBefore);
    });

    it('cleans up after an up that failed half way', async () => {
      const before = snapshot();
      const dir = join(tmp, 'lab');
      await assert.rejects(
        labUp({
          servers: 2,
          dir,
          keepOnFailure: true,
          faultHook: (stage) => {
            if (stage === 'servers-started') throw new Error('injected failure');
          },
        }),
        /injected failure/,
      );
      const state = readState(dir)!;
      assert.equal(state.phase, 'failed');
      assert.ok(existsSync(`/run/netns/${state.plan.servers[0]!.netns}`), 'the half-made lab should still be there');
      const down = await labDown({ dir });
      assert.deepEqual(down.leftovers, []);
      assert.deepEqual(labDiff(before, snapshot(), [state.id]), []);
      assert.ok(!existsSync(dir));
    });

    it('reports a crashed server in status and still cleans up', async () => {
      const lab = await labUp({ servers: 2, dir: join(tmp, 'lab') });
      const sshd = readState(lab.dir)!.runtime.srv2!.sshdPid!;
      process.kill(sshd, 'SIGKILL');
      for (let i = 0; i < 100 && isAlive(sshd); i++) await new Promise((r) => setTimeout(r, 10));
      const st = await labStatus({ dir: lab.dir });
      assert.equal(st.healthy, false);
      assert.deepEqual(st.servers.map((s) => [s.name, s.running, s.answers]), [['srv1', true, true], ['srv2', false, false]]);
      const down = await labDown({ dir: lab.dir });
      assert.deepEqual(down.leftovers, []);
      assert.ok(!existsSync(lab.dir));
    });

    it('finds a lab by its id when its directory is lost', async () => {
      const before = snapshot();
      const lab = await labUp({ servers: 2, dir: join(tmp, 'lab') });
      rmSync(lab.dir, { recursive: true, force: true });
      await assert.rejects(labDown({ dir: lab.dir }), /no lab recorded/);
      const down = await labDown({ dir: lab.dir, id: lab.id });
      assert.deepEqual(down.leftovers, []);
      assert.ok(down.removed.includes(`namespace ${lab.servers[1]!.netns}`));
      assert.deepEqual(labDiff(before, snapshot(), [lab.id]), []);
    });

    it('stops and removes what it made when aborted', async () => {
      const before = snapshot();
      const dir = join(tmp, 'lab');
      const ac = new AbortController();
      let id = '';
      await assert.rejects(
        labUp({ servers: 2, dir, signal: ac.signal, faultHook: (stage) => {
          if (stage === 'network') {
            id = readState(dir)!.id;
            ac.abort();
          }
        } }),
        /interrupted/,
      );
      assert.deepEqual(labDiff(before, snapshot(), [id]), []);
      assert.ok(!existsSync(dir));
    });

    it('rolls back by itself when up fails and keepOnFailure is off', async () => {
      const before = snapshot();
      const dir = join(tmp, 'lab');
      let id = '';
      await assert.rejects(
        labUp({
          servers: 1,
          dir,
          faultHook: (stage) => {
            if (stage === 'network') {
              id = readState(dir)!.id;
              throw new Error('injected failure');
            }
          },
        }),
        /injected failure/,
      );
      assert.ok(id);
      assert.deepEqual(labDiff(before, snapshot(), [id]), []);
      assert.ok(!existsSync(dir));
    });
  });
});
