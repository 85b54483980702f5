// The engine's UDP sockets: one pair (500 and 4500) per own address, since
// every client tunnel has its own address. Port 4500 carries IKE behind a
// 4-byte zero non-ESP marker, NAT keepalives (one 0xFF byte) and ESP (RFC 3948).
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Endpoint } from '../child-sa.js';
import { IKE_PORT, NATT_PORT } from '../ike/types.js';
import { MyikeError } from '../../errors.js';

export interface UdpHandlers {
  ike(data: Buffer, from: Endpoint, to: Endpoint): void;
  esp(data: Buffer, from: Endpoint, to: Endpoint): void;
  error(err: Error, local: Endpoint): void;
}

const MARKER = Buffer.alloc(4);
const KEEPALIVE = Buffer.from([0xff]);

export class UdpIo {
  private readonly sockets = new Map<string, Socket>(); // "addr|port"
  readonly counters = { ikeIn: 0, ikeOut: 0, espIn: 0, espOut: 0, keepalives: 0, keepalivesOut: 0, sendErrors: 0 };

  constructor(private readonly h: UdpHandlers, private readonly ports = { ike: IKE_PORT, natt: NATT_PORT }) {}

  /** Opens the IKE and NAT-T sockets of one own address. */
  async bind(addr: string): Promise<void> {
    await Promise.all([this.open(addr, this.ports.ike), this.open(addr, this.ports.natt)]);
  }

  private open(addr: string, port: number): Promise<void> {
    const k = `${addr}|${port}`;
    if (this.sockets.has(k)) return Promise.resolve();
    // A gateway takes bursts of IKE_SA_INIT from thousands of tunnels: the default
    // 208 KB buffer drops them (each costs a retransmission interval). The kernel
    // caps this at net.core.rmem_max.
    const s = createSocket({ type: isIP(addr) === 6 ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
    const local: Endpoint = { addr, port };
    this.sockets.set(k, s);
    return new Promise((resolve, reject) => {
      s.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new MyikeError('E_BIND', `cannot use ${addr} port ${port}: another program (an engine, charon) has it in this namespace`, {
                cause: err,
                hint: 'stop that program, or give this instance addresses of its own (bindifaddr, startclntaddr)',
              })
            : err.code === 'EADDRNOTAVAIL'
              ? new MyikeError('E_BIND', `cannot use ${addr} port ${port}: no interface of this namespace has that address`, {
                  cause: err,
                  hint: 'with --no-netconf the addresses must be set already (myikev2 run sets them); without it the engine adds them to bindifname',
                })
              : err,
        );
      });
      s.on('message', (msg, rinfo) => this.onMessage(msg, { addr: rinfo.address, port: rinfo.port }, local, port === this.ports.natt));
      s.bind({ address: addr, port, exclusive: true }, () => {
        s.removeAllListeners('error');
        s.on('error', (err) => this.h.error(err, local));
        resolve();
      });
    });
  }

  private onMessage(msg: Buffer, from: Endpoint, to: Endpoint, natt: boolean): void {
    if (!natt) {
      this.counters.ikeIn++;
      return this.h.ike(msg, from, to);
    }
    if (msg.length === 1 && msg[0] === 0xff) {
      this.counters.keepalives++;
      return;
    }
    if (msg.length >= 4 && msg.readUInt32BE(0) === 0) {
      this.counters.ikeIn++;
      return this.h.ike(msg.subarray(4), from, to);
    }
    this.counters.espIn++;
    this.h.esp(msg, from, to);
  }

  private socketFor(from: Endpoint): Socket | undefined {
    return this.sockets.get(`${from.addr}|${from.port}`);
  }

  sendIke(from: Endpoint, to: Endpoint, data: Buffer): void {
    const s = this.socketFor(from);
    if (!s) return void this.counters.sendErrors++;
    this.counters.ikeOut++;
    const out = from.port === this.ports.natt ? [MARKER, data] : [data];
    s.send(out, to.port, to.addr, (err) => err && this.counters.sendErrors++);
  }

  sendKeepalive(from: Endpoint, to: Endpoint): void {
    const s = this.socketFor(from);
    if (!s) return void this.counters.sendErrors++;
    this.counters.keepalivesOut++;
    s.send(KEEPALIVE, to.port, to.addr, (err) => err && this.counters.sendErrors++);
  }

  sendEsp(from: Endpoint, to: Endpoint, data: Buffer): void {
    const s = this.socketFor(from);
    if (!s) return void this.counters.sendErrors++;
    this.counters.espOut++;
    s.send(data, to.port, to.addr, (err) => err && this.counters.sendErrors++);
  }

  isBound(addr: string, port: number): boolean {
    return this.sockets.has(`${addr}|${port}`);
  }

  unbind(addr: string, port: number): void {
    const k = `${addr}|${port}`;
    this.sockets.get(k)?.close();
    this.sockets.delete(k);
  }

  get size(): number {
    return this.sockets.size;
  }

  close(): void {
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}
