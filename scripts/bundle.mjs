// Builds the two one-file bundles, after tsc, from its output:
// - dist/bundle/myikev2-server.mjs, which the controller pushes to servers
//   (daemon, engine and engine CLI), and myikev2-daemon.mjs beside it, the
//   daemon alone (0.12 MB: a daemon starts on ~40 ms less CPU);
// - dist/cli/myikev2.js, the command line (the package's bin), with a chunk
//   for each part a command loads when it needs it (the shell's prompts, the
//   daemon): a few files start faster than the ~200 modules of the compiled
//   tree (0.12 s and 0.2 CPU-s less for every command);
// - dist/cli/ssh2.cjs, ssh2 in one file, which the command line loads when it
//   first needs SSH (src/ssh2-lib.ts): ~60 ms less CPU than ssh2's ~40
//   modules. Its optional native parts (crypto binding, cpu-features) are
//   still loaded from the package, when they were built.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const entry = 'dist/src/cli/server-main.js';
if (!existsSync(entry)) {
  console.log(`bundle: ${entry} not built yet, skipping`);
  process.exit(0);
}
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies inside an ESM bundle need a require().
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
};
mkdirSync('dist/bundle', { recursive: true });
// Without blanks and with shorter syntax (names kept, for stack traces): 0.99 -> 0.65 MB,
// ~10-20 ms less for every daemon and engine start (parsing and decoding the file).
const server = { ...common, external: ['cpu-features', '*.node'], minifyWhitespace: true, minifySyntax: true };
await build({ ...server, entryPoints: [entry], outfile: 'dist/bundle/myikev2-server.mjs' });
// The daemon file names the server bundle it came with, so its hash (the
// daemon's build) changes with the engine too: a daemon of the controller's
// build then means the controller's bundle is on that server (engines and
// `cli` run from it), and no upload check is needed.
const serverSha = createHash('sha256').update(readFileSync('dist/bundle/myikev2-server.mjs')).digest('hex');
const banner = { js: `${common.banner.js}\n// server bundle sha256:${serverSha}` };
await build({ ...server, banner, entryPoints: ['dist/src/cli/daemon-main.js'], outfile: 'dist/bundle/myikev2-daemon.mjs' });
rmSync('dist/cli', { recursive: true, force: true }); // chunks of older builds
await build({ ...common, entryPoints: { myikev2: 'dist/src/cli/main.js' }, outdir: 'dist/cli', splitting: true });
const ssh2Native = {
  name: 'ssh2-native',
  setup(b) {
    // Its binding by package path, so that it is found from dist/cli/ too.
    b.onResolve({ filter: /sshcrypto\.node$/ }, () => ({ path: 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node', external: true }));
  },
};
await build({
  ...common,
  banner: undefined,
  format: 'cjs',
  entryPoints: ['node_modules/ssh2/lib/index.js'],
  outfile: 'dist/cli/ssh2.cjs',
  external: ['cpu-features'],
  plugins: [ssh2Native],
  minifyWhitespace: true,
  minifySyntax: true,
});
// Executable even when npx runs it through an older link of its own cache
// (npm makes a bin executable only when it links it).
chmodSync('dist/cli/myikev2.js', 0o755);
