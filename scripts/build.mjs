// npm run build: type-check with tsc, then bundle with esbuild. One bundle (plus a chunk per command,
// loaded when it runs) starts about 50 ms faster than ~60 ES modules resolved one by one by Node 20,
// and start-up is most of what `key` and `hash` cost.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
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
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts', 'src/index.ts', 'src/archive/tree-writer-worker.js'],
  outdir: dist,
  // Everything flat in dist: modules find their Python scripts and the worker beside themselves.
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The native zstd binding and the AWS SDK are loaded on first use, from node_modules.
  external: ['zstd-napi', '@aws-sdk/*'],
  // Bundled CommonJS (commander) calls require for Node's own modules.
  banner: { js: "import { createRequire as __terrariumRequire } from 'node:module'; const require = __terrariumRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
for (const file of readdirSync(path.join(root, 'src', 'python'))) {
  if (file.endsWith('.py')) cpSync(path.join(root, 'src', 'python', file), path.join(dist, file));
}
