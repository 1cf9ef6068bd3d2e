import { describe, expect, it } from 'vitest';
import { type CacheEntry, type EvictionRule, evictionPlan } from '../../src/cache/eviction.js';

const entry = (key: string, bytes: number, used: number, kind: CacheEntry['kind'] = 'archive'): CacheEntry => ({ key, kind, bytes, used });
const old = entry('old', 100, 1);
const mid = entry('mid', 100, 2, 'unpacked copy');
const recent = entry('recent', 100, 3);

describe('eviction plan', () => {
  it.each<[string, EvictionRule, string[]]>([
    ['nothing over the cap', { maxBytes: 300 }, []],
    ['least recently used first, until it fits', { maxBytes: 150 }, ['old', 'mid']],
    ['a cap of zero drops all', { maxBytes: 0 }, ['old', 'mid', 'recent']],
    ['the entry just added is kept even over the cap', { maxBytes: 0, spare: 'recent' }, ['old', 'mid']],
    ['unused since a time', { unusedSince: 3 }, ['old', 'mid']],
    ['both rules: either one drops', { maxBytes: 250, unusedSince: 2 }, ['old']],
    ['no rule drops nothing', {}, []],
  ])('%s', (_, rule, dropped) => expect(evictionPlan([recent, old, mid], rule).map((e) => e.key)).toEqual(dropped));
});
