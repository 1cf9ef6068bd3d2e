import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { ARCH } from '../helpers/python.js';

/**
 * The main promise: build once (miss), then restore anywhere (hit) without pip doing any work.
 * The wheels are deleted between the two, so a hit that secretly ran pip would fail.
 */
describe('install: miss, then hit at another path', () => {
  const box = new Sandbox();
  const built = box.path('built env');
  const restored = box.path('restored here', 'zoë env');
  const kept = box.path('kept-wheels');
  let miss: Awaited<ReturnType<Sandbox['terrarium']>>;
  let hit: Awaited<ReturnType<Sandbox['terrarium']>>;

  beforeAll(async () => {
    box.write('requirements.txt', '# the example app\nterra-demo\nterra-cext  # a C extension\n');
    miss = await box.terrarium(['--target', built, '--storage-dir', box.store, 'install', 'requirements.txt']);
    // Nothing can be installed from now on, and the built environment is gone from where it was built.
    cpSync(box.wheels, kept, { recursive: true });
    rmSync(box.wheels, { recursive: true });
    renameSync(built, box.path('moved away'));
    hit = await box.terrarium(['install', 'requirements.txt', '-t', restored, '--storage-dir', box.store]);
  });
  afterAll(() => box.cleanup());

  it('builds and publishes on a miss', () => {
    expect(miss.stderr).toMatch(new RegExp(`building ${ARCH}-3\\.\\d+-[0-9a-f]{32}`));
    expect(miss.stderr).toMatch(/built .*published to/);
    expect(miss.code).toBe(0);
    // A record and its layers (format 2, the default).
    const stored = readdirSync(box.store).sort();
    expect(stored).toEqual(['blobs', expect.stringMatching(new RegExp(`^${ARCH}-3\\.\\d+-[0-9a-f]{32}\\.json$`))]);
    expect(readdirSync(path.join(box.store, 'blobs', 'sha256')).length).toBeGreaterThan(1);
  });

  it('restores on a hit, without building', () => {
    expect(hit.code).toBe(0);
    expect(hit.stderr).toMatch(new RegExp(`restored ${ARCH}-3\\.\\d+-[0-9a-f]{32} from .*store`));
    expect(hit.stderr).not.toContain('building');
    expect(hit.stdout).toBe('');
  });

  it('runs console scripts at the new path (non-ASCII, with a space)', async () => {
    const run = await box.exec(path.join(restored, 'bin', 'terra-demo'), []);
    expect(run.stdout).toBe(`hello, terrarium\n${restored}\n`);
    expect(readFileSync(path.join(restored, 'bin', 'pip'), 'utf8')).toContain(`'''exec' "${restored}/bin/python`);
  });

  it('imports the compiled extension and reports the new prefix', async () => {
    const run = await box.exec(path.join(restored, 'bin', 'python'), ['-c', 'import sys, terra_cext; print(terra_cext.add(2, 3)); print(sys.prefix)']);
    expect(run.stdout).toBe(`5\n${restored}\n`);
  });

  it('activates with bash, setting VIRTUAL_ENV and PATH to the new path', async () => {
    const run = await box.exec('bash', ['-c', `source "${restored}/bin/activate" && echo "$VIRTUAL_ENV" && command -v terra-demo && echo "$PS1"`]);
    expect(run.stdout.split('\n').slice(0, 3)).toEqual([restored, path.join(restored, 'bin', 'terra-demo'), '(zoë env) ']);
  });

  it('keeps pip working: list, check, uninstall, install', async () => {
    const pip = path.join(restored, 'bin', 'pip');
    const list = await box.exec(pip, ['list', '--format=freeze']);
    expect(list.stdout).toContain('terra-demo==1.0');
    expect(list.stdout).toContain('terra-cext==1.0');
    expect((await box.exec(pip, ['check'])).code).toBe(0);
    expect((await box.exec(pip, ['uninstall', '-y', 'terra-demo'])).code).toBe(0);
    expect(existsSync(path.join(restored, 'bin', 'terra-demo'))).toBe(false);
    const reinstall = await box.exec(pip, ['install', 'terra-demo'], { PIP_FIND_LINKS: kept });
    expect(reinstall.code).toBe(0);
    expect((await box.exec(path.join(restored, 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
  });

  it('writes a bootstrap script that recreates the environment from its requirements', async () => {
    const script = path.join(restored, 'bin', 'terrarium_bootstrap.py');
    const fresh = box.path('bootstrapped');
    const run = await box.exec(path.join(restored, 'bin', 'python'), [script, fresh], { PIP_FIND_LINKS: kept });
    expect(run.code).toBe(0);
    const check = await box.exec(path.join(fresh, 'bin', 'python'), ['-c', 'import terra_cext, terra_demo.cli; print(terra_demo.cli.message())']);
    expect(check.stdout).toBe('terrarium\n');
  });

  it('keeps source mtimes, so bytecode caches stay valid', async () => {
    const probe = 'import terra_dep, os; print(int(os.stat(terra_dep.__file__).st_mtime))';
    const restoredMtime = await box.exec(path.join(restored, 'bin', 'python'), ['-c', probe]);
    const builtMtime = await box.exec(box.path('moved away', 'bin', 'python'), ['-c', probe]);
    expect(restoredMtime.stdout).toBe(builtMtime.stdout);
  });
});
