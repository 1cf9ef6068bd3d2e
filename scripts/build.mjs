// npm run build: type-check with tsc, then bundle with esbuild. Start-up is most of what `key` and
// `hash` cost, so the command line is one CommonJS file: Node 20 loads it without starting its ES
// module loader (measured: --version 144 ms as ES module chunks, 128 ms as one CommonJS file; Node
// alone 84 ms). Commands' modules are still evaluated only when they run (esbuild's lazy wrappers).
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
try {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
} catch {
  process.exit(1); // tsc has printed the errors
}
rmSync(dist, { recursive: true, force: true });
const common = {
  absWorkingDir: root,
  outdir: dist,
  // Everything flat in dist: modules find package.json, their Python scripts and the worker from there.
  entryNames: '[name]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  // The native zstd binding and the AWS SDK are loaded on first use, from node_modules.
  external: ['zstd-napi', '@aws-sdk/*'],
  sourcemap: 'linked',
  logLevel: 'warning',
};
await build({
  ...common,
  // The command line, the library API (an ES module importing it gets named exports) and the GitHub Action's steps.
  entryPoints: ['src/cli/main.ts', 'src/index.ts', 'src/action/github-action.ts'],
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // The sources are ES modules that locate files next to themselves.
  define: { 'import.meta.url': '__terrariumModuleUrl' },
  banner: { js: "const __terrariumModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
await build({
  ...common,
  // A worker thread of installs: an ES module, as in src (tests run it from there).
  entryPoints: ['src/archive/tree-writer-worker.js'],
  format: 'esm',
});
for (const file of readdirSync(path.join(root, 'src', 'python'))) {
  if (file.endsWith('.py')) cpSync(path.join(root, 'src', 'python', file), path.join(dist, file));
}
// terrarium(1), from the command line's own tables.
writeFileSync(path.join(dist, 'terrarium.1'), createRequire(import.meta.url)(path.join(dist, 'main.cjs')).manPage());
