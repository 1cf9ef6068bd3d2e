import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/archive/entry.js';
import { layersDocument } from '../../src/archive/layers.js';
import { interpreterTag } from '../../src/archive/provenance.js';
import { parsePipReport, pipHasReport } from '../../src/env/pip-report.js';
import { recordText } from '../../src/install/assemble/dist-record.js';
import { layerProblem } from '../../src/install/assemble/layer-check.js';
import { distributionOf } from '../../src/install/assemble/layer-provenance.js';
import { formatIndex, MAX_INDEX_REFS, parseIndex, withRef } from '../../src/stores/layer-index.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('the parts of an assembly', () => {
  it.each([
    ['22.1.2', false],
    ['22.2', true],
    ['23.0.1', true],
    ['', false],
  ])('pip %s writes a report: %s', (version, has) => expect(pipHasReport(version)).toBe(has));

  it('reads what pip reports: a wheel by its sha256, an sdist or a direct URL as such, nothing malformed', () => {
    const item = (name: string, url: string, extra: object = {}) => ({
      metadata: { name, version: '1.0' },
      download_info: { url, archive_info: { hash: `sha256=${A}` } },
      ...extra,
    });
    const report = JSON.stringify({
      install: [
        item('Terra_Demo', 'file:///w/terra_demo-1.0-py3-none-any.whl', { requested: true }),
        item('x', 'https://h/x-1.0.tar.gz'),
        item('y', 'file:///src/y', { is_direct: true }),
        { metadata: {} },
      ],
    });
    expect(parsePipReport(report)).toEqual([
      { dist: 'terra-demo', version: '1.0', artifact: A, wheel: true, requested: true, direct: false },
      { dist: 'x', version: '1.0', artifact: A, wheel: false, requested: false, direct: false },
      { dist: 'y', version: '1.0', artifact: A, wheel: false, requested: false, direct: true },
    ]);
    expect(parsePipReport('not json')).toBeUndefined();
    expect(parsePipReport('{"install": 3}')).toBeUndefined();
  });

  it.each([
    ['terra_demo-1.0', { dist: 'terra-demo', version: '1.0' }],
    ['Zope.Interface-5.0_post1', { dist: 'zope-interface', version: '5.0_post1' }],
    ['environment', undefined],
    ['interpreter-cpython-3.12.1', undefined],
  ])('layer %s is the distribution %o', (name, expected) => expect(distributionOf(name)).toEqual(expected));

  it('names an interpreter by its SOABI, OS, CPU and libc, and none without a SOABI', () => {
    expect(interpreterTag({ soabi: 'cpython-312-x86_64-linux-gnu', system: 'Linux', machine: 'x86_64', libc: 'glibc' })).toBe(
      'cpython-312-x86_64-linux-gnu.linux.x86_64.glibc',
    );
    expect(interpreterTag({ soabi: '', system: 'Linux', machine: 'x86_64', libc: 'glibc' })).toBeUndefined();
  });

  it('signs a provenance: the layers document is of version 3 when a layer has one', () => {
    const layer = { name: 'numpy-2.1.0', sha256: A, size: 1, unpackedSize: 2, entries: 3, tree: B };
    expect(layersDocument([layer])).toMatch(/^terrarium-layers 2\n/);
    const provenance = { dist: 'numpy', version: '2.1.0', artifact: B, tag: 't' };
    expect(layersDocument([{ ...layer, provenance }])).toBe(`terrarium-layers 3\n${A} 1 2 3 ${B} numpy-2.1.0 numpy 2.1.0 ${B} t\n`);
  });

  it('keeps an index entry small and well formed, the newest reference first', () => {
    const refs = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, layer: A }));
    expect(parseIndex(formatIndex(refs))).toHaveLength(MAX_INDEX_REFS);
    expect(parseIndex(`terrarium-index 1\n../x aaa\nk ${A} extra\n`)).toEqual([]);
    expect(parseIndex(undefined)).toEqual([]);
    expect(withRef([{ key: 'k', layer: A }], { key: 'k', layer: A })).toBeUndefined();
    expect(withRef([{ key: 'k', layer: A }], { key: 'j', layer: B })).toEqual([
      { key: 'j', layer: B },
      { key: 'k', layer: A },
    ]);
  });

  it('writes RECORD as pip does: sorted as Python sorts, quoted as csv quotes, CRLF', () => {
    expect(
      recordText([
        ['pkg/b.py', 'sha256=x', '1'],
        ['pkg-1.0.dist-info/RECORD', '', ''],
        ['a,b.py', 'sha256=y', '2'],
      ]),
    ).toBe('"a,b.py",sha256=y,2\r\npkg-1.0.dist-info/RECORD,,\r\npkg/b.py,sha256=x,1\r\n');
  });

  const SITE = 'lib/python3.12/site-packages';
  const file = (path: string, type: Entry['type'] = 'file'): Entry => ({ path, type, mode: 0o644, size: 0, mtime: 0 }) as Entry;
  const metadata = (name: string, version: string) => () => `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n\nbody`;
  it.each([
    [[file(`${SITE}/numpy/__init__.py`), file(`${SITE}/numpy-2.0.dist-info/METADATA`)], metadata('numpy', '2.0'), undefined],
    [[file(`${SITE}/numpy-1.26.dist-info/METADATA`)], metadata('numpy', '1.26'), 'it installs numpy 1.26, not numpy 2.0'],
    [[file('lib/python3.11/site-packages/numpy-2.0.dist-info/METADATA')], metadata('numpy', '2.0'), 'which no distribution installs'],
    [[file(`${SITE}/numpy-2.0.dist-info/METADATA`), file('pyvenv.cfg')], metadata('numpy', '2.0'), 'pyvenv.cfg, which no distribution'],
    [[file(`${SITE}/numpy-2.0.dist-info/METADATA`), file('bin/python3')], metadata('numpy', '2.0'), 'bin/python3'],
    [[file(`${SITE}/numpy-2.0.dist-info/METADATA`), file(`${SITE}/numpy-2.0.dist-info/RECORD`)], metadata('numpy', '2.0'), 'RECORD'],
    [[file(`${SITE}/numpy-2.0.dist-info/METADATA`), file(`${SITE}/x`, 'symlink')], metadata('numpy', '2.0'), 'a link'],
    [[file(`${SITE}/numpy/__init__.py`)], metadata('numpy', '2.0'), 'one .dist-info folder'],
    [[file(`${SITE}/a-1.dist-info/METADATA`), file(`${SITE}/numpy-2.0.dist-info/METADATA`)], metadata('numpy', '2.0'), 'one .dist-info folder'],
  ])('holds a layer to what was resolved (%#)', (entries, read, problem) => {
    const checked = layerProblem(entries, { dist: 'numpy', version: '2.0' }, { siteRel: SITE, binary: new Set(), metadata: read });
    if (problem === undefined) expect(checked).toEqual({ distInfo: `${SITE}/numpy-2.0.dist-info` });
    else expect(checked.problem).toContain(problem);
  });
});
