import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/archive/entry.js';
import { type Layer, layersDigest, layersDocument, planLayers, recordPaths } from '../../src/archive/layers.js';
import { parseRecord } from '../../src/stores/record.js';

const file = (path: string, size = 1): Entry => ({ path, type: 'file', mode: 0o644, mtime: 0, size });
const dir = (path: string): Entry => ({ path, type: 'directory', mode: 0o755, mtime: 0, size: 0 });
const SITE = 'lib/python3.11/site-packages';

describe('planLayers', () => {
  const entries: Entry[] = [
    dir('bin'),
    file('bin/activate'),
    file('bin/tool'),
    file('pyvenv.cfg'),
    dir(SITE),
    file(`${SITE}/b/__init__.py`),
    file(`${SITE}/b/__pycache__/__init__.cpython-311.pyc`),
    file(`${SITE}/a/mod.py`),
    file(`${SITE}/a/__pycache__/mod.cpython-311.opt-1.pyc`),
    file(`${SITE}/a-1.0.dist-info/METADATA`),
    file(`${SITE}/a-1.0.dist-info/RECORD`),
    file(`${SITE}/a-1.0.dist-info/REQUESTED`),
    file(`${SITE}/a-1.0.dist-info/direct_url.json`),
    file(`${SITE}/b-2.0.dist-info/METADATA`),
    file(`${SITE}/loose.py`),
    file(`${SITE}/loose/__pycache__/x.cpython-311.pyc`),
  ];
  const claims = [
    { name: 'b-2.0', files: [`${SITE}/b/__init__.py`, `${SITE}/b-2.0.dist-info/METADATA`, `${SITE}/a/mod.py`] },
    {
      name: 'a-1.0',
      files: [
        `${SITE}/a/mod.py`,
        'bin/tool',
        `${SITE}/a-1.0.dist-info/METADATA`,
        `${SITE}/a-1.0.dist-info/RECORD`,
        `${SITE}/a-1.0.dist-info/REQUESTED`,
        `${SITE}/a-1.0.dist-info/direct_url.json`,
      ],
    },
  ];
  const plan = planLayers(entries, claims);
  const paths = (name: string) => plan.find((layer) => layer.name === name)?.entries.map((entry) => entry.path);

  it('gives each distribution the files its RECORD claims, sorted, and the bytecode of its modules', () => {
    expect(plan.map((layer) => layer.name)).toEqual(['environment', 'a-1.0', 'b-2.0']);
    expect(paths('a-1.0')).toEqual(['bin/tool', `${SITE}/a-1.0.dist-info/METADATA`, `${SITE}/a/__pycache__/mod.cpython-311.opt-1.pyc`, `${SITE}/a/mod.py`]);
    expect(paths('b-2.0')).toEqual([`${SITE}/b-2.0.dist-info/METADATA`, `${SITE}/b/__init__.py`, `${SITE}/b/__pycache__/__init__.cpython-311.pyc`]);
  });

  it('keeps in the environment layer what differs between environments, what no RECORD claims, and every directory', () => {
    expect(paths('environment')).toEqual([
      'bin',
      'bin/activate',
      'pyvenv.cfg',
      SITE,
      `${SITE}/a-1.0.dist-info/RECORD`,
      `${SITE}/a-1.0.dist-info/REQUESTED`,
      `${SITE}/a-1.0.dist-info/direct_url.json`,
      `${SITE}/loose.py`,
      `${SITE}/loose/__pycache__/x.cpython-311.pyc`,
    ]);
  });

  it('places every entry exactly once, whatever the claims', () => {
    const placed = plan.flatMap((layer) => layer.entries.map((entry) => entry.path));
    expect(placed.sort()).toEqual(entries.map((entry) => entry.path).sort());
    // Claim order does not matter: a file two distributions claim goes to the first by name.
    expect(planLayers(entries, [...claims].reverse())).toEqual(plan);
  });
});

describe('recordPaths', () => {
  it.each([
    ['plain rows', 'a/b.py,sha256=x,10\nc.txt,,\n', ['a/b.py', 'c.txt']],
    ['quoted paths with commas and quotes', '"a,b.py",sha256=x,1\r\n"say ""hi"".txt",,\n', ['a,b.py', 'say "hi".txt']],
    ['scripts outside site-packages', '../../../bin/tool,sha256=y,3\n', ['../../../bin/tool']],
    ['blank lines', '\n\nx.py,,\n', ['x.py']],
  ])('%s', (_, text, paths) => {
    expect(recordPaths(text)).toEqual(paths);
  });
});

describe('a layered record', () => {
  const layers: Layer[] = [
    { name: 'environment', sha256: 'a'.repeat(64), size: 10, unpackedSize: 100, entries: 5 },
    { name: 'numpy-2.1.0', sha256: 'b'.repeat(64), size: 20, unpackedSize: 200, entries: 7 },
  ];
  const base = { format: 2, key: 'k', codec: 'zstd', created: '2026-01-01T00:00:00Z', tool: 't', size: 30, unpackedSize: 300, entries: 12 };
  const parse = (fields: Record<string, unknown>) => parseRecord(JSON.stringify({ ...base, sha256: layersDigest(layers), layers, ...fields }), 'k');

  it('is read when its sha256 is that of its layers document and its counts are their sums', () => {
    expect(parse({})?.layers).toEqual(layers);
    expect(layersDocument(layers)).toBe(`terrarium-layers 1\n${'a'.repeat(64)} 10 100 5 environment\n${'b'.repeat(64)} 20 200 7 numpy-2.1.0\n`);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a sha256 that is not its layers', { sha256: 'c'.repeat(64) }],
    ['a size that is not their sum', { size: 31 }],
    ['an entry count that is not their sum', { entries: 13 }],
    ['a layer with a name that could be anything', { layers: [layers[0], { ...layers[1], name: '../x y' }] }],
    ['a layer without a digest', { layers: [layers[0], { ...layers[1], sha256: undefined }] }],
    ['no layers', { layers: [] }],
    ['too many layers', { layers: Array.from({ length: 1001 }, () => layers[0]) }],
    [
      'a tree digest that is not one',
      {
        layers: [
          { ...layers[0], tree: 'x' },
          { ...layers[1], tree: 'y' },
        ],
      },
    ],
  ])('is absent with %s', (_, fields) => {
    expect(parse(fields)).toBeUndefined();
  });

  it("carries each layer's tree digest in a document of version 2, which the sha256 (and a signature) covers", () => {
    const withTrees = layers.map((layer, i) => ({ ...layer, tree: String(i + 1).repeat(64) }));
    expect(layersDocument(withTrees)).toBe(
      `terrarium-layers 2\n${'a'.repeat(64)} 10 100 5 ${'1'.repeat(64)} environment\n${'b'.repeat(64)} 20 200 7 ${'2'.repeat(64)} numpy-2.1.0\n`,
    );
    const read = parseRecord(JSON.stringify({ ...base, sha256: layersDigest(withTrees), layers: withTrees }), 'k');
    expect(read?.layers).toEqual(withTrees);
    // A tree digest changed, or dropped from one layer only: the sha256 no longer holds, or the document is neither version.
    const changed = [withTrees[0], { ...withTrees[1], tree: '3'.repeat(64) }];
    expect(parseRecord(JSON.stringify({ ...base, sha256: layersDigest(withTrees), layers: changed }), 'k')).toBeUndefined();
    const mixed = [withTrees[0], layers[1]];
    expect(parseRecord(JSON.stringify({ ...base, sha256: layersDigest(mixed as Layer[]), layers: mixed }), 'k')).toBeUndefined();
  });

  it('keeps only the known fields of each layer', () => {
    const planted = layers.map((layer) => ({ ...layer, url: 'http://elsewhere' }));
    expect(parse({ layers: planted })?.layers).toEqual(layers);
  });
});
