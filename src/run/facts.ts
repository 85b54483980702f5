// What is on a server before planning: its namespaces and the interfaces in
// its base namespace (with their addresses, so data interfaces can be given
// back as they were). One command; the parsing is pure.
import { MyikeError } from '../errors.js';
import type { ServerFacts } from './plan.js';

export const FACTS_COMMAND = "ip -j netns list 2>/dev/null; echo; echo '@@myikev2@@'; ip -j addr show";

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  operstate?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

export function parseFacts(server: string, stdout: string): Omit<ServerFacts, 'daemonInstances'> {
  const [nsPart, addrPart] = stdout.split('@@myikev2@@');
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
    return { netns: ns.map((n) => n.name), links };
  } catch (err) {
    throw new MyikeError('E_FACTS', `cannot read the network state of the server: ${(err as Error).message}`, {
      server,
      step: 'gather facts',
      hint: 'the server needs iproute2 with JSON output (`ip -j`), as in Debian 10 and later',
      cause: err,
    });
  }
}
