import type { LocalArchive } from '../archive/save.js';
import { describeCause } from '../errors.js';
import { formatTransfer } from '../report/format.js';
import type { Reporter } from '../report/reporter.js';
import type { PublicKey } from '../sign/minisign.js';
import { acceptStored } from '../stores/acceptance.js';
import { indexLayers } from '../stores/layer-index.js';
import type { ArchiveRecord, PublishResult, Store, WritableStore } from '../stores/store.js';
import { flawOfStored } from '../stores/verify.js';
import { TOOL_VERSION } from '../version.js';

/** Why runners trusting `trusted` would pass over the stored archive, or undefined when they would take it. */
async function untrusted(store: Store, record: ArchiveRecord, trusted: readonly PublicKey[]): Promise<string | undefined> {
  return acceptStored(store, record, trusted).then(
    () => undefined,
    (error: unknown) => describeCause(error),
  );
}

/** What happened at one store: ours is there (published, or in place of a broken one), or another run's was first. */
export interface Publication {
  store: WritableStore;
  outcome: PublishResult['outcome'];
}

/**
 * Publishes a packed archive to every store; a store that fails is a warning, never a failed install.
 * Where another record is in the way, `heal` (a rebuild with --no-download) verifies its archive and
 * replaces it if no one can install it, or if it links outside the environment where ours
 * (`linksOutside` false) does not; `trusted` (given with a signed archive) replaces it if it is
 * not signed by one of those keys, which every runner that trusts them would pass over.
 */
export async function publishEverywhere(
  key: string,
  archive: LocalArchive,
  stores: WritableStore[],
  options: { heal: boolean; linksOutside: boolean; trusted: readonly PublicKey[]; signal: AbortSignal | undefined; reporter: Reporter },
): Promise<Publication[]> {
  const { reporter, signal } = options;
  const done: Publication[] = [];
  for (const store of stores) {
    const sent = { bytes: 0 };
    const started = Date.now();
    try {
      const outcome = await reporter.during(
        `publish to ${store.description}`,
        async (phase) => {
          let result = await store.publish(key, archive, TOOL_VERSION, sent);
          if (result.outcome === 'present' && (options.heal || (archive.signature && options.trusted.length))) {
            const flaw =
              (archive.signature && options.trusted.length ? await untrusted(store, result.record, options.trusted) : undefined) ??
              (options.heal ? await flawOfStored(store, result.record, signal, { linksOutside: options.linksOutside }) : undefined);
            if (flaw) {
              reporter.warn({ code: 'STORED_ARCHIVE_REPLACED', store: store.description, key, flaw });
              result = await store.replace(result.record, archive, TOOL_VERSION, sent);
            }
          }
          if (result.outcome !== 'present' && store.index && archive.layers) {
            const index = store.index;
            // The index is a hint for later misses: without it they run pip, so a failure here is a warning.
            await indexLayers(index, key, archive.layers).catch((error: unknown) => {
              reporter.warn({ code: 'INDEX_NOT_WRITTEN', store: store.description, key, cause: describeCause(error) });
            });
          }
          phase.done(
            result.outcome === 'present'
              ? { code: 'PUBLISHED_BY_OTHER' }
              : { code: 'PUBLISHED', bytes: result.record.size, replaced: result.outcome === 'replaced' },
          );
          return result.outcome;
        },
        () => formatTransfer(sent.bytes, archive.size, Date.now() - started),
      );
      done.push({ store, outcome });
    } catch (error) {
      signal?.throwIfAborted();
      reporter.warn({ code: 'PUBLISH_FAILED', store: store.description, key, cause: describeCause(error) });
    }
  }
  return done;
}
