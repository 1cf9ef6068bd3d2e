import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';

describe('an install of the key the target already holds', () => {
  const box = new Sandbox();
  const packages = async (env: string) => (await box.exec(path.join(env, 'bin', 'python'), ['-m', 'pip', 'list', '--format=freeze'])).stdout;
  const sitePackages = (env: string) => {
    const lib = path.join(env, 'lib');
    const version = readFileSync(path.join(env, 'pyvenv.cfg'), 'utf8').match(/^version(?:_info)? = (\d+\.\d+)/m)![1];
    return path.join(lib, `python${version}`, 'site-packages');
  };
  /** Installs a.txt, then b.txt: the target holds b, its backup a. */
  const prepare = async (name: string) => {
    const target = box.path(name);
    const install = (file: string, ...args: string[]) => box.terrarium(['-t', target, '--storage-dir', box.store, ...args, 'install', file]);
    for (const file of ['a.txt', 'b.txt']) expect((await install(file)).code).toBe(0);
    return { target, install };
  };

  beforeAll(async () => {
    box.write('a.txt', 'terra-dep\n');
    box.write('b.txt', 'terra-demo\n');
    await box.seed('dep');
    await box.seed('demo');
  });
  afterAll(() => box.cleanup());

  it('does nothing when the target is unchanged: the backup of the environment before stays, and revert goes back to it', async () => {
    const { target, install } = await prepare('same');
    const result = await install('b.txt', '--json');
    expect(result.code, result.stderr).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document).toMatchObject({ ok: true, hit: true, source: 'target', unchanged: true, backup: null, keptBackup: false });
    const plain = await install('b.txt');
    expect(plain.stderr).toMatch(/is already installed at .*same, unchanged: nothing to do .*--reinstall installs it again/);
    expect(await packages(`${target}.bak`)).not.toContain('terra-demo');
    expect((await box.terrarium(['-t', target, 'revert'])).code).toBe(0);
    expect(await packages(target)).not.toContain('terra-demo');
  });

  it.each([
    ['a file added', (site: string) => writeFileSync(path.join(site, 'added.py'), 'x = 1\n')],
    ['a file edited', (site: string) => appendFileSync(path.join(site, 'terra_demo', '__init__.py'), '\n# edited\n')],
    ['a file removed', (site: string) => rmSync(path.join(site, 'terra_demo', '__init__.py'))],
  ])('installs again when the target changed (%s), and keeps the backup of the different environment before it', async (_, change) => {
    const { target, install } = await prepare(`changed-${_.replace(/ /g, '-')}`);
    change(sitePackages(target));
    const result = await install('b.txt', '-V');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('files of the target changed since it was installed');
    expect(result.stderr).toMatch(/kept .*changed-.*\.bak, the environment before .*, as the backup/);
    expect(existsSync(path.join(sitePackages(target), 'added.py'))).toBe(false);
    expect(readFileSync(path.join(sitePackages(target), 'terra_demo', '__init__.py'), 'utf8')).not.toContain('# edited');
    expect(await packages(`${target}.bak`)).not.toContain('terra-demo');
    expect(await packages(target)).toContain('terra-demo==1.0');
    // Unchanged since this install: the next one does nothing.
    expect((await install('b.txt')).stderr).toContain('unchanged: nothing to do');
  });

  it('--reinstall installs it again, keeping the backup of the different environment', async () => {
    const { target, install } = await prepare('forced');
    const result = await install('b.txt', '--reinstall', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ unchanged: false, keptBackup: true, backup: `${target}.bak` });
    expect(await packages(`${target}.bak`)).not.toContain('terra-demo');
    const byEnv = await box.terrarium(['-t', target, '--storage-dir', box.store, 'install', 'b.txt'], { TERRARIUM_REINSTALL: '1' });
    expect(byEnv.stderr).toContain('restored');
  });

  it('a reinstall replaces a backup that holds the same key (nothing of another environment is lost)', async () => {
    const target = box.path('twice');
    const install = (...args: string[]) => box.terrarium(['-t', target, '--storage-dir', box.store, ...args, 'install', 'b.txt']);
    expect((await install()).code).toBe(0);
    expect((await install('--reinstall')).code).toBe(0);
    expect(existsSync(`${target}.bak`)).toBe(true);
    const again = await install('--reinstall', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ keptBackup: false, backup: `${target}.bak` });
  });

  it('installs again to replace files linked from the cache when --link-mode none asks for copies; copies do for either', async () => {
    const { install } = await prepare('copies');
    const copied = await install('b.txt', '--link-mode', 'none', '-V');
    expect(copied.stderr).toContain('--link-mode none asks for copies');
    expect(copied.stderr).toContain('restored');
    expect((await install('b.txt', '--link-mode', 'none')).stderr).toContain('unchanged: nothing to do');
    expect((await install('b.txt')).stderr).toContain('unchanged: nothing to do');
  });

  it('--no-download builds even when the target is unchanged', async () => {
    const { install } = await prepare('built');
    const result = await install('b.txt', '--no-download', '--no-upload', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ source: 'build', keptBackup: true });
  });
});
