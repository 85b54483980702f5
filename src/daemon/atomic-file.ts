import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

let counter = 0;

/**
 * Replaces a file so that no reader ever sees a partial one (seed 002): write a
 * temp file next to it, fsync, rename over the target, fsync the directory.
 * `durable: false` skips the fsyncs: still atomic for every reader, only not
 * kept through a machine crash.
 */
export function writeFileAtomic(path: string, data: string, mode = 0o600, durable = true): void {
  const tmp = `${path}.tmp-${process.pid}-${counter++}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  if (!durable) return;
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * Reads a JSON file; undefined when it does not exist. A file that does not
 * parse (written by something else: ours are atomic) is kept aside as
 * PATH.corrupt-TIME for a human to look at, and undefined is returned.
 */
export function readJsonFile(path: string, log: (msg: string) => void): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const aside = `${path}.corrupt-${Date.now()}`;
    renameSync(path, aside);
    log(`${path} does not parse (${(e as Error).message}); kept as ${aside}, starting without it`);
    return undefined;
  }
}
