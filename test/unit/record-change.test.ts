import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalArchive } from '../../src/archive/save.js';
import { sha256Hex } from '../../src/archive/tree-digest.js';
import type { Platform } from '../../src/python/fingerprint.js';
import { DirectoryStore } from '../../src/stores/dir.js';
import { recordFor } from '../../src/stores/record.js';
import { archiveName, recordName, type WritableStore } from '../../src/stores/store.js';
import { documentOf } from '../../src/stores/variants.js';
import { MemoryStore } from '../helpers/memory-store.js';

const platform = (libc: string, libcVersion: string): Platform => ({
  implementation: 'cpython',
  version: [3, 12],
  abiflags: '',
  soabi: 'cpython-312',
  gilDisabled: false,
  system: 'linux',
  machine: 'x86_64',
  libc,
  libcVersion,
});
const GLIBC = platform('glibc', '2.36');
const MUSL = platform('unknown', '');

const dir = mkdtempSync(path.join(tmpdir(), 'terrarium-record-change-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A packed archive of these bytes, as a build leaves it. */
function packed(content: string, on: Platform): LocalArchive {
  const file = path.join(dir, `archive-${sha256Hex(Buffer.from(content)).slice(0, 12)}`);
  writeFileSync(file, content);
  return { path: file, sha256: sha256Hex(Buffer.from(content)), size: content.length, codec: 'zstd', unpackedSize: 0, entries: 0, platform: on };
}

let stores = 0;
/** Each store kind the one algorithm runs over; each test takes a fresh one. */
const KINDS: Array<[string, () => WritableStore]> = [
  ['memory', () => new MemoryStore()],
  ['directory', () => new DirectoryStore(path.join(dir, `store-${++stores}`))],
];

describe.each(KINDS)('changing records (%s store)', (_kind, make) => {
  it('publishes a new key, and then says another archive for the platform is present', async () => {
    const store = make();
    expect((await store.publish('k', packed('first', GLIBC), 't')).outcome).toBe('published');
    const second = await store.publish('k', packed('second', GLIBC), 't');
    expect(second.outcome).toBe('present');
    expect(second.record.sha256).toBe(sha256Hex(Buffer.from('first')));
  });

  it('adds another platform beside the first, and discards one without the other', async () => {
    const store = make();
    await store.publish('k', packed('glibc', GLIBC), 't');
    expect((await store.publish('k', packed('musl', MUSL), 't')).outcome).toBe('published');
    expect(await store.archives('k')).toHaveLength(2);
    await store.discard((await store.lookup('k', MUSL))!);
    expect((await store.archives('k')).map((a) => a.platform?.libc)).toEqual(['glibc']);
    await store.discard((await store.lookup('k', GLIBC))!);
    expect(await store.archives('k')).toEqual([]);
  });

  it('replaces a bad archive only while it is still there', async () => {
    const store = make();
    const bad = (await store.publish('k', packed('bad', GLIBC), 't')).record;
    const replaced = await store.replace(bad, packed('good', GLIBC), 't');
    expect(replaced.outcome).toBe('replaced');
    // The bad one is gone already: a second replacement of it is an archive present.
    const late = await store.replace(bad, packed('late', GLIBC), 't');
    expect(late.outcome).toBe('present');
    expect((await store.lookup('k', GLIBC))?.sha256).toBe(sha256Hex(Buffer.from('good')));
  });

  it('discarding an archive no longer in the record changes nothing', async () => {
    const store = make();
    const kept = (await store.publish('k', packed('kept', GLIBC), 't')).record;
    await store.discard({ ...kept, sha256: 'f'.repeat(64) });
    expect((await store.lookup('k', GLIBC))?.sha256).toBe(kept.sha256);
  });
});

describe('changing records when other writers get in between (memory store)', () => {
  const theirs = packed('theirs', GLIBC);
  const theirRecord = () => `${JSON.stringify(documentOf([recordFor('k', theirs, 'other')]))}\n`;

  it('decides again from a fresh read: another platform written first stays beside ours', async () => {
    const store = new MemoryStore();
    let raced = false;
    store.faults.beforeWrite = (s) => {
      if (!raced) s.put(recordName('k'), `${JSON.stringify(documentOf([recordFor('k', packed('musl', MUSL), 'other')]))}\n`);
      raced = true;
    };
    expect((await store.publish('k', packed('ours', GLIBC), 't')).outcome).toBe('published');
    expect((await store.archives('k')).map((a) => a.platform?.libc).sort()).toEqual(['glibc', 'unknown']);
  });

  it('an archive for our platform written first wins, and ours is dropped', async () => {
    const store = new MemoryStore();
    const ours = packed('ours', GLIBC);
    store.faults.beforeWrite = (s) => s.put(recordName('k'), theirRecord());
    const result = await store.publish('k', ours, 't');
    expect(result.outcome).toBe('present');
    expect(result.record.sha256).toBe(theirs.sha256);
    expect(store.objects.has(archiveName(recordFor('k', ours, 't')))).toBe(false);
  });

  it('where conditions are ignored, the read-back tells the loser to drop its archive', async () => {
    const store = new MemoryStore();
    store.faults.ignoreConditions = true;
    const ours = packed('ours too', GLIBC);
    // The other writer's record lands right after ours: the last writer wins.
    let writes = 0;
    store.faults.beforeWrite = () => {
      writes += 1;
    };
    const write = store.put.bind(store);
    store.put = (name, body) => {
      write(name, body);
      if (name === recordName('k') && writes === 1 && !body.toString().includes('other')) write(recordName('k'), theirRecord());
    };
    const result = await store.publish('k', ours, 't');
    expect(result.outcome).toBe('present');
    expect(result.record.sha256).toBe(theirs.sha256);
    expect(store.objects.has(archiveName(recordFor('k', ours, 't')))).toBe(false);
  });

  it('a store that is down fails the publication with its own error', async () => {
    const store = new MemoryStore();
    store.faults.down = true;
    await expect(store.publish('k', packed('ours', GLIBC), 't')).rejects.toMatchObject({ code: 'STORAGE_UNREACHABLE' });
  });
});
