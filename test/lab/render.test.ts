// Pure parts of the lab: names and prefixes from the id, data links, and
// the rendered scripts and configs (golden files; UPDATE_GOLDEN=1 rewrites them).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { MyikeError } from '../../src/errors.js';
import { readControllerConfig } from '../../src/model/config.js';
import { Diagnostics } from '../../src/model/source.js';
import { derivePrefixes, hostLinkNames, parseDataLinks, planLab, randomLabId } from '../../src/lab/plan.js';
import { renderControllerYaml, renderHostBatch, renderKnownHosts, renderServerBatch, renderSshdConfig, serverCommand, serverPaths } from '../../src/lab/render.js';
import { missingTools } from '../../src/lab/sys.js';

const GOLDEN = join(process.cwd(), 'test/lab/golden');

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`golden file ${file} is missing (run with UPDATE_GOLDEN=1 to write it)`);
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
  }
  assert.equal(actual, readFileSync(file, 'utf8'), `differs from golden ${name}`);
}

const usageError = (re: RegExp) => (e: unknown) => e instanceof MyikeError && e.exitCode === 2 && re.test(e.message);

describe('lab plan', () => {
  it('derives the same prefixes from the same id and different ones from different ids', () => {
    assert.deepEqual(derivePrefixes('abc12'), derivePrefixes('abc12'));
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = derivePrefixes(`t${i}`);
      assert.match(p.base6, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/48$/);
      assert.match(p.base4, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.0\/23$/);
      seen.add(p.base6);
    }
    assert.equal(seen.size, 200);
  });

  it('draws random ids of 5 characters starting with a letter', () => {
    const fixed = (n: number) => Buffer.from([0, 1, 2, 35, 36].slice(0, n));
    assert.equal(randomLabId(fixed), 'abc9a');
    for (let i = 0; i < 50; i++) assert.match(randomLabId(), /^[a-z][a-z0-9]{4}$/);
  });

  it('keeps every host-visible interface name within 15 bytes', () => {
    const plan = planLab({ id: 'zzzzz', servers: 99 });
    for (const n of hostLinkNames(plan)) assert.ok(Buffer.byteLength(n) <= 15, n);
    assert.equal(plan.servers[98]!.sshAddr.endsWith('::199'), true);
    assert.equal(plan.servers[98]!.mgmtPrefix.split(':')[3], '99');
  });

  it('uses the given base prefixes', () => {
    const plan = planLab({ id: 'a', servers: 2, prefix6: 'fd12:3456:789a::/48', prefix4: '100.80.12.0/23' });
    assert.equal(plan.servers[1]!.sshAddr, 'fd12:3456:789a::102');
    assert.equal(plan.servers[1]!.sshAddr4, '100.80.12.102');
    assert.equal(plan.servers[1]!.mgmtPrefix, 'fd12:3456:789a:2::/64');
    assert.deepEqual(plan.servers[1]!.dataIfs[0], { name: 'data0', addr4: '100.80.13.2', prefix4: '100.80.13.0/24', addr6: 'fd12:3456:789a:dd::2', prefix6: 'fd12:3456:789a:dd::/64' });
  });

  const bad: Array<[string, Parameters<typeof planLab>[0], RegExp]> = [
    ['an id with capitals', { id: 'Ab', servers: 1 }, /invalid lab id/],
    ['an id of 6 characters', { id: 'abcdef', servers: 1 }, /invalid lab id/],
    ['0 servers', { id: 'a', servers: 0 }, /invalid number of servers/],
    ['100 servers', { id: 'a', servers: 100 }, /invalid number of servers/],
    ['a /64 as IPv6 prefix', { id: 'a', servers: 1, prefix6: 'fd12:3456:789a:1::/64' }, /not a \/48/],
    ['host bits in the IPv6 prefix', { id: 'a', servers: 1, prefix6: 'fd12:3456:789a::1/48' }, /not a \/48/],
    ['an IPv4 address as IPv6 prefix', { id: 'a', servers: 1, prefix6: '10.0.0.0/8' }, /invalid IPv6/],
    ['an odd /23', { id: 'a', servers: 1, prefix4: '100.80.13.0/23' }, /not a \/23/],
    ['a /24', { id: 'a', servers: 1, prefix4: '100.80.12.0/24' }, /not a \/23/],
  ];
  for (const [what, input, re] of bad) {
    it(`rejects ${what} as bad usage`, () => assert.throws(() => planLab(input), usageError(re)));
  }
});

describe('lab data links', () => {
  const names = ['srv1', 'srv2', 'srv3'];
  it('defaults to the shared bridge', () => {
    assert.equal(parseDataLinks(undefined, names), 'bridge');
    assert.equal(parseDataLinks('bridge', names), 'bridge');
  });
  it('parses point-to-point pairs', () => {
    assert.deepEqual(parseDataLinks('srv1-srv2, srv2-srv3', names), [['srv1', 'srv2'], ['srv2', 'srv3']]);
  });
  for (const [spec, re] of [
    ['srv1-srv4', /srv4, which is not in this lab/],
    ['srv1-srv1', /to itself/],
    ['srv1-srv2,srv2-srv1', /given twice/],
    ['srv1:srv2', /invalid data link/],
    ['srv1-srv2,', /invalid data link/],
  ] as const) {
    it(`rejects '${spec}'`, () => assert.throws(() => parseDataLinks(spec, names), usageError(re)));
  }
  it('numbers data interfaces per server and gives each link its own /30 and /64', () => {
    const plan = planLab({ id: 'p2p', servers: 3, data: 'srv1-srv2,srv2-srv3', prefix6: 'fd00:1:2::/48', prefix4: '100.64.10.0/23' });
    assert.equal(plan.dataBridge, undefined);
    assert.deepEqual(plan.servers[1]!.dataIfs.map((d) => [d.name, d.addr4, d.addr6, d.peer]), [
      ['data0', '100.64.11.2', 'fd00:1:2:e00::2', 'srv1'],
      ['data1', '100.64.11.5', 'fd00:1:2:e01::1', 'srv3'],
    ]);
    golden('p2p.host.batch', renderHostBatch(plan));
    golden('p2p.srv2.batch', renderServerBatch(plan.servers[1]!));
  });
});

describe('lab rendering', () => {
  const plan = planLab({ id: 'g1', servers: 2 });
  const dir = '/var/tmp/lab-golden';
  const paths = serverPaths(dir, 'srv1');

  it('renders the base namespace batch', () => golden('bridge.host.batch', renderHostBatch(plan)));
  it('renders a server batch', () => golden('bridge.srv1.batch', renderServerBatch(plan.servers[0]!)));
  it('renders sshd_config', () => {
    const text = renderSshdConfig(plan, plan.servers[0]!, paths, `${dir}/authorized_keys`);
    golden('sshd_config', text);
    // Root by key only, forwarding on: what the controller's transport relies on.
    for (const line of ['PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'AllowStreamLocalForwarding yes', 'AllowTcpForwarding yes', 'UsePAM no']) {
      assert.match(text, new RegExp(`^${line}$`, 'm'));
    }
  });
  it('puts extra sshd_config lines first, so they win', () => {
    const text = renderSshdConfig(plan, plan.servers[0]!, paths, `${dir}/authorized_keys`, ['AllowStreamLocalForwarding no', 'MaxSessions 2']);
    golden('sshd_config.extra', text);
    assert.ok(text.indexOf('AllowStreamLocalForwarding no') < text.indexOf('AllowStreamLocalForwarding yes'));
  });
  it('renders the server start command', () => {
    const argv = serverCommand(plan, plan.servers[0]!, paths);
    golden('srv1.command', `${argv.slice(0, -1).join(' ')} '\n${argv[argv.length - 1]}\n'\n`);
  });
  it('renders known_hosts from the host keys', () => {
    golden('known_hosts', renderKnownHosts(plan, {
      srv1: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM1iwTICRuaF4RGtEU8YfsYkR3ZQJBOX2Tar6z1GyHac srv1.lab-g1\n',
      srv2: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFY7Ugw1bd3Qc5zq7IcQjHAWPMBtrfuACc4BtFFrtDK6 srv2.lab-g1\n',
    }));
  });
  it('renders controller.yaml', () => golden('controller.yaml', renderControllerYaml(plan, `${dir}/id_ed25519`, `${dir}/known_hosts`)));
  it('renders a controller.yaml the product reads without a warning', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'myikev2-labconf-'));
    try {
      const file = join(tmp, 'controller.yaml');
      // The reader checks the key is a private key and the files exist (a key only its owner reads, as ssh-keygen writes it).
      writeFileSync(join(tmp, 'id_ed25519'), ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
      writeFileSync(join(tmp, 'known_hosts'), '', { mode: 0o600 });
      writeFileSync(file, renderControllerYaml(plan, `${tmp}/id_ed25519`, `${tmp}/known_hosts`));
      const diag = new Diagnostics();
      const { config } = readControllerConfig(file, diag);
      assert.deepEqual([...diag.errors, ...diag.warnings].map((e) => (typeof e === 'string' ? e : e.message)), []);
      assert.deepEqual(Object.keys(config!.servers), ['srv1', 'srv2']);
      const srv2 = config!.servers.srv2!;
      assert.equal(srv2.sshaddr, plan.servers[1]!.sshAddr);
      assert.equal(srv2.mgmtaddrprefix, plan.servers[1]!.mgmtPrefix);
      assert.equal(srv2.knownhosts, `${tmp}/known_hosts`);
      assert.equal(srv2.hostkeycheck, 'strict');
      assert.equal(config!.autoassignmgmtip, true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('lab prerequisites', () => {
  it('names the Debian package of each missing tool', () => {
    assert.deepEqual(missingTools(() => true), []);
    assert.deepEqual(missingTools((p) => !p.endsWith('/sshd')).map((t) => t.pkg), ['openssh-server']);
    // node only in a place sshd's PATH does not cover counts as missing
    assert.deepEqual(missingTools((p) => !p.endsWith('/node') || p === '/opt/node/bin/node').map((t) => t.pkg), ['nodejs']);
    assert.deepEqual(missingTools(() => false).map((t) => t.pkg), ['openssh-server', 'openssh-client', 'iproute2', 'util-linux', 'hostname', 'nodejs']);
  });
});
