import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layersDigest } from '../../src/archive/layers.js';
import { checkManifest, type Manifest } from '../../src/archive/manifest.js';
import { checkIndex, checkTreeIndex, treesOf, UNPACKED_FORMAT } from '../../src/cache/unpacked-index.js';
import { TerrariumError } from '../../src/errors.js';
import { testManifest } from '../helpers/manifest.js';

const HOSTILE_PATHS = [
  '../x',
  '../../etc/passwd',
  '/etc/passwd',
  'a/../../b',
  '',
  '.',
  'a\0b',
  '.terrarium',
  '.terrarium/manifest.json',
  7,
  null,
  { path: 'x' },
];

type Mutation = [string, (m: Manifest, value: unknown) => void];
const PATH_FIELDS: Mutation[] = [
  ['text', (m, v) => (m.text as unknown[]).push(v)],
  ['binary', (m, v) => (m.binary as unknown[]).push(v)],
  ['interpreterLinks', (m, v) => (m.interpreterLinks as unknown[]).push(v)],
  ['externalLinks[].path', (m, v) => (m.externalLinks as unknown[]).push({ path: v, target: '/srv/data' })],
];

/** A manifest comes from an archive or the cache: every path in it is attacker input. */
describe('checkManifest', () => {
  it('accepts what terrarium writes', () => {
    const m = testManifest('/old/env', {
      text: ['bin/pip'],
      binary: ['lib/x.so'],
      interpreterLinks: ['bin/python3', 'bin/python3.11'],
      externalLinks: [{ path: 'lib/data', target: '/srv/data' }],
    });
    expect(checkManifest(structuredClone(m))).toEqual(m);
  });

  for (const [field, put] of PATH_FIELDS) {
    it.each(HOSTILE_PATHS.map((value) => [JSON.stringify(value) ?? String(value), value]))(`refuses ${field} = %s`, (_, value) => {
      const m = testManifest();
      put(m, value);
      expect(() => checkManifest(m)).toThrow(TerrariumError);
    });
  }

  it.each<[string, (m: Record<string, unknown>) => void]>([
    ['an external link to a relative target', (m) => ((m.externalLinks as unknown[]) = [{ path: 'x', target: 'etc/passwd' }])],
    ['an interpreter link outside bin/', (m) => ((m.interpreterLinks as unknown[]) = ['lib/python3'])],
    ['a relative prefix', (m) => (m.prefix = 'old/env')],
    ['no interpreter', (m) => delete m.python],
    ['an interpreter version that is not three numbers', (m) => ((m.python as Record<string, unknown>).version = ['3', '11'])],
    ['a list that is not one', (m) => (m.text = 'bin/pip')],
  ])('refuses %s', (_, change) => {
    const m = testManifest() as unknown as Record<string, unknown>;
    change(m);
    expect(() => checkManifest(m)).toThrow(TerrariumError);
  });

  it.each([[[]], [null], ['manifest'], [42]])('refuses %j for a manifest', (value) => {
    expect(() => checkManifest(value)).toThrow(TerrariumError);
  });

  it("never returns a path that leaves the environment or enters terrarium's folder, whatever the input", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PATH_FIELDS),
        fc.array(fc.constantFrom('..', '.', '', 'a', '.terrarium', 'bin', 'python3', '/')).map((parts) => parts.join('/')),
        ([, put], value) => {
          const m = testManifest();
          put(m, value);
          let checked: Manifest;
          try {
            checked = checkManifest(m);
          } catch (error) {
            expect(error).toBeInstanceOf(TerrariumError);
            return;
          }
          for (const p of [...checked.text, ...checked.binary, ...checked.interpreterLinks, ...checked.externalLinks.map((l) => l.path)]) {
            expect(p.split('/')).not.toContain('..');
            expect(p.startsWith('/')).toBe(false);
            expect(p === '.terrarium' || p.startsWith('.terrarium/')).toBe(false);
          }
        },
      ),
    );
  });
});

describe("checkTreeIndex (an unpacked tree's index in the cache)", () => {
  const index = () => ({
    format: UNPACKED_FORMAT,
    manifestText: JSON.stringify(testManifest()),
    bytes: 3,
    sha256: 'a'.repeat(64),
    entries: [
      { path: 'bin', type: 'directory', mode: 0o755, mtime: 0, size: 0 },
      { path: 'bin/tool', type: 'file', mode: 0o755, mtime: 0, size: 3, sha256: 'b'.repeat(64) },
      { path: 'lib64', type: 'symlink', mode: 0o777, mtime: 0, size: 0, linkname: 'lib' },
    ],
  });

  it('accepts what terrarium writes', () => expect(checkTreeIndex(index(), 'a'.repeat(64))).toBeDefined());
  it('accepts a tree without a manifest (a layer after the first)', () => {
    const { manifestText: _, ...rest } = index();
    expect(checkTreeIndex(rest, 'a'.repeat(64))).toBeDefined();
  });

  it.each<[string, (i: ReturnType<typeof index>) => void]>([
    ['another digest', (i) => (i.sha256 = 'c'.repeat(64))],
    ['another format', (i) => (i.format = 2 as typeof UNPACKED_FORMAT)],
    ['a hostile manifest path', (i) => (i.manifestText = JSON.stringify({ ...testManifest(), externalLinks: [{ path: '../../x', target: '/etc' }] }))],
    ['a hostile interpreter link', (i) => (i.manifestText = JSON.stringify({ ...testManifest(), interpreterLinks: ['../../bin/python'] }))],
    ['an entry of an unknown type', (i) => (i.entries as unknown[]).push({ path: 'dev', type: 'character-device' })],
    ['a file without a size', (i) => (i.entries as unknown[]).push({ path: 'x', type: 'file', mode: 0o644, mtime: 0 })],
    ['a symlink without a target', (i) => (i.entries as unknown[]).push({ path: 'x', type: 'symlink' })],
    ['a digest that is not one', (i) => (i.entries as unknown[]).push({ path: 'x', type: 'file', mode: 0o644, mtime: 0, size: 1, sha256: '../x' })],
    ['a negative size', (i) => (i.bytes = -1)],
  ])('refuses %s', (_, change) => {
    const i = index();
    change(i);
    expect(checkTreeIndex(i, 'a'.repeat(64))).toBeUndefined();
  });
});

describe("checkIndex (a key's unpacked copy in the cache)", () => {
  const layers = [
    { name: 'environment', sha256: 'a'.repeat(64), size: 10, unpackedSize: 30, entries: 3 },
    { name: 'numpy-2.0', sha256: 'b'.repeat(64), size: 20, unpackedSize: 60, entries: 5 },
  ];
  const index = () => ({ format: UNPACKED_FORMAT, key: 'k', bytes: 90, sha256: layersDigest(layers), layers: layers.map((layer) => ({ ...layer })) });

  it('accepts what terrarium writes, with its layers as trees', () => {
    const checked = checkIndex(index(), 'k')!;
    expect(treesOf(checked)).toEqual([
      { sha256: 'a'.repeat(64), bytes: 30 },
      { sha256: 'b'.repeat(64), bytes: 60 },
    ]);
  });
  it('accepts a format 1 archive as one tree', () => {
    const { layers: _, ...rest } = index();
    expect(treesOf(checkIndex({ ...rest, sha256: 'c'.repeat(64) }, 'k')!)).toEqual([{ sha256: 'c'.repeat(64), bytes: 90 }]);
  });

  it.each<[string, (i: ReturnType<typeof index>) => void]>([
    ['another key', (i) => (i.key = 'other')],
    ['another format', (i) => (i.format = 4 as typeof UNPACKED_FORMAT)],
    ['layers its digest does not cover', (i) => (i.layers[1]!.sha256 = 'c'.repeat(64))],
    ['a layer named like a path', (i) => (i.layers[1]!.name = '../x')],
    ['a negative size', (i) => (i.bytes = -1)],
    ['no archive digest', (i) => delete (i as Partial<typeof i>).sha256],
    [
      'one tree named many times (each would be read again)',
      (i) => {
        i.layers = Array.from({ length: 150 }, () => ({ ...layers[0]! }));
        i.sha256 = layersDigest(i.layers);
      },
    ],
  ])('refuses %s', (_, change) => {
    const i = index();
    change(i);
    expect(checkIndex(i, 'k')).toBeUndefined();
  });
});
