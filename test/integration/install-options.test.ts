import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { ARCH } from '../helpers/python.js';

/** Options and failures of install; one archive is built up front and shared. */
describe('install options and failures', () => {
  const box = new Sandbox();
  const main = box.path('main');
  // These tests are about the store: without the cache, every hit unpacks its archive (link mode has its own tests).
  const store = (...args: string[]) => ['--storage-dir', box.store, '--no-cache', ...args];

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    box.write('missing.txt', 'terra-does-not-exist==9.9\n');
    // One archive file, which the damaged-archive case damages.
    await box.seed('demo', box.store, 1);
    const first = await box.terrarium(store('-t', main, 'install', 'requirements.txt'));
    expect(first.code).toBe(0);
    writeFileSync(path.join(main, 'marker'), 'still here');
  });
  afterAll(() => box.cleanup());

  const leftovers = () => readdirSync(box.dir).filter((name) => name.includes('.staging-') || name.includes('.trash-'));

  it('exists exits 0 once the archive is stored; TERRARIUM_STORAGE_DIR names the store too', async () => {
    expect((await box.terrarium(store('exists', 'requirements.txt'))).code).toBe(0);
    expect((await box.terrarium(['exists', 'requirements.txt'], { TERRARIUM_STORAGE_DIR: box.store })).code).toBe(0);
  });

  it('-q prints nothing on success; -V names the store lookup', async () => {
    const quiet = await box.terrarium(store('-q', '-t', box.path('quiet'), 'install', 'requirements.txt'));
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const verbose = await box.terrarium(store('-V', '-t', box.path('verbose'), 'install', 'requirements.txt'));
    expect(verbose.stderr).toContain(`${box.shown(box.store)}: found ${ARCH}-`);
  });

  it('--require-download fails without building when nothing is stored, names the nearest stored environment, and touches nothing', async () => {
    box.write('other.txt', 'terra-demo\nterra-dep\n');
    const result = await box.terrarium(store('-t', main, '--require-download', 'install', 'other.txt'));
    expect(result.code).toBe(10);
    expect(result.stderr).toContain(`no archive for ${ARCH}-`);
    const seeded = (await box.main(['key', 'requirements.txt'])).stdout.trim();
    expect(result.stderr).toMatch(new RegExp(`; nearest is ${seeded} \\(built \\d+ (s|min) ago, in ${box.shown(box.store)}\\): \\+ terra-dep\n`));
    expect(readFileSync(path.join(main, 'marker'), 'utf8')).toBe('still here');
    expect(leftovers()).toEqual([]);
  });

  it("passes a pip failure through with pip's output and exit code; the environment stays", async () => {
    const result = await box.terrarium(store('-t', main, 'install', 'missing.txt'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('terra-does-not-exist');
    expect(result.stderr).toContain('pip install failed (exit 1)');
    expect(readFileSync(path.join(main, 'marker'), 'utf8')).toBe('still here');
    expect(existsSync(`${main}.bak`)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('refuses a target that is a file, or a folder of other things unless --force', async () => {
    box.write('a-file', 'x');
    const file = await box.terrarium(store('-t', 'a-file', 'install', 'requirements.txt'));
    expect(file.code).toBe(8);
    expect(file.stderr).toContain('is not a directory');
    const data = box.path('data');
    mkdirSync(data);
    writeFileSync(path.join(data, 'precious'), 'x');
    const refused = await box.terrarium(store('-t', data, 'install', 'requirements.txt'));
    expect(refused.code).toBe(8);
    expect(refused.stderr).toContain('--force');
    const forced = await box.terrarium(store('-t', data, '--force', 'install', 'requirements.txt'));
    expect(forced.code).toBe(0);
    expect(readFileSync(path.join(`${data}.bak`, 'precious'), 'utf8')).toBe('x');
  });

  it('installs into $VIRTUAL_ENV when no --target is given', async () => {
    const venvTarget = box.path('from-virtual-env');
    const result = await box.terrarium(store('install', 'requirements.txt'), { VIRTUAL_ENV: venvTarget });
    expect(result.code).toBe(0);
    expect(existsSync(path.join(venvTarget, 'bin', 'terra-demo'))).toBe(true);
  });

  it('a damaged archive is never installed: removed from the store, then rebuilt (or an error under --require-download)', async () => {
    const archives = () => readdirSync(box.store).filter((name) => name.endsWith('.tar.zst'));
    const damage = () => {
      const blob = path.join(box.store, archives()[0]!);
      const bytes = readFileSync(blob);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(blob, bytes);
    };
    damage();
    const strict = await box.terrarium(store('-t', box.path('strict'), '--require-download', 'install', 'requirements.txt'));
    expect(strict.code).toBe(6);
    expect(strict.stderr).toMatch(new RegExp(`error: ${box.shown(box.store)}: archive ${ARCH}-[^ ]+ is unusable: .*\\(removed from the store\\)`));
    expect(existsSync(box.path('strict'))).toBe(false);
    expect(archives()).toEqual([]);

    const rebuilt = await box.terrarium(store('--format', '1', '-t', box.path('rebuilt'), 'install', 'requirements.txt'));
    expect(rebuilt.code).toBe(0);
    damage();
    const lenient = await box.terrarium(store('-t', box.path('lenient'), 'install', 'requirements.txt'));
    expect(lenient.code).toBe(0);
    expect(lenient.stderr).toContain('is unusable');
    expect(lenient.stderr).toContain('building instead');
    // The rebuild republished a good archive, so the next install is a hit again.
    const hit = await box.terrarium(store('-t', box.path('hit'), '--require-download', 'install', 'requirements.txt'));
    expect(hit.code).toBe(0);
    expect(leftovers()).toEqual([]);
  });

  it('--no-download builds although an archive exists; --no-upload publishes nothing; --no-bootstrap', async () => {
    const before = readdirSync(box.store).sort();
    const result = await box.terrarium(store('-t', box.path('fresh'), '--no-download', '--no-upload', '--no-bootstrap', 'install', 'requirements.txt'));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('building');
    expect(readdirSync(box.store).sort()).toEqual(before);
    expect(existsSync(box.path('fresh', 'bin', 'terrarium_bootstrap.py'))).toBe(false);
    expect(existsSync(box.path('main', 'bin', 'terrarium_bootstrap.py'))).toBe(true);
  });

  it.each([
    ['gzip', ['--format', '1', '--compression', 'gzip'], '.tar.gz'],
    ['none (--no-compress)', ['--format', '1', '--no-compress'], '.tar'],
  ])('publishes and restores with %s', async (_, flags, extension) => {
    const other = box.path(`store-${extension}`);
    const build = await box.terrarium(['--storage-dir', other, '--no-cache', ...flags, '-t', box.path(`built${extension}`), 'install', 'requirements.txt']);
    expect(build.code).toBe(0);
    expect(readdirSync(other).some((name) => name.endsWith(extension))).toBe(true);
    const restore = await box.terrarium(['--storage-dir', other, '--no-cache', '-t', box.path(`restored${extension}`), 'install', 'requirements.txt']);
    expect(restore.stderr).toContain('restored');
    expect((await box.exec(box.path(`restored${extension}`, 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
  });
});
