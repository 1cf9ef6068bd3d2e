import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { incompatibility, type Platform } from '../../src/python/fingerprint.js';
import { DirectoryStore } from '../../src/stores/dir.js';
import { parseRecord } from '../../src/stores/record.js';
import type { ArchiveRecord } from '../../src/stores/store.js';
import { addVariant, chooseVariant, documentOf, removeVariant, replaceVariant, variantsOf } from '../../src/stores/variants.js';

const GLIBC = (libcVersion: string, more: Partial<Platform> = {}): Platform => ({
  implementation: 'cpython',
  version: [3, 11],
  abiflags: '',
  soabi: 'cpython-311-x86_64-linux-gnu',
  gilDisabled: false,
  system: 'linux',
  machine: 'x86_64',
  libc: 'glibc',
  libcVersion,
  ...more,
});
const MUSL = GLIBC('', { libc: 'unknown', soabi: 'cpython-311-x86_64-linux-musl' });

const archive = (sha: string, platform?: Platform): ArchiveRecord => ({
  format: 1,
  key: 'k',
  sha256: sha.repeat(64),
  size: 10,
  codec: 'zstd',
  created: '2026-12-01T00:00:00Z',
  tool: 'test',
  ...(platform ? { platform } : {}),
});

describe('platforms', () => {
  it.each([
    ['the same platform', GLIBC('2.36'), GLIBC('2.36'), undefined],
    ['an older glibc build on a newer glibc', GLIBC('2.28'), GLIBC('2.36'), undefined],
    ['a newer glibc build on an older glibc', GLIBC('2.36'), GLIBC('2.28'), 'glibc is older here: archive needs glibc 2.36, local interpreter has 2.28'],
    ['glibc 2.4 against 2.36 (numbers, not text)', GLIBC('2.4'), GLIBC('2.36'), undefined],
    ['musl against glibc', MUSL, GLIBC('2.36'), 'ABI differs'],
    ['free-threaded against the GIL build', GLIBC('2.36', { gilDisabled: true }), GLIBC('2.36'), 'free-threading differs'],
  ])('%s', (_, built, local, why) => {
    const found = incompatibility(built, local);
    if (why === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(why);
  });
});

describe('a record of several archives, one per platform', () => {
  const doc = documentOf([archive('a', GLIBC('2.36')), archive('b', GLIBC('2.28')), archive('c', MUSL)]);

  it('keeps the first at the top, for readers from before variants', () => {
    expect(doc.sha256).toBe('a'.repeat(64));
    expect(doc.variants?.map((v) => v.sha256[0])).toEqual(['b', 'c']);
    expect(variantsOf(doc).map((v) => [v.key, v.sha256[0]])).toEqual([
      ['k', 'a'],
      ['k', 'b'],
      ['k', 'c'],
    ]);
  });

  it.each([
    ['glibc 2.40: the newest glibc build that fits', GLIBC('2.40'), 'a'],
    ['glibc 2.30: the 2.28 build', GLIBC('2.30'), 'b'],
    ['musl: the musl build', MUSL, 'c'],
    ['glibc 2.17: none', GLIBC('2.17'), undefined],
    ['Python 3.12: none', GLIBC('2.40', { version: [3, 12] }), undefined],
  ])('chooses for %s', (_, local, expected) => {
    expect(chooseVariant(variantsOf(doc), local)?.sha256[0]).toBe(expected);
  });

  it('tries an archive without a platform (published before variants) when none fits by platform', () => {
    const old = documentOf([archive('a', GLIBC('2.36')), archive('d')]);
    expect(chooseVariant(variantsOf(old), GLIBC('2.17'))?.sha256[0]).toBe('d');
  });

  it('adds a platform that nothing serves, and is present where one does', () => {
    expect(addVariant(documentOf([archive('a', GLIBC('2.36'))]), archive('b', GLIBC('2.28')))).toMatchObject({
      write: { variants: [{ platform: { libcVersion: '2.28' } }] },
    });
    expect(addVariant(documentOf([archive('b', GLIBC('2.28'))]), archive('a', GLIBC('2.36')))).toMatchObject({ present: { sha256: 'b'.repeat(64) } });
    expect(addVariant(undefined, archive('a', GLIBC('2.36')))).toEqual({ write: archive('a', GLIBC('2.36')) });
    // An archive from before variants names no platform: it counts as serving (a --no-download rebuild verifies, and heals, it).
    expect(addVariant(documentOf([archive('d')]), archive('a', GLIBC('2.36')))).toMatchObject({ present: { sha256: 'd'.repeat(64) } });
  });

  it('replaces and removes one archive, leaving the others', () => {
    const replaced = replaceVariant(doc, variantsOf(doc)[1]!, archive('e', GLIBC('2.28')));
    expect('write' in replaced && variantsOf(replaced.write).map((v) => v.sha256[0])).toEqual(['a', 'e', 'c']);
    const removed = removeVariant(doc, variantsOf(doc)[0]!);
    expect('write' in removed && variantsOf(removed.write).map((v) => v.sha256[0])).toEqual(['b', 'c']);
    expect(removeVariant(documentOf([archive('a')]), archive('a'))).toEqual({ remove: true });
    expect(removeVariant(doc, archive('f'))).toEqual({ unchanged: true });
  });

  it('drops malformed variants and platforms from a stored record, keeping the rest', () => {
    const stored = {
      ...doc,
      platform: { ...doc.platform, planted: 'x'.repeat(1000) },
      variants: [...doc.variants!, { sha256: 'nope' }, 'x', { ...doc.variants![0]!, platform: { libc: 7 } }],
    };
    const parsed = parseRecord(JSON.stringify(stored), 'k')!;
    // Only a platform's known fields are kept, so a record written back carries nothing else of it.
    expect(parsed.platform).toEqual(GLIBC('2.36'));
    expect(variantsOf(parsed).map((v) => [v.sha256[0], v.platform?.libc ?? null])).toEqual([
      ['a', 'glibc'],
      ['b', 'glibc'],
      ['c', 'unknown'],
      ['b', null],
    ]);
  });
});

describe('a directory store with archives for two platforms', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'terrarium-variants-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const local = (content: string, platform: Platform) => {
    const file = path.join(dir, `src-${content}`);
    writeFileSync(file, content);
    const sha256 = createHash('sha256').update(content).digest('hex');
    return { path: file, sha256, size: content.length, codec: 'zstd' as const, unpackedSize: 0, entries: 0, platform };
  };

  it('publishes both under one record, concurrently, serves each its own, and discards one without the other', async () => {
    const store = new DirectoryStore(path.join(dir, 'store'));
    const results = await Promise.all([
      store.publish('k', local('glibc archive', GLIBC('2.36')), 'test'),
      store.publish('k', local('musl archive', MUSL), 'test'),
      store.publish('k', local('other glibc archive', GLIBC('2.36')), 'test'),
    ]);
    expect(results.map((r) => r.outcome).sort()).toEqual(['present', 'published', 'published']);
    const stored = JSON.parse(readFileSync(path.join(dir, 'store', 'k.json'), 'utf8')) as ArchiveRecord;
    expect(variantsOf(stored)).toHaveLength(2);
    const musl = await store.lookup('k', MUSL);
    expect(musl?.platform?.libc).toBe('unknown');
    expect((await store.lookup('k', GLIBC('2.40')))?.platform?.libc).toBe('glibc');
    expect(await store.lookup('k', GLIBC('2.17'))).toBeUndefined();
    expect((await store.list()).map((r) => r.platform?.libc).sort()).toEqual(['glibc', 'unknown']);
    await store.discard(musl!);
    expect(await store.lookup('k', MUSL)).toBeUndefined();
    expect((await store.lookup('k', GLIBC('2.40')))?.platform?.libc).toBe('glibc');
  });
});
