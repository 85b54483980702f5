// Files holding secrets (an SSH password, a private key, the daemon's TCP
// token) must not be readable by other users. No imports beyond fs: the
// daemon's own small bundle uses it too.
import { statSync } from 'node:fs';

/** True when a file can be read by group or others (false when it cannot be stat'ed). */
export function isReadableByOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o044) !== 0;
  } catch {
    return false;
  }
}
