import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveRecord } from '../../src/stores/store.js';
import { variantsOf } from '../../src/stores/variants.js';
import { Sandbox } from '../helpers/cli.js';

/** A key holds one archive per platform: a runner takes the one that runs on it, and builds its own beside the others. */
describe('platform variants under one key', () => {
  const box = new Sandbox();
  const store = (...args: string[]) => ['--storage-dir', box.store, '--no-cache', ...args];
  const recordFile = () => path.join(box.store, `${key}.json`);
  const record = () => JSON.parse(readFileSync(recordFile(), 'utf8')) as ArchiveRecord;
  let key: string;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    key = await box.seed('demo');
    // As if a runner with a newer glibc had built it: nothing here can run that archive.
    const stored = record();
    writeFileSync(recordFile(), JSON.stringify({ ...stored, platform: { ...stored.platform, libcVersion: '99.0' } }));
  });
  afterAll(() => box.cleanup());

  it('an archive for another platform only is a miss; the build joins it; the next run restores its own', async () => {
    const first = await box.terrarium(store('-t', box.path('first'), 'install', 'requirements.txt'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(new RegExp(`holds ${key} for cpython 3\\.\\d+ glibc 99\\.0 linux/x86_64 only, which cannot run here`));
    expect(first.stderr).toContain(`building ${key}`);
    const archives = variantsOf(record());
    expect(archives.map((a) => a.platform?.libcVersion)).toEqual(['99.0', expect.stringMatching(/^2\.\d+$/)]);
    const local = archives[1]!;

    const second = await box.terrarium(store('-t', box.path('second'), 'install', 'requirements.txt'));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('building');
    expect((await box.exec(box.path('second', 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');

    const ls = await box.main(['--storage-dir', box.store, 'ls']);
    expect(ls.stdout).toContain(`(2 archives,`);
    expect(ls.stdout).toMatch(/glibc 99\.0 linux\/x86_64/);
    expect(ls.stdout).toContain(`glibc ${local.platform!.libcVersion} linux/x86_64`);
    const inspect = await box.main(['--storage-dir', box.store, 'inspect', key]);
    expect(inspect.stdout).toContain('variants      (2, one per platform)');
    expect(inspect.stdout).toMatch(/glibc 99\.0 linux\/x86_64, [\d.]+ MiB \(this one\)/);
  });
});
