// ssh2, loaded on first use: commands that reach no server over SSH (the
// local default, validate of a config without a key) never load it. The
// command line's bundle brings ssh2 as one file of its own (ssh2.cjs beside
// it, ~60 ms less CPU to load than ssh2's ~40 modules); the compiled tree
// (tests) uses the package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

let lib: typeof import('ssh2') | undefined;

export function ssh2(): typeof import('ssh2') {
  if (!lib) {
    const bundled = new URL('./ssh2.cjs', import.meta.url);
    lib = createRequire(import.meta.url)(existsSync(bundled) ? bundled.pathname : 'ssh2') as typeof import('ssh2');
  }
  return lib;
}
