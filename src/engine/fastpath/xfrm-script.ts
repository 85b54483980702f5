// Pure generator of the `ip -batch` scripts that put CHILD SAs into the
// kernel (fast path): states (`ip xfrm state`), policies (`ip xfrm policy`)
// and, optionally, one XFRM interface per tunnel with `if_id` = tunnel
// number and marks (seed 003). Rendered from templates/xfrm; golden-tested.
// Run with `ip -n <instance netns> -batch -`.
import { XFRM_TEMPLATES, type XfrmTemplate } from '../../../templates/xfrm/xfrm.js';
import type { ChildSaKeys, EspInteg, TsRange } from '../child-sa.js';
import { addrBytes, addrFamily, bytesToAddr } from '../esp/addr.js';
import { keyLengths } from '../esp/esp-sa.js';

export interface FastPathOptions {
  /** One XFRM interface per tunnel (`<prefix><tunnelId>`, if_id = tunnelId) on this device. */
  xfrmInterface?: { dev: string; prefix?: string };
  /** Mark (lookup key) `tunnelId/0xffffffff` on states and policies, so tunnels with equal selectors stay apart. */
  mark?: boolean;
  /** Output mark (XFRMA_SET_MARK) on states: routes the ESP packets after the transform (seed 003). */
  outputMark?: number;
}

const KERNEL_AUTH: Record<Exclude<EspInteg, 'none'>, [string, number]> = {
  'sha1-96': ['hmac(sha1)', 96],
  'sha256-128': ['hmac(sha256)', 128],
  'sha384-192': ['hmac(sha384)', 192],
  'sha512-256': ['hmac(sha512)', 256],
};

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function fill(name: XfrmTemplate, values: Record<string, string | number>): string {
  return XFRM_TEMPLATES[name].replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in values)) throw new Error(`template ${name}: no value for ${k}`);
    return String(values[k]);
  });
}

/** " keyword value", or "" when value is absent (optional pieces of a line). */
function opt(keyword: string, value: string | number | undefined): string {
  return value === undefined || value === '' ? '' : ` ${keyword} ${value}`;
}

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

function checkAddr(a: string): string {
  addrBytes(a); // throws on anything that is not an address
  return a;
}

/** The smallest list of prefixes covering [start, end] (one TS range). */
export function rangeToPrefixes(start: string, end: string): string[] {
  const s = addrBytes(start);
  const e = addrBytes(end);
  if (s.length !== e.length) throw new Error(`selector ${start}-${end} mixes address families`);
  const bits = s.length * 8;
  let lo = BigInt('0x' + s.toString('hex'));
  const hi = BigInt('0x' + e.toString('hex'));
  if (lo > hi) throw new Error(`selector ${start}-${end} is empty`);
  const out: string[] = [];
  const toAddr = (v: bigint) => bytesToAddr(Buffer.from(v.toString(16).padStart(s.length * 2, '0'), 'hex'), 0, s.length as 4 | 16);
  while (lo <= hi) {
    let size = 0; // host bits of the next block
    while (size < bits && (lo & ((1n << BigInt(size + 1)) - 1n)) === 0n && lo + (1n << BigInt(size + 1)) - 1n <= hi) size++;
    out.push(`${toAddr(lo)}/${bits - size}`);
    lo += 1n << BigInt(size);
  }
  return out;
}

/** Protocol/port part of a policy selector; ip xfrm takes single ports only. */
function selectorProto(local: TsRange, remote: TsRange, dir: 'out' | 'in' | 'fwd'): string {
  if (local.protocol !== remote.protocol && local.protocol !== 0 && remote.protocol !== 0)
    throw new Error(`selectors with protocols ${local.protocol} and ${remote.protocol} never match`);
  const proto = local.protocol || remote.protocol;
  if (!proto) return '';
  const port = (ts: TsRange): number | undefined => {
    if (ts.startPort === 0 && ts.endPort === 65535) return undefined;
    if (ts.startPort === ts.endPort) return ts.startPort;
    throw new Error(`port range ${ts.startPort}-${ts.endPort} cannot be expressed in an ip xfrm selector (single ports only)`);
  };
  const [src, dst] = dir === 'out' ? [local, remote] : [remote, local];
  return ` proto ${proto}${opt('sport', port(src))}${opt('dport', port(dst))}`;
}

function common(keys: ChildSaKeys, o: FastPathOptions) {
  return {
    reqid: keys.reqid,
    mode: keys.tunnelMode ? 'tunnel' : 'transport',
    ifId: o.xfrmInterface ? ` if_id ${keys.tunnelId}` : '',
    mark: o.mark ? ` mark ${keys.tunnelId} mask 0xffffffff` : '',
  };
}

function algorithms(keys: ChildSaKeys, dirKeys: { enc: Buffer; integ: Buffer }): string {
  const [encLen, integLen] = keyLengths(keys.encr, keys.integ);
  if (dirKeys.enc.length !== encLen || dirKeys.integ.length !== integLen) throw new Error(`CHILD SA ${keys.childId}: key lengths do not match its algorithms`);
  if (keys.encr.name === 'aes-gcm16') return `aead rfc4106(gcm(aes)) 0x${dirKeys.enc.toString('hex')} 128`;
  const [auth, trunc] = KERNEL_AUTH[keys.integ as Exclude<EspInteg, 'none'>];
  return `enc cbc(aes) 0x${dirKeys.enc.toString('hex')} auth-trunc ${auth} 0x${dirKeys.integ.toString('hex')} ${trunc}`;
}

/** Both states (out and in) of one CHILD SA. */
export function stateLines(keys: ChildSaKeys, o: FastPathOptions, op: 'add' | 'delete'): string[] {
  const c = common(keys, o);
  const local = checkAddr(keys.local.addr);
  const remote = checkAddr(keys.remote.addr);
  const encapsulated = keys.local.port !== 500 || keys.remote.port !== 500;
  const dirs = [
    { src: local, dst: remote, spi: keys.spiOut, sport: keys.local.port, dport: keys.remote.port, enc: keys.encKeyOut, integ: keys.integKeyOut },
    { src: remote, dst: local, spi: keys.spiIn, sport: keys.remote.port, dport: keys.local.port, enc: keys.encKeyIn, integ: keys.integKeyIn },
  ];
  return dirs.map((d) =>
    op === 'delete'
      ? fill('stateDelete', { src: d.src, dst: d.dst, spi: hex32(d.spi), mark: c.mark })
      : fill('stateAdd', {
          src: d.src,
          dst: d.dst,
          spi: hex32(d.spi),
          reqid: c.reqid,
          mode: c.mode,
          replayWindow: keys.esn ? Math.max(keys.replayWindow, 1) : Math.min(keys.replayWindow, 32),
          flagEsn: keys.esn ? ' flag esn' : '',
          algorithms: algorithms(keys, d),
          encap: encapsulated ? ` encap espinudp ${d.sport} ${d.dport} 0.0.0.0` : '',
          ifId: c.ifId,
          mark: c.mark,
          outputMark: o.outputMark !== undefined ? ` output-mark ${hex32(o.outputMark)}` : '',
        }),
  );
}

/** One policy: `update` adds or replaces it; `id`, its delete line, names it in the kernel (selector, dir, if_id, mark). */
export interface PolicyLine {
  id: string;
  update: string;
}

/** Policies out/in/fwd for every pair of local × remote selectors of one family (tunnel mode), or the host pair (transport). */
export function policies(keys: ChildSaKeys, o: FastPathOptions): PolicyLine[] {
  const c = common(keys, o);
  const local = checkAddr(keys.local.addr);
  const remote = checkAddr(keys.remote.addr);
  const hostTs = (a: string): TsRange => ({ family: addrFamily(a), protocol: 0, startPort: 0, endPort: 65535, startAddr: a, endAddr: a });
  const lts = keys.tunnelMode ? keys.localTs : [hostTs(local)];
  const rts = keys.tunnelMode ? keys.remoteTs : [hostTs(remote)];
  const out: PolicyLine[] = [];
  for (const l of lts)
    for (const r of rts) {
      if (l.family !== r.family) continue;
      for (const lp of rangeToPrefixes(l.startAddr, l.endAddr))
        for (const rp of rangeToPrefixes(r.startAddr, r.endAddr))
          for (const dir of ['out', 'in', 'fwd'] as const) {
            if (dir === 'fwd' && !keys.tunnelMode) continue;
            const [selSrc, selDst, src, dst] = dir === 'out' ? [lp, rp, local, remote] : [rp, lp, remote, local];
            const v = { selSrc, selDst, selProto: selectorProto(l, r, dir), dir, ifId: c.ifId, mark: c.mark, src, dst, reqid: c.reqid, mode: c.mode };
            out.push({ id: fill('policyDelete', v), update: fill('policyUpdate', v) });
          }
    }
  return out;
}

export function policyLines(keys: ChildSaKeys, o: FastPathOptions, op: 'add' | 'delete'): string[] {
  return policies(keys, o).map((p) => (op === 'add' ? p.update : p.id));
}

export function interfaceName(tunnelId: number, o: FastPathOptions): string {
  const name = `${o.xfrmInterface?.prefix ?? 'ipsec'}${tunnelId}`;
  if (!IFNAME.test(name)) throw new Error(`XFRM interface name ${name} is not a valid interface name (at most 15 characters)`);
  return name;
}

/** The tunnel's XFRM interface with routes to the remote selectors (needs o.xfrmInterface). */
export function interfaceLines(keys: ChildSaKeys, o: FastPathOptions, op: 'add' | 'delete'): string[] {
  if (!o.xfrmInterface) return [];
  const ifname = interfaceName(keys.tunnelId, o);
  if (!IFNAME.test(o.xfrmInterface.dev)) throw new Error(`device ${o.xfrmInterface.dev} is not a valid interface name`);
  if (op === 'delete') return [fill('interfaceDelete', { ifname })];
  const routes = keys.remoteTs.flatMap((r) => rangeToPrefixes(r.startAddr, r.endAddr)).map((prefix) => fill('interfaceRoute', { prefix, ifname }));
  return [fill('interfaceAdd', { ifname, dev: o.xfrmInterface.dev, ifIdValue: keys.tunnelId }), fill('interfaceUp', { ifname }), ...routes];
}

/**
 * Script for a new CHILD SA. `firstOfTunnel`: also the tunnel's interface.
 * `add`: the policies to put in (default: all of the SA's with the first SA
 * of its tunnel, none otherwise); a rekey installs only the new states, since
 * policies are bound to the tunnel through reqid (and if_id), not to an SPI.
 */
export function renderInstall(keys: ChildSaKeys, o: FastPathOptions, firstOfTunnel: boolean, add = firstOfTunnel ? policies(keys, o) : []): string {
  const lines = [...(firstOfTunnel ? interfaceLines(keys, o, 'add') : []), ...stateLines(keys, o, 'add'), ...add.map((p) => p.update)];
  return lines.join('\n') + '\n';
}

/** Script removing a CHILD SA; `lastOfTunnel`: also the tunnel's interface; `del`: the policies to delete (default: all with the last SA). */
export function renderRemove(keys: ChildSaKeys, o: FastPathOptions, lastOfTunnel: boolean, del = lastOfTunnel ? policies(keys, o) : []): string {
  const lines = [...del.map((p) => p.id), ...stateLines(keys, o, 'delete'), ...(lastOfTunnel ? interfaceLines(keys, o, 'delete') : [])];
  return lines.join('\n') + '\n';
}
