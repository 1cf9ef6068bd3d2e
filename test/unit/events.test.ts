import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReportEvent } from '../../src/report/events.js';
import { createReporter, type EventLevel } from '../../src/report/reporter.js';
import { describeEvent } from '../../src/report/words.js';

const holder = { hostname: 'builder-1', pid: 42, since: '2026-12-04T10:00:00Z' };
const refused = { code: 'ARCHIVE_REFUSED', store: 's3://b/envs', key: 'k', reason: 'ARCHIVE_CORRUPT', untrusted: false, cause: 'bad bytes' } as const;

/** One event of each code, with the words it must make. */
const SAMPLES: Record<ReportEvent['code'], [ReportEvent, RegExp]> = {
  STORE_LOOKUP: [{ code: 'STORE_LOOKUP', store: '/s', key: 'k', size: 12 }, /^\/s: found k \(12 bytes\)$/],
  OTHER_PLATFORM_ONLY: [{ code: 'OTHER_PLATFORM_ONLY', store: '/s', key: 'k', platform: 'cpython 3.12' }, /holds k for cpython 3.12 only/],
  STORE_UNREACHABLE: [{ code: 'STORE_UNREACHABLE', store: '/s', cause: 'refused' }, /^refused; going on without \/s$/],
  ARCHIVE_REFUSED: [{ ...refused, removal: 'failed', removalCause: 'EACCES' }, /archive k is unusable: bad bytes \(could not remove it: EACCES\)$/],
  BUILDING_INSTEAD: [{ code: 'BUILDING_INSTEAD', refused: { ...refused, removal: 'removed' } }, /bad bytes \(removed from the store\); building instead$/],
  CARRIED_LIBRARY_MISSING: [
    { code: 'CARRIED_LIBRARY_MISSING', library: 'libtk8.6.so', modules: ['_tkinter'] },
    /^libtk8\.6\.so is not on this machine: _tkinter of the carried interpreter will not import$/,
  ],
  CACHED_ARCHIVE_BAD: [{ code: 'CACHED_ARCHIVE_BAD', store: '/s', key: 'k', cause: 'damaged' }, /^damaged; restoring k from \/s instead$/],
  UNPACKED_DROPPED: [{ code: 'UNPACKED_DROPPED', cache: '/c', key: 'k', cause: 'gone' }, /in the cache \/c: k is unusable \(gone\)/],
  LINK_MODE_FALLBACK: [{ code: 'LINK_MODE_FALLBACK', asked: 'hardlink', used: 'copy', cache: '/c', target: '/t' }, /--link-mode hardlink .* used copy$/],
  LINKED_BY: [{ code: 'LINKED_BY', method: 'clone' }, /by clone$/],
  UNPACKED_OTHER_FILESYSTEM: [{ code: 'UNPACKED_OTHER_FILESYSTEM', cache: '/c', target: '/t' }, /another file system than \/t$/],
  UNPACKED_NOT_KEPT: [{ code: 'UNPACKED_NOT_KEPT', key: undefined, cause: 'ENOSPC' }, /^cannot keep an unpacked copy in the cache: ENOSPC$/],
  UNPACKED_KEPT: [{ code: 'UNPACKED_KEPT', key: 'k', bytes: 2048, cache: '/c' }, /copy of k \(2\.0 KiB\) in the cache \/c/],
  CACHE_KEPT: [{ code: 'CACHE_KEPT', key: 'k', cache: 'cache /c' }, /^kept k in the cache \/c$/],
  CACHE_NOT_KEPT: [{ code: 'CACHE_NOT_KEPT', key: 'k', cause: 'EROFS' }, /could not keep k in the cache: EROFS/],
  CACHE_EVICTED: [{ code: 'CACHE_EVICTED', keys: ['a', 'b'] }, /dropped a, b$/],
  CACHE_EVICTION_FAILED: [{ code: 'CACHE_EVICTION_FAILED', cause: 'EIO' }, /--cache-max-size: EIO$/],
  DOWNLOAD_RESUMED: [
    { code: 'DOWNLOAD_RESUMED', what: '/s: k', offset: 10, cause: 'reset', retry: 1, retries: 3 },
    /broke at byte 10 \(reset\); resuming \(retry 1 of 3\)/,
  ],
  REQUEST_RETRIED: [{ code: 'REQUEST_RETRIED', store: 'oci://r/x', cause: 'HTTP 429', seconds: 2 }, /^oci:\/\/r\/x: HTTP 429; trying again in 2\.0 s$/],
  REDIRECTED: [{ code: 'REDIRECTED', from: 'https://a/', to: 'https://b/' }, /^https:\/\/a\/ redirects to another host: https:\/\/b\/$/],
  INTERPRETER: [{ code: 'INTERPRETER', executable: '/usr/bin/python3' }, /^interpreter: \/usr\/bin\/python3$/],
  FACTS_STALE: [{ code: 'FACTS_STALE', executable: '/p', key: 'a', fresh: 'b' }, /\(key a\); asked it again: key b$/],
  NEAREST_SKIPPED: [{ code: 'NEAREST_SKIPPED', store: '/s', cause: 'denied' }, /nearest environment in \/s: denied$/],
  MISS_NEAREST: [{ code: 'MISS_NEAREST', nearest: 'k2 differs by 1' }, /^miss: k2 differs by 1$/],
  BUILDING: [{ code: 'BUILDING', key: 'k', executable: '/p' }, /^building k with \/p \(no archive found\)$/],
  RUNNING: [{ code: 'RUNNING', command: 'pip install' }, /^running pip install$/],
  BYTECODE_FAILED: [{ code: 'BYTECODE_FAILED', exitCode: 2 }, /failed \(exit 2\)/],
  BUILD_PATH_IN_BINARY: [
    { code: 'BUILD_PATH_IN_BINARY', file: 'lib/x.so', limit: 40 },
    /^lib\/x\.so names the build path in binary data: .* not longer than 40 bytes/,
  ],
  BUILD_PATH_TOO_LARGE: [{ code: 'BUILD_PATH_TOO_LARGE', file: 'big', limit: 64 << 20 }, /larger than 64 MiB/],
  OUTSIDE_PATH_PACKED: [
    { code: 'OUTSIDE_PATH_PACKED', key: 'k', outside: { file: 'lib/e.pth', target: '/src', distribution: 'e' } },
    /^packing k although e \(lib\/e\.pth names \/src\)/,
  ],
  NOT_PUBLISHED_UNSIGNED: [{ code: 'NOT_PUBLISHED_UNSIGNED', key: 'k' }, /^not publishing k: .*--sign-key/],
  SIGNED: [{ code: 'SIGNED', key: 'k', keyId: 'ABC' }, /^signed k with key ABC$/],
  STORED_ARCHIVE_REPLACED: [{ code: 'STORED_ARCHIVE_REPLACED', store: '/s', key: 'k', flaw: 'corrupt' }, /cannot be installed \(corrupt\); replacing it$/],
  PUBLISH_FAILED: [{ code: 'PUBLISH_FAILED', store: '/s', key: 'k', cause: 'EACCES' }, /^could not publish k to \/s: EACCES$/],
  INDEX_NOT_WRITTEN: [
    { code: 'INDEX_NOT_WRITTEN', store: '/s', key: 'k', cause: 'EACCES' },
    /^\/s: the index of k's layers was not written \(EACCES\); later misses run pip/,
  ],
  ASSEMBLY_SKIPPED: [{ code: 'ASSEMBLY_SKIPPED', reason: 'a layer is damaged' }, /^building in full: a layer is damaged$/],
  LAYER_NOT_REUSED: [
    { code: 'LAYER_NOT_REUSED', layer: 'numpy-2.0', store: '/s', cause: 'it installs numpy 1.26, not numpy 2.0' },
    /^not reusing numpy-2\.0 from \/s: it installs numpy 1\.26, not numpy 2\.0; pip installs it$/,
  ],
  LEASE_UNAVAILABLE: [{ code: 'LEASE_UNAVAILABLE', store: '/s', key: 'k', cause: 'read-only' }, /no build lease for k \(read-only\)/],
  LEASE_LOOKUP_FAILED: [{ code: 'LEASE_LOOKUP_FAILED', store: '/s', key: 'k', cause: '503' }, /^\/s: 503; building k here$/],
  LEASE_BEST_EFFORT: [{ code: 'LEASE_BEST_EFFORT', store: 's3://b' }, /ignores conditional writes/],
  BUILD_WAITING: [{ code: 'BUILD_WAITING', key: 'k', holder, seconds: 300 }, /^k is being built by builder-1 \(pid 42\) since \d\d:\d\d:\d\d; .*up to 300 s/],
  BUILD_WAIT_GAVE_UP: [{ code: 'BUILD_WAIT_GAVE_UP', key: 'k', holder: undefined, seconds: 5 }, /^gave up waiting for another runner after 5 s/],
  BUILDING_TOO: [{ code: 'BUILDING_TOO', key: 'k', holder }, /built by builder-1 \(pid 42\) too/],
  TARGET_WAITING: [
    { code: 'TARGET_WAITING', target: '/t', holder: { ...holder, command: 'install', thisHost: true }, seconds: 9 },
    /^waiting for \/t: terrarium install \(pid 42 on this host, since .*\) is working on it \(waiting up to 9 s/,
  ],
  LOCK_SOURCES_FALLBACK: [{ code: 'LOCK_SOURCES_FALLBACK', exitCode: 1 }, /^pip could not install the lock from the URLs it names \(exit 1\); trying/],
  REINSTALLING: [{ code: 'REINSTALLING', target: '/t', key: 'k', reason: 'files changed' }, /^installing k again at \/t: files changed$/],
  BACKUP_KEPT: [
    { code: 'BACKUP_KEPT', backup: '/t.bak', key: 'k' },
    /^kept \/t\.bak, the environment before k, as the backup: the copy of k this install replaced was discarded$/,
  ],
  SWAP_RECOVERED: [
    { code: 'SWAP_RECOVERED', target: '/t', operation: 'install', done: 2, steps: 3 },
    /^undid an interrupted install of \/t \(2 of 3 steps had run\)$/,
  ],
  LEFTOVERS_REMOVED: [{ code: 'LEFTOVERS_REMOVED', names: ['a.tmp'] }, /left: a\.tmp$/],
  STORE_NOT_LISTED: [{ code: 'STORE_NOT_LISTED', store: 'https://h/', cause: undefined }, /^https:\/\/h\/ cannot be listed: plain HTTP/],
  KEY_COMPUTED: [{ code: 'KEY_COMPUTED', key: 'k', interpreter: 'CPython 3.11' }, /^k \(CPython 3\.11\)$/],
  ARCHIVE_READ: [
    {
      code: 'ARCHIVE_READ',
      store: '/s',
      bytes: 4096,
      layers: 3,
      layersRead: 1,
      bytesRead: 1024,
      linked: 2,
      signer: 'ABC',
      files: 7,
      written: 8192,
    },
    /^1 of 3 layers \(1\.0 KiB\) from \/s, verified and signed by ABC, 2 linked from the cache; 7 files, 8\.0 KiB$/,
  ],
  TREES_LINKED: [{ code: 'TREES_LINKED', files: 5, trees: 2, method: 'hardlink', signed: false }, /^5 files in 2 trees from the cache \(hardlink\)$/],
  INTERPRETER_BUNDLED: [{ code: 'INTERPRETER_BUNDLED', interpreter: 'cpython-3.12.1', files: 3, bytes: 2048 }, /^cpython-3\.12\.1 carried: 3 files, 2\.0 KiB$/],
  VENV_CREATED: [{ code: 'VENV_CREATED', version: '3.11.9' }, /^Python 3\.11\.9 environment created$/],
  PACKAGES_INSTALLED: [{ code: 'PACKAGES_INSTALLED', count: 0 }, /^nothing to install$/],
  RESOLVED: [{ code: 'RESOLVED', count: 45 }, /^45 distributions to install \(pip's dry run\)$/],
  LAYERS_REUSED: [
    { code: 'LAYERS_REUSED', layers: 2, bytes: 2048, distributions: 3 },
    /^2 stored layers reused \(2\.0 KiB read\), 1 distribution left for pip$/,
  ],
  BYTECODE_COMPILED: [{ code: 'BYTECODE_COMPILED', perCore: true }, /one process per core/],
  PACKED: [{ code: 'PACKED', entries: 3, bytes: 2048, packed: 1024, layers: undefined, codec: 'zstd' }, /^3 entries, 2\.0 KiB -> 1\.0 KiB \(zstd\)$/],
  PUBLISHED: [{ code: 'PUBLISHED', bytes: 1024, replaced: true }, /^1\.0 KiB, in place of the broken one$/],
  PUBLISHED_BY_OTHER: [{ code: 'PUBLISHED_BY_OTHER' }, /published it first/],
  WAIT_ENDED: [{ code: 'WAIT_ENDED', key: 'k', store: '/s', next: 'published' }, /^k is in \/s$/],
};

describe('events', () => {
  it('each code declared has a sample here, and each makes its words', () => {
    const declared = [...readFileSync('src/report/events.ts', 'utf8').matchAll(/code: '([A-Z_]+)'/g)].map((m) => m[1]);
    expect(Object.keys(SAMPLES).sort()).toEqual([...new Set(declared)].sort());
    for (const [code, [event, words]] of Object.entries(SAMPLES)) {
      expect(event.code).toBe(code);
      expect(describeEvent(event)).toMatch(words);
    }
  });

  it('warnings go into the --json document with their code, facts and words, masked; events reach a listener even under --quiet', () => {
    let stdout = '';
    const heard: Array<[EventLevel, string]> = [];
    const reporter = createReporter({ stdout: { write: (t: string) => (stdout += t) }, stderr: { write: () => true } }, -1, {
      secrets: ['s3cr3t'],
      onEvent: (level, event) => heard.push([level, event.code]),
    });
    reporter.warn({ code: 'PUBLISH_FAILED', store: 's3://b', key: 'k', cause: 'denied for s3cr3t' });
    reporter.detail({ code: 'LINKED_BY', method: 'clone' });
    reporter.phase('pack').done({ code: 'PUBLISHED_BY_OTHER' });
    reporter.document({ ok: true });
    expect(JSON.parse(stdout)).toEqual({
      ok: true,
      warnings: [{ code: 'PUBLISH_FAILED', store: 's3://b', key: 'k', cause: 'denied for ***', message: 'could not publish k to s3://b: denied for ***' }],
    });
    expect(heard).toEqual([
      ['warning', 'PUBLISH_FAILED'],
      ['detail', 'LINKED_BY'],
      ['summary', 'PUBLISHED_BY_OTHER'],
    ]);
  });

  it('a document without warnings still says so', () => {
    let stdout = '';
    createReporter({ stdout: { write: (t: string) => (stdout += t) }, stderr: { write: () => true } }, 0).document({ key: 'k' });
    expect(JSON.parse(stdout)).toEqual({ key: 'k', warnings: [] });
  });

  it('the library makes no words of its own: it says what happens as events', () => {
    const src = path.resolve('src');
    const words: string[] = [];
    for (const name of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
      if (!name.endsWith('.ts') || /^(cli|report)\//.test(name)) continue;
      const text = readFileSync(path.join(src, name), 'utf8');
      for (const m of text.matchAll(/\.(info|warn|detail|done)\(\s*[`'"]/g)) words.push(`${name}: ${m[0]}`);
    }
    expect(words).toEqual([]);
  });
});
