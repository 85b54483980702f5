// Builds the single-file bundle that the controller pushes to servers
// (daemon, engine and engine CLI). Runs after tsc, from its output.
import { build } from 'esbuild';
import { existsSync, mkdirSync } from 'node:fs';

const entry = 'dist/src/cli/server-main.js';
if (!existsSync(entry)) {
  console.log(`bundle: ${entry} not built yet, skipping`);
  process.exit(0);
}
mkdirSync('dist/bundle', { recursive: true });
await build({
  entryPoints: [entry],
  outfile: 'dist/bundle/myikev2-server.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies inside an ESM bundle need a require().
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  external: ['cpu-features', '*.node'],
  logLevel: 'warning',
});
