// What is on a server before planning: its namespaces, the interfaces in
// its base namespace (with their addresses, so data interfaces can be given
// back as they were), and the host routes on the management bridge (the
// management addresses in use). One command; the parsing is pure.
import { MyikeError } from '../errors.js';
import { shq } from '../transport/transport.js';
import { MGMT_BRIDGE } from './names.js';
import type { ServerFacts } from './plan.js';

const MARK = '@@myikev2@@';
const ROUTES_MARK = '@@myikev2-routes@@';
const SSH_MARK = '@@myikev2-ssh@@';

/**
 * The command that prints the facts; with the routes through each of
 * `dataIfs` (interfaces the run may take: the kernel drops their routes when
 * they leave, so teardown puts these back).
 */
export function factsCommand(dataIfs: string[] = []): string {
  const routes = dataIfs.flatMap((d) => [4, 6].map((f) => `echo '${ROUTES_MARK} ${f} ${d}'; ip -o -${f} route show table all dev ${shq(d)} 2>/dev/null`));
  // SSH_CONNECTION (client address and port, server address and port): the address the controller reaches the server by.
  return [`echo "${SSH_MARK} \${SSH_CONNECTION:-}"; ip -j netns list 2>/dev/null; echo; echo '${MARK}'; ip -j addr show; echo '${MARK}'; ip -j -6 route show dev ${MGMT_BRIDGE} 2>/dev/null; echo`, ...routes].join('; ');
}

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  mtu?: number;
  operstate?: string;
  addr_info?: AddrInfo[];
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  address?: string; // the peer of a point-to-point address
  broadcast?: string;
  label?: string;
  nodad?: boolean;
  noprefixroute?: boolean;
  home?: boolean;
  mngtmpaddr?: boolean;
  autojoin?: boolean;
}

/** An address as `ip addr add` takes it back: ADDR/LEN (or ADDR peer PEER/LEN) and the options it had. */
function addrArgs(a: AddrInfo, ifname: string): string {
  const peer = a.address && a.address !== a.local;
  return [
    peer ? `${a.local} peer ${a.address}/${a.prefixlen}` : `${a.local}/${a.prefixlen}`,
    ...(a.broadcast ? [`brd ${a.broadcast}`] : []),
    ...(a.label && a.label !== ifname ? [`label ${a.label}`] : []),
    ...(['nodad', 'noprefixroute', 'home', 'mngtmpaddr', 'autojoin'] as const).filter((f) => a[f]),
  ].join(' ');
}

/** Kinds of routes the kernel makes by itself (with an address, a link, a router advertisement): not put back. */
const KERNEL_ROUTE = /^(local|broadcast|anycast|multicast) |\bproto (kernel|ra)\b/;

/** A route line of `ip -o route show dev X` as `ip route replace … dev X` takes it back; null for the kernel's own. */
export function routeArgs(line: string, family: 4 | 6): string | null {
  const l = line.trim();
  if (!l || KERNEL_ROUTE.test(l) || l.includes('nexthop')) return null;
  const words = l
    .replace(/\bexpires \S+/, '')
    .split(/\s+/)
    .filter((w) => w && !['linkdown', 'dead', 'offload', 'trap', 'rt_offload', 'rt_trap', 'offload_failed', 'rt_offload_failed'].includes(w));
  // In a batch the family comes from the prefix: `default` would be IPv4.
  if (words[0] === 'default' && family === 6) words[0] = '::/0';
  return words.join(' ');
}

function parseRoutes(part: string): Record<string, string[]> {
  const routes: Record<string, string[]> = {};
  for (const section of part.split(`${ROUTES_MARK} `).slice(1)) {
    const [head, ...lines] = section.split('\n');
    const [family, dev] = head.trim().split(' ');
    routes[dev] = [...(routes[dev] ?? []), ...lines.flatMap((l) => routeArgs(l, family === '6' ? 6 : 4) ?? [])];
  }
  return routes;
}

export function parseFacts(server: string, stdout: string): Omit<ServerFacts, 'daemonInstances'> {
  let sshAddr: string | undefined;
  if (stdout.startsWith(SSH_MARK)) {
    const nl = stdout.indexOf('\n');
    sshAddr = stdout.slice(SSH_MARK.length, nl).trim().split(/\s+/)[2] || undefined;
    stdout = stdout.slice(nl + 1);
  }
  const [nsPart, addrPart, rest = ''] = stdout.split(MARK);
  const at = rest.indexOf(ROUTES_MARK);
  const [routePart, dataIfRoutes] = at < 0 ? [rest, {}] : [rest.slice(0, at), parseRoutes(rest.slice(at))];
  try {
    const ns = nsPart.trim() ? (JSON.parse(nsPart) as { name: string }[]) : [];
    const links: ServerFacts['links'] = {};
    for (const l of JSON.parse(addrPart) as IpAddrJson[]) {
      const routes = dataIfRoutes[l.ifname];
      links[l.ifname] = {
        exists: true,
        up: (l.flags ?? []).includes('UP'),
        ...(l.mtu ? { mtu: l.mtu } : {}),
        addrs: (l.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => addrArgs(a, l.ifname)),
        ...(routes?.length ? { routes } : {}),
      };
    }
    const routes = routePart.trim() ? (JSON.parse(routePart) as { dst: string }[]) : [];
    return { netns: ns.map((n) => n.name), links, mgmtRoutes: routes.map((r) => r.dst).filter((d) => !d.includes('/')), ...(sshAddr ? { sshAddr } : {}) };
  } catch (err) {
    throw new MyikeError('E_FACTS', `cannot read the network state of the server: ${(err as Error).message}`, {
      server,
      step: 'gather facts',
      hint: 'the server needs iproute2 with JSON output (`ip -j`), as in Debian 10 and later',
      cause: err,
    });
  }
}
