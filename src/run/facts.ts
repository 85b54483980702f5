// What is on a server before planning: its namespaces, the interfaces in
// its base namespace (with their addresses, so data interfaces can be given
// back as they were), and the host routes on the management bridge (the
// management addresses in use). One command; the parsing is pure.
import { MyikeError } from '../errors.js';
import { MGMT_BRIDGE } from './names.js';
import type { ServerFacts } from './plan.js';

const MARK = '@@myikev2@@';
export const FACTS_COMMAND = `ip -j netns list 2>/dev/null; echo; echo '${MARK}'; ip -j addr show; echo '${MARK}'; ip -j -6 route show dev ${MGMT_BRIDGE} 2>/dev/null; echo`;

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  operstate?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

export function parseFacts(server: string, stdout: string): Omit<ServerFacts, 'daemonInstances'> {
  const [nsPart, addrPart, routePart = ''] = stdout.split(MARK);
  try {
    const ns = nsPart.trim() ? (JSON.parse(nsPart) as { name: string }[]) : [];
    const links: ServerFacts['links'] = {};
    for (const l of JSON.parse(addrPart) as IpAddrJson[]) {
      links[l.ifname] = {
        exists: true,
        up: (l.flags ?? []).includes('UP'),
        addrs: (l.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`),
      };
    }
    const routes = routePart.trim() ? (JSON.parse(routePart) as { dst: string }[]) : [];
    return { netns: ns.map((n) => n.name), links, mgmtRoutes: routes.map((r) => r.dst).filter((d) => !d.includes('/')) };
  } catch (err) {
    throw new MyikeError('E_FACTS', `cannot read the network state of the server: ${(err as Error).message}`, {
      server,
      step: 'gather facts',
      hint: 'the server needs iproute2 with JSON output (`ip -j`), as in Debian 10 and later',
      cause: err,
    });
  }
}
