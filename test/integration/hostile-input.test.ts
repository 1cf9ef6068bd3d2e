import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';

/** What a user (or a script gone wrong) can pass: every one a clear error, with nothing read forever or printed that is secret. */
describe('hostile and mistaken input on the command line', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it.each<[string, () => string[]]>([
    ['/dev/zero', () => ['/dev/zero']],
    ['a file including -r /dev/zero', () => [box.write('includes-zero.txt', 'terra-dep\n-r /dev/zero\n')]],
    [
      'a FIFO nobody writes to',
      () => {
        execFileSync('mkfifo', [box.path('fifo')]);
        return [box.path('fifo')];
      },
    ],
    [
      'a directory',
      () => {
        mkdirSync(box.path('dir-reqs'));
        return [box.path('dir-reqs')];
      },
    ],
    ['a 5 MiB file', () => [box.write('huge.txt', `${'x'.repeat(1023)}\n`.repeat(5 * 1024))]],
  ])('refuses %s as a requirements file at once: exit 3, one error line', async (_, files) => {
    const result = await box.main(['key', ...files()]);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/terrarium: error: requirements file .* (is not a regular file|is a directory|is larger than 4 MiB)/);
    expect(result.stderr).toContain('terrarium: hint:');
  });

  it.each([[['-t', '', 'install', 'r.txt']], [['--storage-dir', '', 'key', 'r.txt']], [['--cache-dir', '', 'key', 'r.txt']]])(
    'refuses an empty path (%j): exit 2, nothing touched',
    async (args) => {
      box.write('r.txt', 'terra-dep\n');
      const before = readdirSync(box.dir).sort();
      const result = await box.main(args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/terrarium: error: empty --(target|storage-dir|cache-dir)/);
      expect(readdirSync(box.dir).sort()).toEqual(before);
    },
  );

  it('an empty environment variable means "not set"', async () => {
    box.write('r.txt', 'terra-dep\n');
    const result = await box.main(['key', 'r.txt'], { TERRARIUM_CACHE_DIR: '', TERRARIUM_STORAGE_DIR: '' });
    expect(result.code, result.stderr).toBe(0);
  });

  it.each([
    ['--storage-url', 'http://deploy:hunter2-pw@127.0.0.1:9/envs/'],
    ['--s3-endpoint', 'https://AKIAX:s3-SECRET-value@minio.internal:9000'],
  ])('refuses credentials in %s, and prints none of them', async (option, url) => {
    box.write('r.txt', 'terra-dep\n');
    const args = option === '--s3-endpoint' ? ['--s3-bucket', 'b', option, url] : [option, url];
    for (const json of [[], ['--json']]) {
      const result = await box.main([...json, ...args, 'exists', 'r.txt']);
      expect(result.code).toBe(2);
      expect(result.stderr + result.stdout).toContain('holds credentials');
      for (const secret of ['hunter2-pw', 's3-SECRET-value', 'deploy:', 'AKIAX']) expect(result.stderr + result.stdout).not.toContain(secret);
    }
  });

  it('config masks every secret, whatever its length or characters', async () => {
    const env = { S3_ACCESS_KEY: 'ab', S3_SECRET_KEY: 'q"\\x', S3_BUCKET: 'b' };
    for (const json of [[], ['--json']]) {
      const result = await box.main([...json, 'config'], env);
      expect(result.code, result.stderr).toBe(0);
      const out = result.stdout + result.stderr;
      expect(out).not.toContain('"ab"');
      expect(out).not.toContain('q\\"\\\\x');
      expect(out).not.toContain('q"\\x');
      expect(out).toContain('***');
    }
  });
});
