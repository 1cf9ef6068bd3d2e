import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalArchive } from '../../src/archive/save.js';
import type { Platform } from '../../src/python/fingerprint.js';
import { platformOf } from '../../src/python/fingerprint.js';
import { createReporter } from '../../src/report/reporter.js';
import { OciStore } from '../../src/stores/oci/oci-store.js';
import { parseOciReference } from '../../src/stores/oci/reference.js';
import { RegistryClient } from '../../src/stores/oci/registry-client.js';
import { Repository } from '../../src/stores/oci/repository.js';
import { bufferBody } from '../../src/stores/oci/transport.js';
import { recordFor } from '../../src/stores/record.js';
import { type ArchiveRecord, blobName } from '../../src/stores/store.js';
import { Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { testFingerprint } from '../helpers/manifest.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, RegistryServer } from '../helpers/registry.js';

/**
 * A registry with token authentication (a token server of the tests' own signs the JWTs the registry
 * trusts): the bearer flow, scopes, anonymous pulls, and the store's mapping seen from its API.
 */
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

describe('OCI registry store: bearer tokens, variants, hostile manifests', () => {
  const box = new Sandbox();
  const registry = new RegistryServer('token');
  const quiet = createReporter({ stdout: { write: () => true }, stderr: { write: () => true } }, 0);
  const requests = { retries: 1, timeoutSeconds: 10 };
  const sources = (withCredentials: boolean) => ({
    username: withCredentials ? REGISTRY_USER : undefined,
    password: withCredentials ? REGISTRY_PASSWORD : undefined,
    dockerConfig: undefined,
    env: {},
  });
  const store = (repository: string, withCredentials = true) =>
    new OciStore(
      { reference: parseOciReference(`${registry.host}/${repository}`, false), credentials: sources(withCredentials), mountFrom: [] },
      requests,
      quiet,
    );
  const credentials = { TERRARIUM_OCI_USERNAME: REGISTRY_USER, TERRARIUM_OCI_PASSWORD: REGISTRY_PASSWORD };
  let key: string;

  /** The seeded demo archive, as a publish hands it to a store. */
  function seeded(): LocalArchive {
    const record = JSON.parse(readFileSync(path.join(box.store, `${key}.json`), 'utf8')) as ArchiveRecord;
    return { ...record, path: '', layers: record.layers!.map((layer) => ({ ...layer, path: path.join(box.store, blobName(layer.sha256)) })) };
  }

  beforeAll(async () => {
    await registry.start();
    box.write('requirements.txt', 'terra-demo\n');
    key = await box.seed('demo');
  });
  afterAll(async () => {
    await registry.stop();
    box.cleanup();
  });

  it('publishes with a push token and restores with pull-only tokens; anonymous pulls where the registry allows them', async () => {
    expect((await store('team/envs').publish(key, seeded(), 'test')).outcome).toBe('published');
    expect((await store('public/envs').publish(key, seeded(), 'test')).outcome).toBe('published');
    expect(registry.tokenRequests.some((r) => r.scopes.includes('repository:team/envs:pull,push') && r.user === REGISTRY_USER)).toBe(true);

    registry.tokenRequests.length = 0;
    const restored = await box.terrarium(
      ['--oci-repository', `${registry.host}/team/envs`, '--require-download', '-t', box.path('restored'), 'install', 'requirements.txt'],
      credentials,
    );
    expect(restored.code, restored.stderr).toBe(0);
    expect(envState(box.path('restored'))).toBe('terra_demo');
    expect(registry.tokenRequests.length).toBeGreaterThan(0);
    expect(registry.tokenRequests.flatMap((r) => r.scopes).every((scope) => scope.endsWith(':pull'))).toBe(true);

    const anonymous = await box.terrarium(
      ['--oci-repository', `${registry.host}/public/envs`, '--require-download', '-t', box.path('anonymous'), 'install', 'requirements.txt'],
      {
        XDG_CACHE_HOME: box.path('cache-anonymous'),
      },
    );
    expect(anonymous.code, anonymous.stderr).toBe(0);
    expect(envState(box.path('anonymous'))).toBe('terra_demo');
    // A reader without push (a fork's pull request) builds a miss, is denied the publish, and installs all the same.
    box.write('dep.txt', 'terra-dep\n');
    const readOnly = await box.terrarium(['--oci-repository', `${registry.host}/public/envs`, '-t', box.path('read-only'), 'install', 'dep.txt'], {
      XDG_CACHE_HOME: box.path('cache-anonymous'),
    });
    expect(readOnly.code, readOnly.stderr).toBe(0);
    expect(readOnly.stderr).toMatch(/warning: .*the registry asks for credentials to push to 127\.0\.0\.1:\d+\/public\/envs/);
    expect(envState(box.path('read-only'))).toBe('empty');

    const denied = await box.terrarium(['--oci-repository', `${registry.host}/team/envs`, 'exists', 'requirements.txt'], {
      XDG_CACHE_HOME: box.path('cache-denied'),
    });
    expect(denied.code).toBe(5);
    expect(denied.stderr).toContain(`the registry asks for credentials to pull from ${registry.host}/team/envs (scope repository:team/envs:pull)`);
    const wrong = await box.terrarium(['--oci-repository', `${registry.host}/team/envs`, 'exists', 'requirements.txt'], {
      TERRARIUM_OCI_USERNAME: REGISTRY_USER,
      TERRARIUM_OCI_PASSWORD: 'wrong-password-5e2a',
      XDG_CACHE_HOME: box.path('cache-wrong'),
    });
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain('the registry refused the credentials from TERRARIUM_OCI_USERNAME and TERRARIUM_OCI_PASSWORD');
    expect(wrong.stderr).not.toContain('wrong-password-5e2a');
  });

  it('archives of one key for two platforms: an image index with platform descriptors; each platform finds its own; discarding one leaves a manifest', async () => {
    const platform = (libc: string, machine: string): Platform => ({ ...platformOf(testFingerprint()), libc, machine, soabi: `cpython-311-${libc}` });
    const [amd, arm] = [platform('glibc', 'x86_64'), platform('glibc', 'aarch64')];
    const archive = (text: string, on: Platform): LocalArchive => {
      const file = box.write(`variant-${text}`, text);
      return {
        path: file,
        sha256: createHash('sha256').update(text).digest('hex'),
        size: text.length,
        codec: 'zstd',
        unpackedSize: 0,
        entries: 0,
        platform: on,
      };
    };
    expect((await store('team/variants').publish('k', archive('amd one', amd), 'test')).outcome).toBe('published');
    expect((await store('team/variants').publish('k', archive('arm one', arm), 'test')).outcome).toBe('published');
    expect((await store('team/variants').publish('k', archive('amd two', amd), 'test')).outcome).toBe('present');
    const index = JSON.parse((await (await registryApi('GET', 'team/variants/manifests/k')).text()) || '{}') as {
      mediaType: string;
      manifests: Array<{ platform: unknown }>;
    };
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
    ]);
    const reader = store('team/variants');
    expect((await reader.lookup('k', arm))?.platform?.machine).toBe('aarch64');
    await reader.discard((await reader.lookup('k', arm))!);
    expect(await store('team/variants').lookup('k', arm)).toBeUndefined();
    expect((await store('team/variants').lookup('k', amd))?.platform?.machine).toBe('x86_64');
    const manifest = JSON.parse(await (await registryApi('GET', 'team/variants/manifests/k')).text()) as { mediaType: string };
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('manifests that lie are no archive: a record naming other layers than its manifest, an index of too many', async () => {
    const archive = seeded();
    const record = recordFor(key, archive, 'test');
    await store('team/hostile').publish(key, archive, 'test');
    const published = (await store('team/hostile').lookup(key))!;
    expect(published.sha256).toBe(record.sha256);
    const bytes = Buffer.from(await (await registryApi('GET', `team/hostile/manifests/${key}`)).arrayBuffer());
    const good = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    const plant = async (manifest: unknown, mediaType: string) => {
      const put = await registryApi('PUT', `team/hostile/manifests/${key}`, JSON.stringify(manifest), { 'content-type': mediaType });
      expect(put.status, await put.text()).toBe(201);
    };
    const parsed = JSON.parse(good.bytes.toString()) as { layers: unknown[] };
    await plant({ ...parsed, layers: parsed.layers.slice(1) }, MANIFEST);
    expect(await store('team/hostile').lookup(key)).toBeUndefined();
    // The genuine manifest is in the repository by digest: an index may name it once, not seventeen times.
    const child = { mediaType: MANIFEST, digest: `sha256:${good.sha256}`, size: good.bytes.length };
    await registryApi('PUT', `team/hostile/manifests/sha256:${good.sha256}`, good.bytes.toString(), { 'content-type': MANIFEST });
    await plant({ schemaVersion: 2, mediaType: INDEX, manifests: Array(17).fill(child) }, INDEX);
    expect(await store('team/hostile').lookup(key)).toBeUndefined();
    const missed = await box.terrarium(['--no-cache', '--oci-repository', `${registry.host}/team/hostile`, 'exists', 'requirements.txt'], credentials);
    expect(missed.code, missed.stderr).toBe(1);
    await plant({ schemaVersion: 2, mediaType: INDEX, manifests: [child] }, INDEX);
    expect((await store('team/hostile').lookup(key))?.sha256).toBe(record.sha256);
  });

  it('pushes a large blob in chunks, and mounts a blob another repository of the registry has', async () => {
    const reference = parseOciReference(`${registry.host}/team/chunks`, false);
    const repository = new Repository(new RegistryClient(reference, requests, sources(true)), 10, 1, [], 1 << 20);
    const bytes = randomBytes((5 << 19) + 123);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const progress = { bytes: 0 };
    expect(await repository.pushBlob({ bytes, sha256, size: bytes.length }, progress)).toBe('uploaded');
    expect(progress.bytes).toBe(bytes.length);
    expect(await repository.blobSize(sha256)).toBe(bytes.length);
    expect(await repository.pushBlob({ bytes, sha256, size: bytes.length })).toBe('present');
    const read = await repository.openBlob(sha256, () => undefined);
    const chunks: Buffer[] = [];
    for await (const chunk of read!) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);

    const sibling = new Repository(new RegistryClient(parseOciReference(`${registry.host}/team/sibling`, false), requests, sources(true)), 10, 1, [
      'team/chunks',
    ]);
    expect(await sibling.pushBlob({ bytes, sha256, size: bytes.length })).toBe('mounted');
    expect(await sibling.blobSize(sha256)).toBe(bytes.length);
  });

  /** The registry's API with a token of the tests' user for the repository named first in `pathName`. */
  async function registryApi(method: string, pathName: string, body?: string, headers: Record<string, string> = {}): Promise<Response> {
    const repository = pathName.split('/').slice(0, 2).join('/');
    const reference = parseOciReference(`${registry.host}/${repository}`, false);
    const client = new RegistryClient(reference, requests, sources(true));
    const answer = await client.request({
      method: method as 'GET',
      path: pathName.split('/').slice(2).join('/'),
      action: method === 'GET' ? 'pull' : 'push',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json', ...headers },
      ...(body === undefined ? {} : { body: bufferBody(Buffer.from(body), headers['content-type']) }),
    });
    const chunks: Buffer[] = [];
    for await (const chunk of answer.body) chunks.push(chunk as Buffer);
    return new Response(answer.status === 204 ? null : Buffer.concat(chunks), { status: answer.status });
  }
});
