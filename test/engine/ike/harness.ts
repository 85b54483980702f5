// Two engines wired together through an in-memory network with a fake clock.
import { randomBytes } from 'node:crypto';
import { IkeEngine, type EngineOptions } from '../../../src/engine/ike/engine.js';
import type { IkeHost, IkePolicy, SaEvent } from '../../../src/engine/ike/types.js';
import type { ChildSaKeys, Endpoint } from '../../../src/engine/child-sa.js';
import { IdType } from '../../../src/engine/ike/constants.js';

export interface Node {
  engine: IkeEngine;
  up: Map<string, ChildSaKeys>;
  events: SaEvent[];
  logs: string[];
  /** NAT keepalives it sent, with the time. */
  keepalives: { from: Endpoint; to: Endpoint; at: number }[];
}

export class Net {
  now = 1_000_000;
  queue: { to: Node; from: Endpoint; dst: Endpoint; data: Buffer }[] = [];
  nodes = new Map<string, Node>();
  /** Drop datagrams for which this returns true. */
  drop: (data: Buffer, from: Endpoint, to: Endpoint) => boolean = () => false;
  /** Rewrites datagrams in flight (e.g. to play a NAT). */
  sent = 0;

  add(addr: string, opts: EngineOptions = {}): Node {
    const node: Node = { engine: undefined as unknown as IkeEngine, up: new Map(), events: [], logs: [], keepalives: [] };
    const host: IkeHost = {
      now: () => this.now,
      random: (n) => randomBytes(n),
      send: (from, to, data) => {
        this.sent++;
        if (this.drop(data, from, to)) return;
        const dst = this.nodes.get(to.addr);
        if (dst) this.queue.push({ to: dst, from, dst: to, data });
      },
      keepalive: (from, to) => void node.keepalives.push({ from, to, at: this.now }),
      childUp: (k) => void node.up.set(k.childId, k),
      childDown: (id) => void node.up.delete(id),
      event: (e) => void node.events.push(e),
      log: (level, msg) => void node.logs.push(`${level} ${msg}`),
    };
    node.engine = new IkeEngine(host, opts);
    this.nodes.set(addr, node);
    return node;
  }

  /** Delivers queued datagrams until the network is quiet (bounded). */
  run(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps && this.queue.length; i++) {
      const m = this.queue.shift()!;
      m.to.engine.receive(m.data, m.from, m.dst);
    }
  }

  /** Advances the clock in steps, ticking every engine and delivering traffic. */
  advance(ms: number, step = 500): void {
    for (let t = 0; t < ms; t += step) {
      this.now += step;
      for (const n of this.nodes.values()) n.engine.tick(this.now);
      this.run();
    }
  }
}

export function policy(over: Partial<IkePolicy> & { tunnelId?: number } = {}, child: Partial<IkePolicy['child']> = {}): IkePolicy {
  return {
    tunnelId: 1,
    ike: { encr: ['aes-cbc:128'], integ: ['sha256'], prf: ['sha256'], dh: [14] },
    psk: Buffer.from('test-psk-not-secret'),
    localId: { type: IdType.FQDN, data: Buffer.from('client.test') },
    retransmitMs: 2000,
    maxRetransmit: 3,
    dpdMs: 0,
    ikeLifetimeMs: 0,
    marginMs: 60_000,
    jitter: false,
    initialContact: true,
    forceEncap: true,
    natt: true,
    ...over,
    child: {
      encr: ['aes-cbc:128'],
      integ: ['sha256'],
      pfsGroups: [],
      esn: false,
      tunnelMode: true,
      lifetimeMs: 0,
      replayWindow: 64,
      localTs: [{ family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: '10.1.0.1', endAddr: '10.1.0.1' }],
      remoteTs: [{ family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: '10.2.0.0', endAddr: '10.2.255.255' }],
      ...child,
    },
  };
}

export function gatewayPolicy(over: Partial<IkePolicy> = {}, child: Partial<IkePolicy['child']> = {}): IkePolicy {
  return policy(
    { localId: { type: IdType.FQDN, data: Buffer.from('gw.test') }, initialContact: false, tunnelId: 0, ...over },
    {
      localTs: [{ family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: '0.0.0.0', endAddr: '255.255.255.255' }],
      remoteTs: [{ family: 4, protocol: 0, startPort: 0, endPort: 65535, startAddr: '0.0.0.0', endAddr: '255.255.255.255' }],
      ...child,
    },
  );
}

export const CLIENT: Endpoint = { addr: '192.0.2.1', port: 500 };
export const GW: Endpoint = { addr: '192.0.2.254', port: 500 };
