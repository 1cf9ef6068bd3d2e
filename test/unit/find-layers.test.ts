import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type Layer, layersDigest } from '../../src/archive/layers.js';
import { interpreterTag, type Provenance, provenanceId } from '../../src/archive/provenance.js';
import { layerFinder, type Wanted } from '../../src/install/assemble/find-layers.js';
import { platformOf } from '../../src/python/fingerprint.js';
import { generateKeyPair, parsePublicKey } from '../../src/sign/minisign.js';
import { formatIndex } from '../../src/stores/layer-index.js';
import type { ArchiveRecord, Store } from '../../src/stores/store.js';
import { testFingerprint } from '../helpers/manifest.js';

const platform = platformOf(testFingerprint());
const tag = interpreterTag(platform)!;
const ART = 'a'.repeat(64);
const wanted: Wanted = { dist: 'numpy', version: '2.0', artifacts: [ART], requested: true, pins: [`sha256:${ART}`] };

const layer = (name: string, sha: string, provenance?: Provenance): Layer => ({
  name,
  sha256: sha,
  size: 1,
  unpackedSize: 1,
  entries: 1,
  tree: 'f'.repeat(64),
  provenance,
});
const recordOf = (key: string, layers: Layer[], recordPlatform = platform): ArchiveRecord => ({
  format: 2,
  key,
  sha256: layersDigest(layers),
  size: layers.length,
  codec: 'zstd',
  created: '2026-01-01T00:00:00Z',
  tool: 't',
  platform: recordPlatform,
  layers,
});

/** A store of records and index entries in memory, counting what it is asked. */
function store(records: ArchiveRecord[], entries: Record<string, string>) {
  const asked = { index: 0, records: 0 };
  const s: Store = {
    description: 'memory',
    remote: true,
    archives: async () => [],
    lookup: async (key) => {
      asked.records += 1;
      return records.find((r) => r.key === key);
    },
    open: async () => undefined as unknown as Readable,
    openBlob: async () => undefined as unknown as Readable,
    signature: async () => undefined,
    index: {
      read: async (id) => {
        asked.index += 1;
        return entries[id];
      },
    },
  };
  return { store: s, asked };
}

const good = { dist: 'numpy', version: '2.0', artifact: ART, tag };
const id = provenanceId(good);
const sha = (n: number) => n.toString(16).padStart(64, '0');
const context = { platform, tag, trusted: [] };

describe('finding stored layers for a miss', () => {
  it('takes a layer whose signed provenance is the wanted install, from a record of this platform', async () => {
    const { store: s, asked } = store([recordOf('k', [layer('environment', sha(1)), layer('numpy-2.0', sha(2), good)])], {
      [id]: formatIndex([{ key: 'k', layer: sha(2) }]),
    });
    const found = await layerFinder([s], context)([wanted]);
    expect(found.map((f) => f.layer.sha256)).toEqual([sha(2)]);
    expect(asked).toEqual({ index: 1, records: 1 });
  });

  it.each<[string, Provenance | undefined, ArchiveRecord['platform']?]>([
    ['no provenance', undefined],
    ['another interpreter', { ...good, tag: 'cpython-312-x86_64-linux-gnu.linux.x86_64.glibc' }],
    ['another version', { ...good, version: '1.26' }],
    ['another wheel', { ...good, artifact: 'b'.repeat(64) }],
    ['a record for another CPU', good, { ...platform, machine: 'aarch64' }],
  ])('passes over a layer the index names but the record gives %s', async (_, provenance, recordPlatform) => {
    const { store: s } = store([recordOf('k', [layer('environment', sha(1)), layer('numpy-2.0', sha(2), provenance)], recordPlatform)], {
      [id]: formatIndex([{ key: 'k', layer: sha(2) }]),
    });
    expect(await layerFinder([s], context)([wanted])).toEqual([]);
  });

  it('with trusted keys, passes over a record no trusted key signed', async () => {
    const { store: s } = store([recordOf('k', [layer('environment', sha(1)), layer('numpy-2.0', sha(2), good)])], {
      [id]: formatIndex([{ key: 'k', layer: sha(2) }]),
    });
    const trusted = parsePublicKey(generateKeyPair().publicFile);
    expect(await layerFinder([s], { ...context, trusted: [trusted] })([wanted])).toEqual([]);
  });

  it('reads a bounded number of records however many an index names', async () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, layer: sha(i + 10) }));
    const dists = Array.from({ length: 50 }, (_, i): Wanted => ({ ...wanted, dist: `d${i}` }));
    const entries = Object.fromEntries(dists.map((d, i) => [provenanceId({ ...good, dist: d.dist }), formatIndex(many.slice(i * 4, i * 4 + 4))]));
    const { store: s, asked } = store([], entries);
    expect(await layerFinder([s], context)(dists)).toEqual([]);
    expect(asked.index).toBe(50);
    expect(asked.records).toBeLessThanOrEqual(32);
  });
});
