import assert from 'node:assert/strict';
import { factsCommand, parseFacts, routeArgs } from '../../src/run/facts.js';

// What `ip` prints on a server (iproute2 6.1), as factsCommand asks for it.
const ADDRS = JSON.stringify([
  {
    ifname: 'data0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    addr_info: [
      { family: 'inet', local: '100.87.83.1', prefixlen: 24, scope: 'global', label: 'data0', broadcast: '100.87.83.255' },
      { family: 'inet', local: '100.87.83.78', prefixlen: 32, scope: 'global', label: 'data0:y' },
      { family: 'inet', local: '10.0.0.1', address: '10.0.0.2', prefixlen: 32, scope: 'global', label: 'data0' },
      { family: 'inet6', local: 'fd77::1', prefixlen: 64, scope: 'global', nodad: true, noprefixroute: true },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
    ],
  },
  { ifname: 'data1', flags: ['BROADCAST', 'MULTICAST'], addr_info: [] },
]);
const ROUTES4 = [
  '10.98.0.0/16 table 100 scope link metric 5 ',
  '10.99.0.0/16 via 100.87.83.2 linkdown ',
  '100.87.83.0/24 proto kernel scope link src 100.87.83.1 ',
  'local 100.87.83.1 table local proto kernel scope host src 100.87.83.1 ',
  'broadcast 100.87.83.255 table local proto kernel scope link src 100.87.83.1 ',
].join('\n');
const ROUTES6 = [
  'fd99::/48 via fd77::2 metric 1024 pref medium',
  'fd77::/64 proto kernel metric 256 pref medium',
  'default via fe80::9 proto ra metric 1024 expires 1788sec hoplimit 64 pref medium',
  'default via fe80::1 metric 2000 pref medium',
  'anycast fd77:: table local proto kernel metric 0 pref medium',
  'multicast ff00::/8 table local proto kernel metric 256 pref medium',
].join('\n');

const stdout = [
  '[]',
  '@@myikev2@@',
  ADDRS,
  '@@myikev2@@',
  '[]',
  '@@myikev2-routes@@ 4 data0',
  ROUTES4,
  '@@myikev2-routes@@ 6 data0',
  ROUTES6,
  '@@myikev2-routes@@ 4 data1',
  '@@myikev2-routes@@ 6 data1',
  '',
].join('\n');

describe('run/facts', () => {
  it('asks for the routes through the data interfaces only, each family apart', () => {
    const cmd = factsCommand(['data0']);
    assert.match(cmd, /ip -o -4 route show table all dev data0/);
    assert.match(cmd, /ip -o -6 route show table all dev data0/);
    assert.doesNotMatch(factsCommand([]), /route show table all/, 'a run without data interfaces reads no routing table');
  });

  it('keeps what teardown needs to give a data interface back as it was: its MTU, address options, and the routes through it that are not the kernel\'s', () => {
    const f = parseFacts('srv1', stdout);
    assert.deepEqual(f.links.data0, {
      exists: true,
      up: true,
      mtu: 1500,
      addrs: ['100.87.83.1/24 brd 100.87.83.255', '100.87.83.78/32 label data0:y', '10.0.0.1 peer 10.0.0.2/32', 'fd77::1/64 nodad noprefixroute'],
      routes: ['10.98.0.0/16 table 100 scope link metric 5', '10.99.0.0/16 via 100.87.83.2', 'fd99::/48 via fd77::2 metric 1024 pref medium', '::/0 via fe80::1 metric 2000 pref medium'],
    });
    assert.deepEqual(f.links.data1, { exists: true, up: false, addrs: [] }, 'no routes: none recorded');
  });

  it('knows the server\'s address of the SSH connection (SSH_CONNECTION), none on the local machine', () => {
    assert.match(factsCommand([]), /SSH_CONNECTION/);
    assert.equal(parseFacts('srv1', `@@myikev2-ssh@@ fd00::1 50312 fd00::102 22\n${stdout}`).sshAddr, 'fd00::102');
    assert.equal(parseFacts('local', `@@myikev2-ssh@@ \n${stdout}`).sshAddr, undefined);
    assert.deepEqual(parseFacts('srv1', `@@myikev2-ssh@@ 10.0.0.9 5 10.0.0.1 22\n${stdout}`).links, parseFacts('srv1', stdout).links);
  });

  it('reads facts printed without routes (no data interface) as before', () => {
    const f = parseFacts('srv1', ['[]', '@@myikev2@@', ADDRS, '@@myikev2@@', '[{"dst":"2001:db8::1:1"}]', ''].join('\n'));
    assert.deepEqual(f.mgmtRoutes, ['2001:db8::1:1']);
    assert.equal(f.links.data0.routes, undefined);
  });

  it('an IPv6 default route is written ::/0 (in an ip batch `default` is IPv4)', () => {
    assert.equal(routeArgs('default via fe80::1 metric 1024 pref medium', 6), '::/0 via fe80::1 metric 1024 pref medium');
    assert.equal(routeArgs('default via 10.0.0.1', 4), 'default via 10.0.0.1');
    assert.equal(routeArgs('default proto static metric 100 \tnexthop via 10.0.0.1 weight 1 \tnexthop via 10.0.1.1 weight 1', 4), null, 'multipath: not ours alone to give back');
  });
});
