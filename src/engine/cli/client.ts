// A client of the engine API (docs/engine-api.md): connects to the Unix
// socket or TCP address, waits for the hello, sends requests and routes
// responses by id and events to a listener.
import { connect, type Socket } from 'node:net';
import { LineSplitter, encodeLine } from '../../daemon/lines.js';
import { MyikeError, EXIT_USAGE } from '../../errors.js';

export type EngineTarget = { socket: string } | { addr: string; port: number };

export interface Hello {
  versions: number[];
  features: string[];
  pid: number;
  role: string;
  desc?: string;
}

export class EngineApiError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class EngineClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  onEvent: (e: Record<string, unknown>) => void = () => undefined;
  onClose: () => void = () => undefined;

  private constructor(private readonly sock: Socket, readonly hello: Hello) {}

  static connect(target: EngineTarget, timeoutMs = 5000): Promise<EngineClient> {
    const where = 'socket' in target ? target.socket : `${target.addr.includes(':') ? `[${target.addr}]` : target.addr}:${target.port}`;
    return new Promise((resolve, reject) => {
      const sock = 'socket' in target ? connect(target.socket) : connect({ host: target.addr, port: target.port });
      let client: EngineClient | undefined;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new MyikeError('E_ENGINE_CONNECT', `no hello from the engine at ${where} within ${timeoutMs} ms`, { hint: 'is it a myikev2 engine API? check the address/port' }));
      }, timeoutMs);
      const splitter = new LineSplitter(
        (msg) => {
          if (!client) {
            if (msg.type !== 'hello') return;
            clearTimeout(timer);
            client = new EngineClient(sock, msg as unknown as Hello);
            resolve(client);
            return;
          }
          client.dispatch(msg);
        },
        () => undefined,
        () => sock.destroy(),
      );
      sock.on('data', (d) => splitter.push(d));
      sock.on('error', (err) => {
        clearTimeout(timer);
        if (!client)
          reject(new MyikeError('E_ENGINE_CONNECT', `cannot reach the engine at ${where}: ${err.message}`, {
            hint: 'is `myikev2 exec` running? give --socket RUN_DIR/api.sock or --addr/--port of its API',
            exitCode: EXIT_USAGE,
          }));
      });
      sock.on('close', () => {
        clearTimeout(timer);
        if (!client) return;
        for (const w of client.waiting.values()) w.reject(new EngineApiError('E_CLOSED', 'the engine closed the connection'));
        client.waiting.clear();
        client.onClose();
      });
    });
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (msg.type === 'event') return this.onEvent(msg);
    if (msg.type !== 'response' || typeof msg.id !== 'number') return;
    const w = this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id);
    const err = msg.error as { code: string; message: string } | undefined;
    if (err) w.reject(new EngineApiError(err.code, err.message));
    else w.resolve(msg.result);
  }

  request<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(encodeLine({ id, method, params }));
    });
  }

  close(): void {
    this.sock.end();
  }
}
