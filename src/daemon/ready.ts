// Readiness on a file descriptor: a starter that holds the other end of a
// pipe learns "ready" or "fail CODE" without polling (ensure-daemon's start).
import { closeSync, writeSync } from 'node:fs';

export function reportReady(fd: number, line: string): void {
  try {
    writeSync(fd, `${line}\n`);
    closeSync(fd);
  } catch {
    /* the starter is gone: nobody to tell */
  }
}
