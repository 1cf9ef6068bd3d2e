/** One thing the cache holds, as `cache ls` shows it and eviction weighs it. */
export interface CacheEntry {
  key: string;
  kind: 'archive' | 'unpacked copy';
  bytes: number;
  /** When it was last used (looked up, linked from or added), in ms since the epoch. */
  used: number;
}

export interface EvictionRule {
  /** Drop the least recently used until the rest fit. */
  maxBytes?: number | undefined;
  /** Drop whatever was last used before this time (ms since the epoch). */
  unusedSince?: number | undefined;
  /** Never dropped (what this run just added). */
  spare?: string | undefined;
}

/** Which entries a rule drops, least recently used first. Pure: `cache prune --dry-run` shows exactly this. */
export function evictionPlan(entries: readonly CacheEntry[], rule: EvictionRule): CacheEntry[] {
  const byAge = [...entries].sort((a, b) => a.used - b.used);
  let total = byAge.reduce((sum, entry) => sum + entry.bytes, 0);
  const dropped: CacheEntry[] = [];
  for (const entry of byAge) {
    if (entry.key === rule.spare) continue;
    const stale = rule.unusedSince !== undefined && entry.used < rule.unusedSince;
    const over = rule.maxBytes !== undefined && total > rule.maxBytes;
    if (!stale && !over) continue;
    dropped.push(entry);
    total -= entry.bytes;
  }
  return dropped;
}
