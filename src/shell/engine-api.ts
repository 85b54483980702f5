// One request to an engine's API (docs/engine-api.md) over a stream the
// transport opened to its Unix socket on the server: wait for the hello,
// send, read the answer, close.
import type { Duplex } from 'node:stream';
import { LineSplitter } from '../daemon/lines.js';
import { MyikeError } from '../errors.js';
import type { EngineStats } from './format.js';

export async function engineRequest<T>(stream: Duplex, method: string, params: Record<string, unknown> = {}, timeoutMs = 5000): Promise<T> {
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${method} within ${timeoutMs} ms`)), timeoutMs);
      let greeted = false;
      const splitter = new LineSplitter(
        (msg) => {
          if (!greeted) {
            if (msg.type !== 'hello') return;
            greeted = true;
            stream.write(JSON.stringify({ id: 1, method, params }) + '\n');
            return;
          }
          if (msg.type !== 'response' || msg.id !== 1) return;
          clearTimeout(timer);
          const err = msg.error as { code: string; message: string } | undefined;
          if (err) reject(new MyikeError(err.code, `engine: ${err.message}`));
          else resolve(msg.result as T);
        },
        () => undefined,
        () => reject(new Error('answer too long')),
      );
      stream.on('data', (d: Buffer) => splitter.push(d));
      stream.on('error', (e) => reject(e));
      stream.on('close', () => reject(new Error('the engine closed the connection')));
    });
  } finally {
    stream.destroy();
  }
}

interface SummaryLike {
  tunnels?: { configured?: number; live?: number };
  ping?: { enabled?: boolean; total?: { sent?: number; received?: number; lossPct?: number } };
}

/** The figures `list` shows, from an engine's `summary`. */
export function statsFromSummary(s: SummaryLike): EngineStats {
  const total = s.ping?.total;
  return {
    tunnelsLive: s.tunnels?.live ?? 0,
    tunnelsConfigured: s.tunnels?.configured ?? 0,
    pingEnabled: !!s.ping && s.ping.enabled !== false,
    pingSent: total?.sent ?? 0,
    pingReceived: total?.received ?? 0,
    lossPct: total?.lossPct ?? 0,
  };
}
