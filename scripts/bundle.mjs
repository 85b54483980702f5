// Builds the single-file bundle that the controller pushes to servers
// (daemon, engine and engine CLI). Runs after tsc, from its output.
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';

// The CLI is the package's bin: executable even when npx runs it through an
// older link of its own cache (npm makes it executable only when it links it).
if (existsSync('dist/src/cli/main.js')) chmodSync('dist/src/cli/main.js', 0o755);

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
