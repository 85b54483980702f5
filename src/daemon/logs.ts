import { closeSync, copyFileSync, openSync, readSync, statSync, truncateSync } from 'node:fs';

import type { InstanceInfo, LogStream } from './protocol.js';

const BLOCK = 64 * 1024;
const MAX_TAIL_BYTES = 8 * 1024 * 1024;

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/**
 * An instance's log files and what each holds: one `output` file with both
 * streams in the order written, or (an instance started by an older daemon)
 * `stdout` and `stderr` apart. want: the streams asked for.
 */
export function logFiles(inst: Pick<InstanceInfo, 'stdoutPath' | 'stderrPath'>, want: 'stdout' | 'stderr' | 'both' = 'both'): { stream: LogStream; path: string }[] {
  if (inst.stdoutPath === inst.stderrPath) return [{ stream: 'output', path: inst.stdoutPath }];
  const files = [
    { stream: 'stdout' as const, path: inst.stdoutPath },
    { stream: 'stderr' as const, path: inst.stderrPath },
  ];
  return files.filter((f) => want === 'both' || f.stream === want);
}

/** Last n lines of a file (a missing file has none). */
export function tailLines(path: string, n: number): string[] {
  if (n <= 0) return [];
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = statSync(path).size;
    let start = size;
    let text = '';
    while (start > 0 && size - start < MAX_TAIL_BYTES) {
      const len = Math.min(BLOCK, start);
      start -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, start);
      text = buf.toString('utf8') + text;
      if (text.split('\n').length > n + 1) break;
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Keeps a log file under maxBytes: copies it to PATH.prev and truncates it.
 * The writer holds it open with O_APPEND, so it continues at the new end;
 * renaming would leave it writing into the .prev file.
 */
export function rotateIfOver(path: string, maxBytes: number): boolean {
  if (sizeOf(path) <= maxBytes) return false;
  copyFileSync(path, `${path}.prev`);
  truncateSync(path, 0);
  return true;
}

/** Reads what was appended since the last call (restarts from 0 after a rotation). */
export class LogFollower {
  private offset: number;

  constructor(private readonly path: string) {
    this.offset = Math.max(0, sizeOf(path));
  }

  poll(): string {
    const size = sizeOf(this.path);
    if (size < 0) return '';
    if (size < this.offset) this.offset = 0;
    if (size === this.offset) return '';
    const len = Math.min(size - this.offset, MAX_TAIL_BYTES);
    const buf = Buffer.alloc(len);
    const fd = openSync(this.path, 'r');
    try {
      const got = readSync(fd, buf, 0, len, this.offset);
      this.offset += got;
      return buf.subarray(0, got).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }
}
