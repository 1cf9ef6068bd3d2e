import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { platformOf } from '../../src/python/fingerprint.js';
import { parseChallenge, scopesFor } from '../../src/stores/oci/challenge.js';
import { blobOf, configOf, manifestMatches, manifestOf, ociPlatform, parseTagTarget } from '../../src/stores/oci/manifest.js';
import { keyOfTag, parseMountSource, parseOciReference, tagFor } from '../../src/stores/oci/reference.js';
import { parseToken } from '../../src/stores/oci/registry-client.js';
import { retryAfterMs } from '../../src/stores/oci/transport.js';
import type { ArchiveRecord } from '../../src/stores/store.js';
import { isStorageKey } from '../../src/stores/store.js';
import { testFingerprint } from '../helpers/manifest.js';

describe('OCI references', () => {
  it.each([
    ['ghcr.io/acme/python-envs', { registry: 'ghcr.io', endpoint: 'ghcr.io', repository: 'acme/python-envs', plainHttp: false }],
    ['oci://ghcr.io/acme/python-envs', { registry: 'ghcr.io', endpoint: 'ghcr.io', repository: 'acme/python-envs', plainHttp: false }],
    ['127.0.0.1:5000/envs', { registry: '127.0.0.1:5000', endpoint: '127.0.0.1:5000', repository: 'envs', plainHttp: true }],
    ['localhost/team/envs', { registry: 'localhost', endpoint: 'localhost', repository: 'team/envs', plainHttp: true }],
    ['acme/envs', { registry: 'docker.io', endpoint: 'registry-1.docker.io', repository: 'acme/envs', plainHttp: false }],
    ['envs', { registry: 'docker.io', endpoint: 'registry-1.docker.io', repository: 'library/envs', plainHttp: false }],
    [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/envs',
      {
        registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        endpoint: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        repository: 'envs',
        plainHttp: false,
      },
    ],
  ])('%s', (text, expected) => {
    expect(parseOciReference(text, false)).toEqual(expected);
  });

  it('--oci-insecure makes any registry plain HTTP', () => {
    expect(parseOciReference('registry.lan:5000/envs', true).plainHttp).toBe(true);
  });

  it.each([
    ['ghcr.io/acme/envs:latest', /no tag/],
    ['ghcr.io/acme/envs@sha256:abc', /no digest/],
    ['https://ghcr.io/acme/envs', /no URL scheme/],
    ['ghcr.io/Acme/envs', /lower-case/],
    ['ghcr.io/acme//envs', /lower-case/],
    ['ghcr.io/', /lower-case/],
  ])('refuses %s', (text, why) => {
    expect(() => parseOciReference(text, false)).toThrow(why);
  });

  it('mount sources are repository paths', () => {
    expect(parseMountSource('acme/base-envs')).toBe('acme/base-envs');
    expect(() => parseMountSource('ghcr.io:443/acme')).toThrow(/--oci-mount-from/);
  });
});

describe('keys as tags', () => {
  it.each([
    ['x86_64-3.11-0123abcd', 'x86_64-3.11-0123abcd'],
    ['team-a/x86_64-3.11-0123', '_team-a_2fx86_5f64-3.11-0123'],
    ['_private', '__5fprivate'],
    ['.hidden', '_.hidden'],
    ['a+b=c@d,e%f', '_a_2bb_3dc_40d_2ce_25f'],
  ])('%s is kept as %s', (key, tag) => {
    expect(tagFor(key)).toBe(tag);
    expect(keyOfTag(tag)).toBe(key);
  });

  it('a key too long for a tag has none; tags terrarium does not write are no key', () => {
    expect(tagFor('k'.repeat(129))).toBeUndefined();
    expect(tagFor('k'.repeat(128))).toBe('k'.repeat(128));
    expect(keyOfTag('_abc')).toBeUndefined();
    expect(keyOfTag('_a_zz')).toBeUndefined();
    expect(keyOfTag('-x')).toBeUndefined();
  });

  it('one key, one tag, and back, for every storage key', () => {
    const key = fc.stringMatching(/^[A-Za-z0-9._+=@,%/-]{1,60}$/).filter(isStorageKey);
    fc.assert(
      fc.property(key, key, (a, b) => {
        const [ta, tb] = [tagFor(a)!, tagFor(b)!];
        expect(ta).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/);
        expect(keyOfTag(ta)).toBe(a);
        if (a !== b) expect(ta).not.toBe(tb);
      }),
    );
  });
});

describe('WWW-Authenticate', () => {
  it.each([
    ['Basic realm="registry"', { scheme: 'basic' }],
    [
      'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/envs:pull"',
      { scheme: 'bearer', realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:acme/envs:pull' },
    ],
    ['bearer realm=https://auth.example/token, service=reg', { scheme: 'bearer', realm: 'https://auth.example/token', service: 'reg', scope: undefined }],
    ['Bearer realm="file:///etc/passwd"', undefined],
    ['Bearer service="x"', undefined],
    ['Negotiate abc', undefined],
    ['', undefined],
  ])('%s', (header, expected) => {
    expect(parseChallenge(header)).toEqual(expected);
  });

  it('a token request asks for our scope and any other the registry named, once each', () => {
    expect(scopesFor('repository:a:pull,push', 'repository:a:pull,push repository:b:pull')).toEqual(['repository:a:pull,push', 'repository:b:pull']);
    expect(scopesFor('repository:a:pull', undefined)).toEqual(['repository:a:pull']);
  });
});

describe('token answers', () => {
  it.each([
    ['{"token":"t","expires_in":300}', { value: 't', expires: 290_000 }],
    ['{"access_token":"a","expires_in":2}', { value: 'a', expires: 1000 }],
    ['{"token":"t"}', { value: 't', expires: 50_000 }],
    ['{"token":""}', undefined],
    ['{"expires_in":300}', undefined],
    ['not json', undefined],
  ])('%s', (text, expected) => {
    expect(parseToken(text, 0)).toEqual(expected);
  });
});

describe('Retry-After', () => {
  it.each([
    ['3', 3000],
    ['0', 0],
    ['3600', 60_000],
    [new Date(1_000_000 + 5000).toUTCString(), 5000],
    ['soon', undefined],
    [undefined, undefined],
  ])('%s', (header, ms) => {
    const now = 1_000_000;
    const waited = retryAfterMs(header, now);
    if (ms === undefined) expect(waited).toBeUndefined();
    else expect(waited).toBeCloseTo(ms, -3);
  });
});

describe('manifests', () => {
  const layer = (n: number) => ({ name: `dist-${n}`, sha256: n.toString(16).padStart(64, '0'), size: 100 + n, unpackedSize: 200, entries: 3 });
  const record: ArchiveRecord = {
    format: 2,
    key: 'k',
    sha256: 'f'.repeat(64),
    size: 201,
    codec: 'zstd',
    created: '2026-12-04T00:00:00.000Z',
    tool: 'test',
    unpackedSize: 400,
    entries: 6,
    layers: [layer(0), layer(1)],
  };
  const manifest = () =>
    JSON.parse(manifestOf(record, configOf(record), 'sig').bytes.toString()) as Record<string, unknown> & { layers: Array<Record<string, unknown>> };
  const parse = (value: unknown) => parseTagTarget(Buffer.from(JSON.stringify(value)));

  it('reads back what it writes, and holds the record to the manifest', () => {
    const parsed = parse(manifest());
    expect(parsed?.kind).toBe('manifest');
    if (parsed?.kind !== 'manifest') return;
    expect(parsed.manifest.signature).toBe('sig');
    expect(manifestMatches(parsed.manifest, record)).toBe(true);
    expect(manifestMatches(parsed.manifest, { ...record, layers: [layer(0), layer(2)] })).toBe(false);
    expect(manifestMatches(parsed.manifest, { ...record, layers: [layer(0)] })).toBe(false);
  });

  it.each<[string, (m: ReturnType<typeof manifest>) => unknown]>([
    ['a foreign layer (urls)', (m) => ({ ...m, layers: [{ ...m.layers[0], urls: ['https://elsewhere/'] }, m.layers[1]] })],
    ['a digest of another algorithm', (m) => ({ ...m, layers: [{ ...m.layers[0], digest: `sha512:${'0'.repeat(128)}` }] })],
    ['a negative size', (m) => ({ ...m, layers: [{ ...m.layers[0], size: -1 }] })],
    ['more layers than a record may have', (m) => ({ ...m, layers: Array(1001).fill(m.layers[0]) })],
    ['no layers', (m) => ({ ...m, layers: [] })],
    ['an image config', (m) => ({ ...m, config: { ...(m.config as object), mediaType: 'application/vnd.oci.image.config.v1+json' } })],
    ['a Docker schema 1 manifest', (m) => ({ ...m, schemaVersion: 1 })],
    [
      'an index of 17',
      () => ({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: Array(17).fill({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }),
      }),
    ],
    [
      'an index naming an index',
      () => ({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }],
      }),
    ],
  ])('refuses %s', (_, change) => {
    expect(parse(change(manifest()))).toBeUndefined();
  });

  it('a signature longer than a signature may be is none', () => {
    const m = manifest();
    const parsed = parse({ ...m, annotations: { 'dev.terrarium.signature': 'x'.repeat(5000) } });
    expect(parsed?.kind === 'manifest' && parsed.manifest.signature).toBeUndefined();
  });

  it('not JSON is nothing', () => {
    expect(parseTagTarget(Buffer.from('{'))).toBeUndefined();
    expect(blobOf(Buffer.from('')).sha256).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('platforms take the names container tools use', () => {
    const platform = platformOf(testFingerprint());
    expect(ociPlatform({ ...platform, system: 'Linux', machine: 'x86_64' })).toEqual({ architecture: 'amd64', os: 'linux' });
    expect(ociPlatform({ ...platform, system: 'Linux', machine: 'aarch64' })).toEqual({ architecture: 'arm64', os: 'linux' });
    expect(ociPlatform({ ...platform, system: 'Darwin', machine: 'arm64' })).toEqual({ architecture: 'arm64', os: 'darwin' });
    expect(ociPlatform(undefined)).toBeUndefined();
  });
});
