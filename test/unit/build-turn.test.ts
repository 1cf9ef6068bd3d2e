import { beforeEach, describe, expect, it } from 'vitest';
import { TerrariumError } from '../../src/errors.js';
import { awaitTurn, endLease } from '../../src/install/build-lease.js';
import { platformOf } from '../../src/python/fingerprint.js';
import type { LeaseHolder } from '../../src/stores/lease.js';
import { recordFor } from '../../src/stores/record.js';
import { recordName } from '../../src/stores/store.js';
import { documentOf } from '../../src/stores/variants.js';
import { recordingReporter } from '../helpers/events.js';
import { testFingerprint } from '../helpers/manifest.js';
import { MemoryStore } from '../helpers/memory-store.js';

const platform = platformOf(testFingerprint());
const { reporter, events } = recordingReporter();
beforeEach(() => {
  events.length = 0;
});
const holder: LeaseHolder = { hostname: 'builder-1', host: 'deadbeef', pid: 42, nonce: 'n', since: new Date().toISOString() };
const turn = (store: MemoryStore, buildWaitSeconds: number) => awaitTurn({ key: 'k', platform, store, buildWaitSeconds, reporter });

/** A record of `k` for this platform, as another runner's publication leaves it. */
const published = () =>
  `${JSON.stringify(documentOf([recordFor('k', { path: '', sha256: 'a'.repeat(64), size: 1, codec: 'zstd', unpackedSize: 1, entries: 1, platform }, 'other')]))}\n`;

describe('whose turn it is to build', () => {
  it('a free lease: build here, holding it', async () => {
    const result = await turn(new MemoryStore(), 300);
    expect(result.kind).toBe('build');
    expect(result.kind === 'build' && result.lease).toBeTruthy();
  });

  it('a lease held by another runner and --build-wait 0: build here at once, without it', async () => {
    const store = new MemoryStore();
    store.faults.take = () => ({ kind: 'busy', holder: holder });
    expect(await turn(store, 0)).toEqual({ kind: 'build', lease: undefined });
    expect(events).toEqual([expect.objectContaining({ level: 'detail', code: 'BUILDING_TOO', key: 'k', holder })]);
  });

  it('another runner publishes while this one waits: restore its archive', async () => {
    const store = new MemoryStore();
    let polls = 0;
    store.faults.take = (s) => {
      if (++polls === 2) s.put(recordName('k'), published());
      return { kind: 'busy', holder: holder };
    };
    const result = await turn(store, 300);
    expect(result.kind).toBe('published');
    expect(result.waited?.host).toBe('builder-1');
    expect(events.map((e) => [e.level, e.code])).toEqual([
      ['info', 'BUILD_WAITING'],
      ['summary', 'WAIT_ENDED'],
    ]);
    expect(events[1]).toMatchObject({ next: 'published' });
  });

  it("the builder's failure, which any runner would meet, fails the waiters fast", async () => {
    const store = new MemoryStore();
    store.faults.take = () => ({ kind: 'busy', holder: holder });
    store.faults.failure = { holder: holder, at: new Date().toISOString(), code: 'BUILD_PIP_FAILED', message: 'pip install failed (exit 1)' };
    await expect(turn(store, 300)).rejects.toMatchObject({ code: 'BUILD_FAILED_ELSEWHERE' });
  });

  it('a build that fails as any runner would leaves its failure with the lease; an interrupted one does not', async () => {
    const store = new MemoryStore();
    const first = await turn(store, 300);
    await endLease(first.kind === 'build' ? first.lease : undefined, new TerrariumError('BUILD_PIP_FAILED', 'pip failed', { hint: '' }), undefined);
    const second = await turn(store, 300);
    const interrupted = AbortSignal.abort();
    await endLease(second.kind === 'build' ? second.lease : undefined, new TerrariumError('BUILD_PIP_FAILED', 'pip failed', { hint: '' }), interrupted);
    expect(store.released).toEqual([{ code: 'BUILD_PIP_FAILED', message: 'pip failed' }, undefined]);
  });
});
