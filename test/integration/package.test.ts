import { execFile } from 'node:child_process';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { ARCH } from '../helpers/python.js';

const run = promisify(execFile);

/**
 * What npm publishes, installed as a user would (npm install -g into a prefix of its own) and run from
 * a directory outside the checkout. The zstd binding's install script is skipped and its compiled
 * binary copied from the checkout, as prebuild-install would have put a prebuilt one there: compiling
 * it again would add a minute to the suite.
 */
describe('the npm package', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it('holds exactly what runs, installs with npm install -g, and works outside the checkout', async () => {
    // npm's own cache, where the checkout's npm ci left every package's tarball; the sandbox's HOME has none.
    const cache = (await run('npm', ['config', 'get', 'cache'])).stdout.trim();
    const npm = (args: string[], cwd = process.cwd()) =>
      run('npm', args, {
        cwd,
        // npm may reach the registry, through whatever certificate authority this machine adds.
        env: { ...box.env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, npm_config_cache: cache, npm_config_update_notifier: 'false' },
        maxBuffer: 64 << 20,
      });
    // dist is built by npm test before vitest runs; prepack would build it again under a running suite.
    const packed = JSON.parse((await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', box.dir])).stdout) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    const files = packed[0]!.files.map((f) => f.path).sort();
    for (const wanted of [
      'bin/terrarium.cjs',
      'dist/main.cjs',
      'dist/index.cjs',
      'dist/tree-writer-worker.js',
      'dist/supervise.py',
      'dist/exchange.py',
      'dist/terrarium.1',
      'package.json',
      'README.md',
      'LICENSE',
    ])
      expect(files).toContain(wanted);
    expect(files.filter((f) => f.endsWith('.map') || f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);

    const prefix = box.path('prefix');
    await npm(
      // Versions are resolved against the registry (npm ci reads only the lock file, so npm's cache has
      // no package metadata); the tarballs come from the cache.
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', path.join(box.dir, packed[0]!.filename)],
      box.dir,
    );
    const installed = path.join(prefix, 'lib', 'node_modules', 'terrarium-venv');
    cpSync(path.resolve('node_modules/zstd-napi/build'), path.join(installed, 'node_modules', 'zstd-napi', 'build'), { recursive: true });
    expect(existsSync(path.join(prefix, 'share', 'man', 'man1', 'terrarium.1'))).toBe(true);

    const terrarium = (args: string[]) => run(path.join(prefix, 'bin', 'terrarium'), args, { cwd: box.dir, env: box.env });
    expect((await terrarium(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    box.write('requirements.txt', 'terra-dep\n');
    expect((await terrarium(['key', 'requirements.txt'])).stdout).toMatch(new RegExp(`^${ARCH}-3\\.\\d+-[0-9a-f]{32}\\n$`));
    // A build: venv and pip under the shipped supervisor, the shipped bootstrap script, packing and the worker.
    const built = await terrarium(['--storage-dir', box.store, '-t', box.path('env'), 'install', 'requirements.txt']);
    expect(built.stderr).toMatch(/built \S+, published to/);
    expect(existsSync(box.path('env', 'bin', 'terrarium_bootstrap.py'))).toBe(true);
    // A restore elsewhere, through the worker thread that writes the tree.
    const restored = await terrarium(['--storage-dir', box.store, '--no-cache', '-t', box.path('again'), 'install', 'requirements.txt']);
    expect(restored.stderr).toMatch(/restored \S+ from /);
    expect(readdirSync(box.path('again', 'bin'))).toContain('python');
  });
});
