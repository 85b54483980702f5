// Pure planning of a lab: every host-visible name and every address derives
// from the lab id (or user-given base prefixes), so several labs coexist on
// one machine and `lab down` can find everything from the id alone.
import { createHash, randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { EXIT_USAGE, MyikeError } from '../errors.js';

export const MAX_SERVERS = 99;
export const MAX_P2P_LINKS = 64; // /30s in the data /24
export const SSH_PORT = 22;
export const DAEMON_PORT = 12240;
const ID_RE = /^[a-z0-9]{1,5}$/;

export interface PlannedIf {
  name: string; // inside the server: data0, data1, ...
  addr4: string; // without length
  prefix4: string; // network/len
  addr6: string;
  prefix6: string;
  peer?: string; // point-to-point: the server at the other end
}

export interface PlannedServer {
  name: string; // srv1
  index: number; // 1-based
  netns: string; // host-visible netns name
  hostMgmtVeth: string; // host end of the management veth (on the mgmt bridge)
  hostDataVeth?: string; // host end of data0 (on the data bridge), bridge mode only
  mgmtIf: string; // inside the server
  sshAddr: string; // IPv6 lab management address
  sshAddr4: string;
  mgmtPrefix: string; // the server's mgmtaddrprefix (IPv6 /64), routed from the base namespace
  dataIfs: PlannedIf[];
}

export interface PlannedLink {
  a: string;
  b: string;
  aIf: string;
  bIf: string;
}

export interface LabPlan {
  id: string;
  mgmtBridge: string;
  dataBridge?: string; // absent with point-to-point data links
  hostAddr6: string; // base namespace on the mgmt bridge
  hostAddr4: string;
  mgmtNet6: string; // lab management /64
  mgmtNet4: string; // lab management /24
  base6: string; // the lab /48
  base4: string; // the lab /23
  servers: PlannedServer[];
  links: PlannedLink[]; // point-to-point data links (empty in bridge mode)
}

export interface PlanInput {
  id: string;
  servers: number;
  data?: string; // 'bridge' (default) or 'srv1-srv2,srv2-srv3'
  prefix6?: string; // a /48, default derived from the id
  prefix4?: string; // a /23, default derived from the id
}

function usage(message: string, hint: string): MyikeError {
  return new MyikeError('E_LAB_USAGE', message, { hint, exitCode: EXIT_USAGE });
}

/** A random lab id: 5 lowercase letters/digits, starting with a letter. */
export function randomLabId(rand: (n: number) => Buffer = randomBytes): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const alnum = letters + '0123456789';
  const b = rand(5);
  let id = letters[b[0]! % letters.length]!;
  for (let i = 1; i < 5; i++) id += alnum[b[i]! % alnum.length]!;
  return id;
}

export function checkLabId(id: string): void {
  if (!ID_RE.test(id)) {
    throw usage(`invalid lab id '${id}'`, 'use 1 to 5 lowercase letters or digits, e.g. --id lab1');
  }
}

/** Base prefixes derived from the id: fdXX:XXXX:XXXX::/48 and 100.64.0.0/10 space /23. */
export function derivePrefixes(id: string): { base6: string; base4: string } {
  const h = createHash('sha256').update(`myikev2-lab:${id}`).digest();
  const hex = (i: number) => ((h[i]! << 8) | h[i + 1]!).toString(16);
  const base6 = `fd${h[0]!.toString(16).padStart(2, '0')}:${hex(1)}:${hex(3)}::/48`;
  const base4 = `100.${64 + (h[5]! % 64)}.${h[6]! & 0xfe}.0/23`;
  return { base6, base4 };
}

function parseBase6(cidr: string): string[] {
  let addr: ipaddr.IPv6;
  let len: number;
  try {
    const [a, l] = ipaddr.parseCIDR(cidr);
    if (a.kind() !== 'ipv6') throw new Error('not IPv6');
    addr = a as ipaddr.IPv6;
    len = l;
  } catch {
    throw usage(`invalid IPv6 lab prefix '${cidr}'`, 'give a /48, e.g. --prefix6 fd12:3456:789a::/48');
  }
  const parts = addr.parts;
  if (len !== 48 || parts.slice(3).some((p) => p !== 0)) {
    throw usage(`IPv6 lab prefix '${cidr}' is not a /48 network`, 'give a /48 with zero host bits, e.g. fd12:3456:789a::/48');
  }
  return parts.slice(0, 3).map((p) => p.toString(16));
}

function parseBase4(cidr: string): number[] {
  let octets: number[];
  let len: number;
  try {
    const [a, l] = ipaddr.parseCIDR(cidr);
    if (a.kind() !== 'ipv4') throw new Error('not IPv4');
    octets = (a as ipaddr.IPv4).octets;
    len = l;
  } catch {
    throw usage(`invalid IPv4 lab prefix '${cidr}'`, 'give a /23, e.g. --prefix4 100.80.12.0/23');
  }
  if (len !== 23 || octets[3] !== 0 || (octets[2]! & 1) !== 0) {
    throw usage(`IPv4 lab prefix '${cidr}' is not a /23 network`, 'give a /23 with zero host bits, e.g. 100.80.12.0/23');
  }
  return octets;
}

/** Parses `--data`: 'bridge' or a comma list of 'srvA-srvB' point-to-point links. */
export function parseDataLinks(spec: string | undefined, serverNames: string[]): Array<[string, string]> | 'bridge' {
  if (spec === undefined || spec.trim() === '' || spec.trim() === 'bridge') return 'bridge';
  const seen = new Set<string>();
  const links: Array<[string, string]> = [];
  for (const item of spec.split(',').map((s) => s.trim())) {
    const m = /^(srv\d+)-(srv\d+)$/.exec(item);
    if (!m) throw usage(`invalid data link '${item}'`, "write links as srvA-srvB separated by commas, e.g. --data srv1-srv2,srv2-srv3 (or --data bridge)");
    const [, a, b] = m as unknown as [string, string, string];
    for (const s of [a, b]) {
      if (!serverNames.includes(s)) throw usage(`data link '${item}' names ${s}, which is not in this lab`, `servers are ${serverNames[0]}..${serverNames[serverNames.length - 1]}; raise --servers or fix --data`);
    }
    if (a === b) throw usage(`data link '${item}' connects a server to itself`, 'connect two different servers');
    const key = [a, b].sort().join('-');
    if (seen.has(key)) throw usage(`data link '${item}' is given twice`, 'list each pair of servers once');
    seen.add(key);
    links.push([a, b]);
  }
  if (links.length > MAX_P2P_LINKS) throw usage(`too many data links (${links.length})`, `use at most ${MAX_P2P_LINKS}`);
  return links;
}

export function planLab(input: PlanInput): LabPlan {
  checkLabId(input.id);
  if (!Number.isInteger(input.servers) || input.servers < 1 || input.servers > MAX_SERVERS) {
    throw usage(`invalid number of servers '${input.servers}'`, `use --servers between 1 and ${MAX_SERVERS}`);
  }
  const derived = derivePrefixes(input.id);
  const p6 = parseBase6(input.prefix6 ?? derived.base6).join(':');
  const o4 = parseBase4(input.prefix4 ?? derived.base4);
  const id = input.id;
  const net4 = (third: number, last: number) => `${o4[0]}.${o4[1]}.${third}.${last}`;
  const mgmt3 = o4[2]!;
  const data3 = o4[2]! + 1;
  const names = Array.from({ length: input.servers }, (_, i) => `srv${i + 1}`);
  const data = parseDataLinks(input.data, names);

  const servers: PlannedServer[] = names.map((name, i) => {
    const n = i + 1;
    return {
      name,
      index: n,
      netns: `mlab-${id}-${name}`,
      hostMgmtVeth: `ml${id}m${n}`,
      hostDataVeth: data === 'bridge' ? `ml${id}d${n}` : undefined,
      mgmtIf: 'mgmt0',
      // Decimal digits read as a hex group: srv1 -> ::101, srv12 -> ::112.
      sshAddr: `${p6}::${100 + n}`,
      sshAddr4: net4(mgmt3, 100 + n),
      mgmtPrefix: `${p6}:${n}::/64`,
      dataIfs:
        data === 'bridge'
          ? [{ name: 'data0', addr4: net4(data3, n), prefix4: `${net4(data3, 0)}/24`, addr6: `${p6}:dd::${n}`, prefix6: `${p6}:dd::/64` }]
          : [],
    };
  });

  const links: PlannedLink[] = [];
  if (data !== 'bridge') {
    const byName = new Map(servers.map((s) => [s.name, s]));
    data.forEach(([a, b], k) => {
      const sa = byName.get(a)!;
      const sb = byName.get(b)!;
      const net6 = `${p6}:${(0xe00 + k).toString(16)}::`;
      const aIf = `data${sa.dataIfs.length}`;
      const bIf = `data${sb.dataIfs.length}`;
      sa.dataIfs.push({ name: aIf, addr4: net4(data3, 4 * k + 1), prefix4: `${net4(data3, 4 * k)}/30`, addr6: `${net6}1`, prefix6: `${net6}/64`, peer: b });
      sb.dataIfs.push({ name: bIf, addr4: net4(data3, 4 * k + 2), prefix4: `${net4(data3, 4 * k)}/30`, addr6: `${net6}2`, prefix6: `${net6}/64`, peer: a });
      links.push({ a, b, aIf, bIf });
    });
  }

  return {
    id,
    mgmtBridge: `ml${id}mgmt`,
    dataBridge: data === 'bridge' ? `ml${id}data` : undefined,
    hostAddr6: `${p6}::1`,
    hostAddr4: net4(mgmt3, 1),
    mgmtNet6: `${p6}::/64`,
    mgmtNet4: `${net4(mgmt3, 0)}/24`,
    base6: `${p6}::/48`,
    base4: `${net4(mgmt3, 0)}/23`,
    servers,
    links,
  };
}

/** Every host-visible interface name of the plan (for teardown and leftover checks). */
export function hostLinkNames(plan: LabPlan): string[] {
  const names = [plan.mgmtBridge];
  if (plan.dataBridge) names.push(plan.dataBridge);
  for (const s of plan.servers) {
    names.push(s.hostMgmtVeth);
    if (s.hostDataVeth) names.push(s.hostDataVeth);
  }
  return names;
}
