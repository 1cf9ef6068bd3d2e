import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecompressStream } from 'zstd-napi';
import { MANIFEST_PATH } from '../../src/archive/manifest.js';
import { Sandbox } from '../helpers/cli.js';
import { leftoversIn } from '../helpers/env-state.js';

type Entry = { name: string; type?: tar.Headers['type']; linkname?: string; mode?: number; body?: string };

/** Shared storage is untrusted: archives crafted to escape are refused before anything leaves staging. */
describe('hostile archives in a store', () => {
  const box = new Sandbox();
  const args = (...rest: string[]) => ['--storage-dir', box.store, ...rest];
  let key: string;
  let manifest: string;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-dep\n');
    key = await box.seed('dep', box.store, 1);
    expect((await box.main(['key', 'requirements.txt'])).stdout.trim()).toBe(key);
    // A genuine manifest, so that only the entries after it are hostile.
    const blob = readdirSync(box.store).find((name) => name.endsWith('.tar.zst'))!;
    const extract = tar.extract();
    Readable.from([readFileSync(path.join(box.store, blob))])
      .pipe(new DecompressStream())
      .pipe(extract);
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      manifest = Buffer.concat(chunks).toString();
      break;
    }
  });
  afterAll(() => box.cleanup());

  async function plant(entries: Entry[]): Promise<void> {
    const pack = tar.pack();
    for (const { body, ...header } of [{ name: MANIFEST_PATH, body: manifest }, ...entries]) {
      await new Promise<void>((resolve, reject) => pack.entry({ type: 'file', ...header }, body ?? '', (e) => (e ? reject(e) : resolve())));
    }
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    for (const name of readdirSync(box.store)) if (name.startsWith(key)) writeFileSync(path.join(box.store, name), '');
    writeFileSync(path.join(box.store, `${key}.${sha256.slice(0, 16)}.tar`), bytes);
    const record = { format: 1, key, sha256, size: bytes.length, codec: 'none', created: new Date().toISOString(), tool: 'attacker' };
    writeFileSync(path.join(box.store, `${key}.json`), JSON.stringify(record));
  }

  it.each<[string, Entry[], string]>([
    ['a path climbing out', [{ name: '../../evil', body: 'x' }], '".." in path'],
    ['an absolute path', [{ name: `${'/tmp'}/evil-${process.pid}`, body: 'x' }], 'absolute path'],
    [
      'a symlink out, then a file through it',
      [
        { name: 'lib', type: 'directory' },
        { name: 'lib/out', type: 'symlink', linkname: '../../..' },
        { name: 'lib/out/evil', body: 'x' },
      ],
      'symlink leaves the environment',
    ],
    [
      'a file through an in-tree symlink to a directory',
      [
        { name: 'here', type: 'symlink', linkname: '.' },
        { name: 'here/evil', body: 'x' },
      ],
      'under the symlink',
    ],
    ['a setuid program', [{ name: 'bin/evil', mode: 0o4755, body: 'x' }], 'setuid'],
    ['a device node', [{ name: 'evil', type: 'character-device' }], 'unsupported entry type'],
  ])('refuses %s: exit 6 naming store and key, the archive removed, nothing written outside staging', async (_, entries, why) => {
    await plant(entries);
    const target = box.path('target');
    const strict = await box.terrarium(args('-t', target, '--require-download', 'install', 'requirements.txt'));
    expect(strict.code).toBe(6);
    expect(strict.stderr).toContain(`error: ${box.shown(box.store)}: archive ${key} is unusable: archive entry`);
    expect(strict.stderr).toContain(why);
    expect(strict.stderr).toContain('(removed from the store)');
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`/tmp/evil-${process.pid}`)).toBe(false);
    const everything = readdirSync(box.dir, { recursive: true, encoding: 'utf8' });
    expect(everything.filter((name) => path.basename(name) === 'evil')).toEqual([]);
    expect(leftoversIn(box.dir)).toEqual([]);
    expect(existsSync(path.join(box.store, `${key}.json`))).toBe(false);
  });

  it('without --require-download, builds instead and republishes a good archive', async () => {
    await plant([{ name: '../evil', body: 'x' }]);
    const result = await box.terrarium(args('-t', box.path('rebuilt'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('is unusable');
    expect(result.stderr).toContain('building instead');
    const hit = await box.terrarium(args('-t', box.path('hit'), '--require-download', 'install', 'requirements.txt'));
    expect(hit.code, hit.stderr).toBe(0);
  });
});
