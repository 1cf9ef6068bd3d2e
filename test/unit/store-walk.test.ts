import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalArchive } from '../../src/archive/save.js';
import { sha256Hex } from '../../src/archive/tree-digest.js';
import type { RestoreJob } from '../../src/install/read/read-job.js';
import { restoreFromStores } from '../../src/install/restore.js';
import { platformOf } from '../../src/python/fingerprint.js';
import { recordingReporter } from '../helpers/events.js';
import { testFingerprint } from '../helpers/manifest.js';
import { MemoryStore } from '../helpers/memory-store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'terrarium-walk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const python = testFingerprint();

/** A job restoring `k` from these stores into a fresh staging folder; `events` has what it said. */
function job(stores: MemoryStore[], more: Partial<RestoreJob> = {}): RestoreJob & { events: ReturnType<typeof recordingReporter>['events'] } {
  const { reporter, events } = recordingReporter();
  return {
    events,
    settings: { requireDownload: false, link: undefined, allowOutsidePaths: false },
    key: 'k',
    python,
    staging: path.join(dir, `staging-${Math.random().toString(16).slice(2)}`),
    target: path.join(dir, 'target'),
    stores,
    local: undefined,
    trusted: [],
    check: async () => undefined,
    confirm: async () => undefined,
    unreachable: new Set(),
    linksOutside: new Set(),
    reporter,
    ...more,
  };
}

/** An archive whose bytes are not the ones its sha256 names: what a damaged store serves. */
function damaged(platform = platformOf(python)): LocalArchive {
  const file = path.join(dir, 'damaged.tar.zst');
  writeFileSync(file, 'not the recorded bytes');
  return { path: file, sha256: sha256Hex(Buffer.from('other bytes')), size: 22, codec: 'zstd', unpackedSize: 1, entries: 1, platform };
}

describe('the store walk', () => {
  it('passes over stores that are down, and names them for publishing to leave out', async () => {
    const [a, b] = [new MemoryStore('memory://a'), new MemoryStore('memory://b')];
    a.faults.down = true;
    const walk = job([a, b]);
    expect(await restoreFromStores(walk)).toBeUndefined();
    expect([...walk.unreachable]).toEqual([a]);
    expect(walk.events.filter((e) => e.level === 'warning')).toEqual([expect.objectContaining({ code: 'STORE_UNREACHABLE', store: 'memory://a' })]);
    expect(walk.events.map((e) => e.code)).toContain('STORE_LOOKUP');
  });

  it('under --require-download, a store that is down is the error', async () => {
    const a = new MemoryStore('memory://a');
    a.faults.down = true;
    await expect(restoreFromStores(job([a], { settings: { requireDownload: true, link: undefined, allowOutsidePaths: false } }))).rejects.toMatchObject({
      code: 'STORAGE_UNREACHABLE',
    });
  });

  it('takes an archive for another platform as a miss, and leaves it', async () => {
    const a = new MemoryStore();
    await a.publish('k', damaged({ ...platformOf(python), machine: 'riscv64' }), 't');
    const walk = job([a]);
    expect(await restoreFromStores(walk)).toBeUndefined();
    expect(walk.unreachable.size).toBe(0);
    expect(await a.archives('k')).toHaveLength(1);
    expect(walk.events).toContainEqual(expect.objectContaining({ level: 'info', code: 'OTHER_PLATFORM_ONLY', key: 'k' }));
  });

  it('removes a damaged archive from the store that served it, and goes on to the next store', async () => {
    const [a, b] = [new MemoryStore('memory://a'), new MemoryStore('memory://b')];
    await a.publish('k', damaged(), 't');
    await b.publish('k', damaged(), 't');
    const walk = job([a, b]);
    expect(await restoreFromStores(walk)).toBeUndefined();
    expect(await a.archives('k')).toEqual([]);
    expect(await b.archives('k')).toEqual([]);
    const refused = walk.events.filter((e) => e.code === 'BUILDING_INSTEAD').map((e) => e.code === 'BUILDING_INSTEAD' && e.refused);
    expect(refused).toEqual([
      expect.objectContaining({ store: 'memory://a', reason: 'ARCHIVE_CORRUPT', removal: 'removed' }),
      expect.objectContaining({ store: 'memory://b', reason: 'ARCHIVE_CORRUPT', removal: 'removed' }),
    ]);
  });

  it('with trusted keys, passes over an unsigned archive and leaves it for those who trust none', async () => {
    const a = new MemoryStore();
    await a.publish('k', damaged(), 't');
    const key = { id: '0000000000000000', key: new Uint8Array(32) } as never;
    const walk = job([a], { trusted: [key] });
    expect(await restoreFromStores(walk)).toBeUndefined();
    expect(await a.archives('k')).toHaveLength(1);
    expect(walk.events).toContainEqual(
      expect.objectContaining({ code: 'BUILDING_INSTEAD', refused: expect.objectContaining({ reason: 'ARCHIVE_UNTRUSTED', untrusted: true }) }),
    );
  });

  it('under --require-download, a damaged archive is the error once every store has been tried', async () => {
    const a = new MemoryStore();
    await a.publish('k', damaged(), 't');
    const walk = job([a], { settings: { requireDownload: true, link: undefined, allowOutsidePaths: false } });
    await expect(restoreFromStores(walk)).rejects.toMatchObject({ code: 'ARCHIVE_CORRUPT' });
    expect(await a.archives('k')).toEqual([]);
  });
});
