import { describeCause } from '../errors.js';
import { type LineChange, lineChanges, linesInCommon, shownLine } from '../key/line-diff.js';
import type { ResolvedKey } from '../key/resolve.js';
import { formatAge } from '../report/format.js';
import type { Reporter } from '../report/reporter.js';
import { printable } from '../stores/lease.js';
import { isWritable, type Store } from '../stores/store.js';

/** The stored environment closest to a missed key, and what differs. */
export interface Nearest {
  key: string;
  created: string;
  store: string;
  changes: LineChange[];
}

/** Records read per store, stores searched, and the time a miss may spend on explaining itself. */
const SEARCH = { records: 50, stores: 3, ms: 3000 };

/**
 * Among the newest records of the stores searched whose keys start as this one does (same
 * architecture and Python under the default key format), the one with the most requirement lines in
 * common. Never fails a run: a store that cannot be listed in time is left out.
 */
export async function findNearest(stores: readonly Store[], resolved: ResolvedKey, reporter: Reporter, signal?: AbortSignal): Promise<Nearest | undefined> {
  const at = resolved.key.indexOf(resolved.digest);
  if (at < 0) return undefined;
  const lines = resolved.inputs.lines.map(shownLine);
  const bounded = AbortSignal.any([AbortSignal.timeout(SEARCH.ms), ...(signal ? [signal] : [])]);
  const searched = stores.filter(isWritable).slice(0, SEARCH.stores);
  const found = await Promise.all(
    searched.map(async (store) => {
      try {
        const records = await store.list({ keyPrefix: resolved.key.slice(0, at), newest: SEARCH.records, signal: bounded });
        return records
          .filter((r) => r.key !== resolved.key && r.requirements)
          .map((record) => ({ record, store, common: linesInCommon(lines, record.requirements!) }));
      } catch (error) {
        reporter.detail({ code: 'NEAREST_SKIPPED', store: store.description, cause: describeCause(error) });
        return [];
      }
    }),
  );
  const best = found.flat().reduce<(typeof found)[number][number] | undefined>((a, b) => {
    if (!a || b.common > a.common) return b;
    return b.common === a.common && Date.parse(b.record.created) > Date.parse(a.record.created) ? b : a;
  }, undefined);
  if (!best?.common) return undefined;
  const { record, store } = best;
  return { key: record.key, created: record.created, store: store.description, changes: lineChanges(record.requirements!.map(printableLine), lines) };
}

const printableLine = (line: string) => printable(line, 300);

/** "nearest is KEY (built 2 days ago, in STORE): a==1 -> a==2, + b": at most `shown` changes named. */
export function describeNearest(nearest: Nearest, now = Date.now(), shown = 6): string {
  const age = formatAge(now - Date.parse(nearest.created));
  const changes = nearest.changes.slice(0, shown).map(describeChange);
  const more = nearest.changes.length - changes.length;
  const what = changes.length
    ? `: ${changes.join(', ')}${more > 0 ? `, and ${more} more` : ''}`
    : ' (the same lines; artifact hashes or the digest type differ)';
  return `nearest is ${printable(nearest.key, 120)} (built ${age} ago, in ${nearest.store})${what}`;
}

export function describeChange(change: LineChange): string {
  return change.kind === 'changed' ? `${change.from} -> ${change.to}` : change.kind === 'added' ? `+ ${change.line}` : `- ${change.line}`;
}
