// The contract between the IKEv2 control plane (src/engine/ike, which
// negotiates CHILD SAs) and the data plane (src/engine/esp and
// src/engine/ping, which moves packets through them). Both sides are pure:
// no sockets here, datagrams in and out through callbacks.

export type EspEncr =
  | { name: 'aes-cbc'; keyBits: 128 | 192 | 256 }
  | { name: 'aes-gcm16'; keyBits: 128 | 192 | 256 }; // key material carries the 4-byte salt after the key

export type EspInteg = 'none' | 'sha1-96' | 'sha256-128' | 'sha384-192' | 'sha512-256';

export interface TsRange {
  family: 4 | 6;
  protocol: number; // 0 = any
  startPort: number;
  endPort: number;
  startAddr: string;
  endAddr: string;
}

export interface Endpoint {
  addr: string;
  port: number; // 4500 when UDP-encapsulated
}

/** Everything the data plane needs to protect and check one CHILD SA pair. */
export interface ChildSaKeys {
  tunnelId: number; // 1-based tunnel number within the engine
  childId: string; // stable id of this CHILD SA (changes on rekey)
  reqid: number; // the kernel's reqid: one per childlist entry of the tunnel (see childReqid), kept across rekeys
  spiIn: number; // SPI we receive with (uint32)
  spiOut: number; // SPI we send with (uint32)
  encr: EspEncr;
  integ: EspInteg; // 'none' for AEAD
  encKeyIn: Buffer; // key for packets we receive (for GCM: key || 4-byte salt)
  encKeyOut: Buffer;
  integKeyIn: Buffer; // empty for AEAD
  integKeyOut: Buffer;
  tunnelMode: boolean;
  esn: boolean;
  replayWindow: number; // 0 disables anti-replay
  local: Endpoint; // our outer address/port
  remote: Endpoint; // peer's outer address/port
  localTs: TsRange[];
  remoteTs: TsRange[];
}

/** A UDP datagram the data plane wants sent (ESP-in-UDP, RFC 3948). */
export interface OutboundDatagram {
  from: Endpoint;
  to: Endpoint;
  payload: Buffer;
}

/**
 * The kernel reqid of a tunnel's CHILD SAs from childlist entry `entry`
 * (0-based): the tunnel's number for the first entry, and a number no other
 * tunnel or entry has for the others. A policy finds its SA by reqid, so
 * entries with different selectors sharing one would send one entry's
 * traffic with another's SA, which the peer drops.
 */
export function childReqid(tunnelId: number, entry: number): number {
  if (entry === 0) return tunnelId;
  if (tunnelId >= 1 << 20 || entry >= 1 << 12) throw new Error(`no kernel reqid for childlist entry ${entry + 1} of tunnel ${tunnelId}: at most 4096 entries and 1048575 tunnels`);
  return ((entry << 20) | tunnelId) >>> 0;
}
