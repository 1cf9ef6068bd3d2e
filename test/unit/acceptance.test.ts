import { describe, expect, it } from 'vitest';
import { platformOf } from '../../src/python/fingerprint.js';
import { acceptManifest, acceptSignature, LinksOutside } from '../../src/stores/acceptance.js';
import { testFingerprint, testManifest } from '../helpers/manifest.js';

const here = testFingerprint('/usr/bin/python3');
const site = { key: 'k', python: here, allowOutsidePaths: false };
const built = testManifest('/old/env');

describe('would an install here take this archive', () => {
  it.each([
    ['an archive for this interpreter, its record true', built, { platform: platformOf(built.python) }, site, undefined],
    ['a record without a platform (before variants)', built, {}, site, undefined],
    [
      'a record that lies about its platform',
      built,
      { platform: { ...platformOf(built.python), version: [3, 12] as [number, number] } },
      site,
      'ARCHIVE_CORRUPT',
    ],
    ['an archive for another minor version', testManifest('/old/env', { python: { ...here, version: [3, 12, 1] } }), undefined, site, 'PYTHON_INCOMPATIBLE'],
    [
      'a link outside the environment',
      testManifest('/old/env', { externalLinks: [{ path: 'lib/x', target: '/etc/passwd' }] }),
      undefined,
      site,
      'ARCHIVE_UNTRUSTED',
    ],
    [
      'a link outside with --allow-outside-paths',
      testManifest('/old/env', { externalLinks: [{ path: 'lib/x', target: '/etc/passwd' }] }),
      undefined,
      { ...site, allowOutsidePaths: true },
      undefined,
    ],
  ])('%s', (_name, manifest, record, where, code) => {
    const decide = () => acceptManifest(manifest, record, where);
    if (code === undefined) expect(decide).not.toThrow();
    else expect(decide).toThrow(expect.objectContaining({ code }));
  });

  it('tells a link outside apart (a build without one may replace it)', () => {
    const outside = testManifest('/old/env', { externalLinks: [{ path: 'lib/x', target: '/etc/passwd' }] });
    expect(() => acceptManifest(outside, undefined, site)).toThrow(LinksOutside);
  });

  it('asks nothing of a signature without trusted keys, and refuses a missing one with them', () => {
    expect(acceptSignature(undefined, { key: 'k', sha256: 'a'.repeat(64) }, [])).toBeUndefined();
    expect(() => acceptSignature(undefined, { key: 'k', sha256: 'a'.repeat(64) }, [{ id: '0', key: new Uint8Array(32) } as never])).toThrow(
      expect.objectContaining({ code: 'ARCHIVE_UNTRUSTED', message: expect.stringContaining('not signed') }),
    );
  });
});
