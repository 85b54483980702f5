// Shared fixtures for data-plane tests: a matching pair of ChildSaKeys
// (what the control plane would hand to each side) and a ping config.
import { createHash } from 'node:crypto';
import type { ChildSaKeys, EspEncr, EspInteg, TsRange } from '../../../src/engine/child-sa.js';
import { keyLengths } from '../../../src/engine/esp/esp-sa.js';
import { addToAddr } from '../../../src/engine/esp/addr.js';
import type { PingConf } from '../../../src/model/setup-types.js';

function material(label: string, len: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; out.length * 32 < len; i++) out.push(createHash('sha256').update(`${label}/${i}`).digest());
  return Buffer.concat(out).subarray(0, len);
}

export function v4ts(start: string, end = start): TsRange {
  return { family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: start, endAddr: end };
}
export function v6ts(start: string, end = start): TsRange {
  return { family: 6, protocol: 0, startPort: 0, endPort: 65535, startAddr: start, endAddr: end };
}

export interface PairOptions {
  tunnelId?: number;
  childId?: string;
  reqid?: number; // default the tunnel number
  spi?: number; // client's inbound SPI; the gateway's is spi + 1
  encr?: EspEncr;
  integ?: EspInteg;
  tunnelMode?: boolean;
  esn?: boolean;
  replayWindow?: number;
  clientTs?: TsRange[];
  gatewayTs?: TsRange[];
  clientOuter?: string;
  gatewayOuter?: string;
}

/** Keys for both ends of one CHILD SA: [client side, gateway side]. */
export function keyPair(o: PairOptions = {}): [ChildSaKeys, ChildSaKeys] {
  const encr = o.encr ?? { name: 'aes-gcm16', keyBits: 128 };
  const integ = o.integ ?? (encr.name === 'aes-gcm16' ? 'none' : 'sha256-128');
  const [encLen, integLen] = keyLengths(encr, integ);
  const id = o.childId ?? `c${o.tunnelId ?? 1}`;
  const spi = o.spi ?? 0xc0000000 + (o.tunnelId ?? 1) * 2;
  const ei = material(`${id}/ei`, encLen);
  const er = material(`${id}/er`, encLen);
  const ai = material(`${id}/ai`, integLen);
  const ar = material(`${id}/ar`, integLen);
  const clientTs = o.clientTs ?? [v4ts(addToAddr('10.1.0.0', o.tunnelId ?? 1))];
  const gatewayTs = o.gatewayTs ?? [v4ts('10.2.0.0', '10.2.255.255')];
  const client = { addr: o.clientOuter ?? '192.0.2.1', port: 4500 };
  const gateway = { addr: o.gatewayOuter ?? '192.0.2.2', port: 4500 };
  const common = {
    tunnelId: o.tunnelId ?? 1,
    childId: id,
    reqid: o.reqid ?? o.tunnelId ?? 1,
    encr,
    integ,
    tunnelMode: o.tunnelMode ?? true,
    esn: o.esn ?? false,
    replayWindow: o.replayWindow ?? 64,
  };
  return [
    { ...common, spiIn: spi, spiOut: spi + 1, encKeyIn: er, encKeyOut: ei, integKeyIn: ar, integKeyOut: ai, local: client, remote: gateway, localTs: clientTs, remoteTs: gatewayTs },
    { ...common, spiIn: spi + 1, spiOut: spi, encKeyIn: ei, encKeyOut: er, integKeyIn: ai, integKeyOut: ar, local: gateway, remote: client, localTs: gatewayTs, remoteTs: clientTs },
  ];
}

export function pingConf(over: Partial<PingConf> = {}): PingConf {
  return { destaddr: '10.2.0.1', deststep: 1, srcaddr: '', srcstep: 1, autoaddr: false, intervalMs: 1000, pktlen: 64, maxlossrate: 10, holdtimeMs: 0, ...over };
}

export const ALL_SUITES: { encr: EspEncr; integ: EspInteg }[] = [
  { encr: { name: 'aes-gcm16', keyBits: 128 }, integ: 'none' },
  { encr: { name: 'aes-gcm16', keyBits: 192 }, integ: 'none' },
  { encr: { name: 'aes-gcm16', keyBits: 256 }, integ: 'none' },
  ...([128, 192, 256] as const).flatMap((keyBits) =>
    (['sha1-96', 'sha256-128', 'sha384-192', 'sha512-256'] as const).map((integ) => ({ encr: { name: 'aes-cbc' as const, keyBits }, integ })),
  ),
];
