// The engine API server: newline-delimited JSON (same framing as the daemon,
// docs/engine-api.md) on a Unix socket in the run directory and on
// apilistenaddr:apilistenport. The server sends `hello` first; requests carry
// an id that the response echoes; unknown fields are ignored.
import { createServer, type Server, type Socket } from 'node:net';
import { chmod, rm } from 'node:fs/promises';
import { LineSplitter, encodeLine } from '../../daemon/lines.js';
import { ApiError, API_VERSION, getMethod, methodNames, type ApiConnection, type Params } from './registry.js';
import type { EngineRuntime } from '../program/runtime.js';
import './methods/index.js';

export class ApiServer {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private subscriptionCounter = 0;

  constructor(private readonly rt: EngineRuntime) {}

  async listenUnix(path: string): Promise<void> {
    await rm(path, { force: true });
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o600);
    this.servers.push(server);
  }

  async listenTcp(addr: string, port: number): Promise<void> {
    const listen = (host: string) => {
      const server = createServer((s) => this.accept(s));
      return new Promise<Server>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => resolve(server));
      });
    };
    // "Any address" (the default 0.0.0.0) includes the instance's IPv6 management
    // address: listen on both families, or on IPv4 alone where IPv6 is off.
    const server = addr === '0.0.0.0' ? await listen('::').catch(() => listen(addr)) : await listen(addr);
    this.servers.push(server);
  }

  private accept(sock: Socket): void {
    this.sockets.add(sock);
    const closers: (() => void)[] = [];
    const write = (msg: Record<string, unknown>) => {
      if (!sock.destroyed) sock.write(encodeLine(msg));
    };
    const conn: ApiConnection = {
      push: write,
      onClose: (fn) => closers.push(fn),
      nextSubscriptionId: () => ++this.subscriptionCounter,
    };
    const splitter = new LineSplitter(
      (msg) => void this.handle(msg, conn, write),
      (_line, err) => write({ type: 'response', id: null, error: { code: 'E_PARSE', message: `not a JSON object: ${err.message}` } }),
      () => {
        write({ type: 'response', id: null, error: { code: 'E_PARSE', message: 'line too long' } });
        sock.end();
      },
    );
    sock.on('data', (d) => splitter.push(d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.sockets.delete(sock);
      for (const fn of closers) fn();
    });
    write({ type: 'hello', versions: [API_VERSION], features: methodNames(), pid: process.pid, startedAt: new Date(this.rt.startedAt).toISOString(), role: this.rt.setup.role, desc: this.rt.setup.desc });
  }

  private async handle(msg: Record<string, unknown>, conn: ApiConnection, write: (m: Record<string, unknown>) => void): Promise<void> {
    const id = (typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null) as number | string | null;
    try {
      if (typeof msg.method !== 'string') throw new ApiError('E_BAD_REQUEST', 'a request needs "method" (a string)');
      if (msg.params !== undefined && (typeof msg.params !== 'object' || msg.params === null || Array.isArray(msg.params)))
        throw new ApiError('E_BAD_REQUEST', '"params" must be an object');
      const method = getMethod(msg.method);
      if (!method) throw new ApiError('E_UNKNOWN_METHOD', `no method "${msg.method}" (the hello message lists them in "features")`);
      const result = await method.handler((msg.params ?? {}) as Params, { rt: this.rt, conn });
      write({ type: 'response', id, result: result ?? {} });
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('E_INTERNAL', (err as Error).message);
      write({ type: 'response', id, error: { code: e.code, message: e.message } });
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.end();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of this.sockets) s.destroy();
  }
}
