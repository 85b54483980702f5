// `netns.configure`: runs an `ip -batch` text inside each of many network
// namespaces — through the namespace helper (no process per namespace), or
// with one `ip -n NS -batch` process each where the helper cannot run.
import { spawn } from 'node:child_process';
import type { NsHelper } from './ns-helper.js';
import { ErrorCodes, type NetnsBatch } from './protocol.js';
import { RpcError } from './rpc-error.js';

const IP_PARALLEL = 8;

export async function configureNamespaces(helper: NsHelper | undefined, batches: NetnsBatch[]): Promise<{ configured: number; via: 'helper' | 'ip' }> {
  const errors: string[] = [];
  const useHelper = !!helper && (await helper.available());
  const one = (b: NetnsBatch) =>
    (useHelper ? helper!.configure(b.netns, b.commands) : ipBatch(b)).catch((e: Error) => {
      errors.push(`${b.netns}: ${e.message}`);
    });
  if (useHelper) for (const b of batches) await one(b);
  else {
    const queue = [...batches];
    await Promise.all(Array.from({ length: Math.min(IP_PARALLEL, queue.length) }, async () => {
      for (let b = queue.shift(); b; b = queue.shift()) await one(b);
    }));
  }
  if (errors.length) {
    throw new RpcError(ErrorCodes.NETNS, `${errors.length} of ${batches.length} namespace(s) not configured: ${errors.slice(0, 5).join('; ')}${errors.length > 5 ? '; …' : ''}`);
  }
  return { configured: batches.length, via: useHelper ? 'helper' : 'ip' };
}

function ipBatch(b: NetnsBatch): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['-n', b.netns, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(stderr.trim() || `ip exited with ${code}`))));
    child.stdin.end(b.commands);
  });
}
