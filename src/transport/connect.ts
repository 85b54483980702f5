// From a server's config to a connected Transport; many servers in parallel.
import { MyikeError } from '../errors.js';
import type { ServerConf } from '../model/config-types.js';
import { LocalTransport } from './local.js';
import { SshTransport, type SshOptions } from './ssh.js';
import type { Transport } from './transport.js';

export async function connectServer(conf: ServerConf, opts: SshOptions = {}): Promise<Transport> {
  if (conf.connection === 'local') return new LocalTransport(conf.name);
  const t = new SshTransport(conf, opts);
  await t.connect();
  return t;
}

/**
 * One transport per server, connected on first use and shared afterwards.
 * `connectAll` connects in parallel and reports every server that failed,
 * not only the first.
 */
export class ConnectionPool {
  private readonly transports = new Map<string, Promise<Transport>>();

  constructor(
    private readonly servers: Record<string, ServerConf>,
    private readonly opts: SshOptions = {},
  ) {}

  get(name: string): Promise<Transport> {
    let t = this.transports.get(name);
    if (!t) {
      const conf = this.servers[name];
      if (!conf) {
        return Promise.reject(
          new MyikeError('E_NO_SERVER', `no server named ${name} in the controller config`, {
            hint: `known servers: ${Object.keys(this.servers).join(', ') || '(none)'}`,
            exitCode: 2,
          }),
        );
      }
      t = connectServer(conf, this.opts);
      // A failed connect is not cached: the next get() tries again.
      t.catch(() => this.transports.get(name) === t && this.transports.delete(name));
      this.transports.set(name, t);
    }
    return t;
  }

  async connectAll(names: string[] = Object.keys(this.servers)): Promise<Map<string, Transport>> {
    const results = await Promise.allSettled(names.map((n) => this.get(n)));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1) {
      const lines = failed.map((e) => (e instanceof MyikeError ? e.describe() : e.message));
      throw new MyikeError('E_CONNECT', `${failed.length} of ${names.length} servers unreachable:\n${lines.join('\n')}`, {
        hint: 'fix the servers listed above (each line says what to do)',
      });
    }
    return new Map(names.map((n, i) => [n, (results[i] as PromiseFulfilledResult<Transport>).value]));
  }

  async closeAll(): Promise<void> {
    const all = [...this.transports.values()];
    this.transports.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
  }
}
