import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tagFor } from '../../src/stores/oci/reference.js';
import { type CliResult, Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, RegistryProxy, RegistryServer } from '../helpers/registry.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A real registry (CNCF distribution, basic auth) on loopback, behind a proxy that logs and misbehaves; skopeo reads what terrarium pushed. */
describe('OCI registry store', () => {
  const box = new Sandbox();
  const registry = new RegistryServer('basic');
  const proxy = new RegistryProxy(registry);
  const outputs: CliResult[] = [];
  const credentials = { TERRARIUM_OCI_USERNAME: REGISTRY_USER, TERRARIUM_OCI_PASSWORD: REGISTRY_PASSWORD };
  const repository = () => `${proxy.host}/team/envs`;
  const signer = box.path('keys', 'builder.key');
  let key: string;

  const terrarium = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const result = await box.terrarium(args, { ...credentials, ...env });
    outputs.push(result);
    return result;
  };
  /** A machine of its own: its own cache. */
  const machine = (name: string) => ({ XDG_CACHE_HOME: box.path(`cache-${name}`) });
  const manifestOf = (repo: string, tag: string) =>
    JSON.parse(registry.skopeo(['inspect', '--raw', ...registry.skopeoCredentials(undefined), `docker://${registry.host}/${repo}:${tag}`])) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: Array<{ mediaType: string; digest: string; annotations?: Record<string, string> }>;
      annotations: Record<string, string>;
    };
  const uploadsSince = (from: number) => proxy.since(from).filter((r) => r.method === 'POST' && /\/blobs\/uploads\/$/.test(r.path.split('?')[0]!)).length;

  beforeAll(async () => {
    await registry.start();
    await proxy.start();
    box.write('requirements.txt', 'terra-demo\n');
    box.write('more.txt', 'terra-demo\nterra-pth\n');
    key = (await box.terrarium(['key', 'requirements.txt'])).stdout.trim();
    mkdirSync(box.path('keys'));
    expect((await box.terrarium(['keygen', signer])).code).toBe(0);
  });
  afterAll(async () => {
    for (const { stdout, stderr } of outputs) expect(stdout + stderr).not.toContain(REGISTRY_PASSWORD);
    await proxy.stop();
    await registry.stop();
    box.cleanup();
  });

  it('a miss builds and pushes: the key is a tag, the record the config, a layer per distribution; another machine restores it', async () => {
    const built = await terrarium(
      ['-V', '--sign-key', signer, '--oci-repository', repository(), '-t', box.path('built'), 'install', 'requirements.txt'],
      machine('a'),
    );
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toContain(`published to oci://${repository()}`);
    // No build lease in a registry: said under -V, and the build goes on.
    expect(built.stderr).toContain('a registry cannot hold one');
    const manifest = manifestOf('team/envs', key);
    expect(manifest.mediaType).toBe(MANIFEST);
    expect(manifest.config.mediaType).toBe('application/vnd.terrarium.record.v1+json');
    const titles = manifest.layers.map((l) => l.annotations?.['org.opencontainers.image.title']);
    expect(titles[0]).toBe('environment');
    expect(titles).toEqual(expect.arrayContaining(['terra_demo-1.0', 'terra_dep-1.0']));
    expect(new Set(manifest.layers.map((l) => l.mediaType))).toEqual(new Set(['application/vnd.terrarium.layer.v1.tar+zstd']));
    expect(manifest.annotations['dev.terrarium.key']).toBe(key);
    expect(manifest.annotations['dev.terrarium.signature']).toMatch(/^untrusted comment: /);
    const record = JSON.parse(
      registry.skopeo(['inspect', '--raw', '--config', ...registry.skopeoCredentials(undefined), `docker://${registry.host}/team/envs:${key}`]),
    ) as { key: string; layers: Array<{ sha256: string }> };
    expect(record.key).toBe(key);
    expect(record.layers.map((l) => `sha256:${l.sha256}`)).toEqual(manifest.layers.map((l) => l.digest));

    const from = proxy.log.length;
    const restored = await terrarium(
      ['--trust-key', `${signer}.pub`, '--oci-repository', repository(), '--require-download', '-t', box.path('restored'), 'install', 'requirements.txt'],
      machine('b'),
    );
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toContain(`from oci://${repository()}`);
    expect(envState(box.path('restored'))).toBe('terra_demo');
    // A restore only reads.
    expect(proxy.since(from).filter((r) => !['GET', 'HEAD'].includes(r.method))).toEqual([]);

    const listed = await terrarium(['--oci-repository', repository(), '--json', 'ls']);
    const stores = (JSON.parse(listed.stdout) as { stores: Array<{ store: string; archives: Array<{ key: string }> }> }).stores;
    expect(stores.find((s) => s.store.startsWith('oci://'))?.archives.map((a) => a.key)).toEqual([key]);
    expect((await terrarium(['--oci-repository', repository(), 'exists', 'requirements.txt'])).code).toBe(0);
    const inspected = await terrarium(['--oci-repository', repository(), 'inspect', key], machine('c'));
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toContain('terra_demo-1.0');
  });

  it('the signature travels in the manifest: a manifest pushed again without it is refused by a trusting runner', async () => {
    const original = Buffer.from(await (await registry.api('GET', `team/envs/manifests/${key}`, undefined, { accept: MANIFEST })).arrayBuffer());
    const stripped = JSON.parse(original.toString()) as { annotations: Record<string, string> };
    delete stripped.annotations['dev.terrarium.signature'];
    try {
      expect((await registry.api('PUT', `team/envs/manifests/${key}`, JSON.stringify(stripped), { 'content-type': MANIFEST })).status).toBe(201);
      const refused = await terrarium(
        ['--trust-key', `${signer}.pub`, '--oci-repository', repository(), '--require-download', '-t', box.path('unsigned'), 'install', 'requirements.txt'],
        machine('unsigned'),
      );
      expect(refused.code).toBe(6);
      expect(refused.stderr).toMatch(/not signed/);
      expect(envState(box.path('unsigned'))).toBe('missing');
    } finally {
      expect((await registry.api('PUT', `team/envs/manifests/${key}`, original, { 'content-type': MANIFEST })).status).toBe(201);
    }
  });

  it('a second key pushes only its new blobs; the shared ones are found with HEAD', async () => {
    const from = proxy.log.length;
    const built = await terrarium(['--oci-repository', repository(), '-t', box.path('more'), 'install', 'more.txt'], machine('a'));
    expect(built.code, built.stderr).toBe(0);
    // The environment's layer, terra-pth's, and the record: three uploads; pip, setuptools, terra-demo and terra-dep were there.
    expect(uploadsSince(from)).toBe(3);
    expect(proxy.since(from).filter((r) => r.method === 'HEAD' && r.status === 200).length).toBeGreaterThanOrEqual(3);
    const tags = JSON.parse(registry.skopeo(['list-tags', ...registry.skopeoCredentials(undefined), `docker://${registry.host}/team/envs`])) as {
      Tags: string[];
    };
    expect(tags.Tags).toHaveLength(2);
  });

  it('blob reads redirected to another host get no credentials; a cut download resumes; a 429 waits its Retry-After', async () => {
    proxy.redirectBlobs = true;
    proxy.cut = { match: /\/blobs\/sha256:/, times: 1, afterBytes: 100_000 };
    proxy.tooMany = { match: /\/manifests\//, times: 1, retryAfter: '1' };
    try {
      const restored = await terrarium(
        ['-V', '--oci-repository', repository(), '--require-download', '-t', box.path('redirected'), 'install', 'requirements.txt'],
        machine('d'),
      );
      expect(restored.code, restored.stderr).toBe(0);
      expect(envState(box.path('redirected'))).toBe('terra_demo');
      expect(proxy.cdnRequests).toBeGreaterThan(0);
      expect(proxy.cdnAuthorizations).toEqual([]);
      expect(restored.stderr).toMatch(/HTTP 429; trying again in 1\.0 s/);
    } finally {
      proxy.redirectBlobs = false;
      proxy.tooMany = undefined;
    }
    // The cut: the proxy cut the first large blob read without a redirect; run it again with redirects off.
    proxy.cut = { match: /\/blobs\/sha256:/, times: 1, afterBytes: 100_000 };
    const resumed = await terrarium(
      ['--oci-repository', repository(), '--require-download', '-t', box.path('resumed'), 'install', 'requirements.txt'],
      machine('e'),
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/oci:\/\/\S+: download of layer \S+ broke at byte \d+ \(.*\); resuming \(retry 1 of 3\)/);
    expect(proxy.log.some((r) => r.method === 'GET' && /\/blobs\//.test(r.path) && r.status === 206)).toBe(true);
    expect(envState(box.path('resumed'))).toBe('terra_demo');
    proxy.cut = undefined;
  });

  it('credentials: wrong ones are refused, none are asked for, Docker config and credential helpers are read', async () => {
    const wrong = await terrarium(['--oci-repository', repository(), 'exists', 'requirements.txt'], { TERRARIUM_OCI_PASSWORD: 'not-the-password-1234' });
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain(`refused the credentials from TERRARIUM_OCI_USERNAME and TERRARIUM_OCI_PASSWORD for ${proxy.host}/team/envs`);
    expect(wrong.stderr).not.toContain('not-the-password-1234');
    const none = await terrarium(['--oci-repository', repository(), 'exists', 'requirements.txt'], { TERRARIUM_OCI_USERNAME: '', TERRARIUM_OCI_PASSWORD: '' });
    expect(none.code).toBe(5);
    expect(none.stderr).toContain(`the registry asks for credentials to pull from ${proxy.host}/team/envs (scope repository:team/envs:pull)`);
    expect(none.stderr).toContain(`docker login ${proxy.host}`);

    const dockerConfig = box.path('docker');
    mkdirSync(dockerConfig, { recursive: true });
    const auth = Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64');
    writeFileSync(`${dockerConfig}/config.json`, JSON.stringify({ auths: { [proxy.host]: { auth } } }));
    const fromConfig = await terrarium(['--oci-repository', repository(), 'exists', 'requirements.txt'], {
      TERRARIUM_OCI_USERNAME: '',
      TERRARIUM_OCI_PASSWORD: '',
      DOCKER_CONFIG: dockerConfig,
    });
    expect(fromConfig.code, fromConfig.stderr).toBe(0);

    // A credential helper, as docker-credential-helpers speak: the server on stdin, JSON on stdout.
    const bin = box.path('helper-bin');
    mkdirSync(bin, { recursive: true });
    const helper = `${bin}/docker-credential-terratest`;
    writeFileSync(
      helper,
      `#!/bin/sh\nread server\necho "$server" > "${bin}/asked"\necho '{"ServerURL":"'$server'","Username":"${REGISTRY_USER}","Secret":"${REGISTRY_PASSWORD}"}'\n`,
    );
    chmodSync(helper, 0o755);
    writeFileSync(`${dockerConfig}/config.json`, JSON.stringify({ credHelpers: { [proxy.host]: 'terratest' } }));
    const fromHelper = await terrarium(['--oci-repository', repository(), 'exists', 'requirements.txt'], {
      TERRARIUM_OCI_USERNAME: '',
      TERRARIUM_OCI_PASSWORD: '',
      DOCKER_CONFIG: dockerConfig,
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(fromHelper.code, fromHelper.stderr).toBe(0);
  });

  it('skopeo copies what terrarium pushed to an OCI layout and on to another repository, which terrarium restores', async () => {
    const layout = box.path('layout');
    registry.skopeo(['copy', ...registry.skopeoCredentials('src'), `docker://${registry.host}/team/envs:${key}`, `oci:${layout}:${key}`]);
    registry.skopeo(['copy', ...registry.skopeoCredentials('dest'), `oci:${layout}:${key}`, `docker://${registry.host}/team/copied:${key}`]);
    const restored = await terrarium(
      ['--oci-repository', `${proxy.host}/team/copied`, '--require-download', '-t', box.path('copied'), 'install', 'requirements.txt'],
      machine('f'),
    );
    expect(restored.code, restored.stderr).toBe(0);
    expect(envState(box.path('copied'))).toBe('terra_demo');
  });

  it('a key with / gets a tag of its own alphabet; beside a storage directory, the build lease lives there', async () => {
    const format = ['--remote-key-format', 'team-a/%(arch)s-%(python_vmajor)s.%(python_vminor)s-%(digest)s'];
    const built = await terrarium(
      ['-V', ...format, '--storage-dir', box.store, '--oci-repository', repository(), '-t', box.path('folder'), 'install', 'requirements.txt'],
      machine('g'),
    );
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).not.toContain('a registry cannot hold one');
    const tags = JSON.parse(registry.skopeo(['list-tags', ...registry.skopeoCredentials(undefined), `docker://${registry.host}/team/envs`])) as {
      Tags: string[];
    };
    expect(tags.Tags).toContain(tagFor(`team-a/${key}`));
    expect(tagFor(`team-a/${key}`)).toMatch(/^_team-a_2fx86_5f64-/);
    const restored = await terrarium(
      [...format, '--oci-repository', repository(), '--require-download', '-t', box.path('folder-2'), 'install', 'requirements.txt'],
      machine('h'),
    );
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toContain(`restored team-a/${key} from oci://`);
  });

  it('prune deletes tags and manifests, never blobs', async () => {
    const dry = await terrarium(['--oci-repository', repository(), '--json', 'prune', '--keep', '1', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const wouldGo = (JSON.parse(dry.stdout) as { deleted: Array<{ key: string }> }).deleted;
    expect(wouldGo.length).toBe(2);
    const pruned = await terrarium(['--oci-repository', repository(), '--json', 'prune', '--keep', '1']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const listed = JSON.parse(registry.skopeo(['list-tags', ...registry.skopeoCredentials(undefined), `docker://${registry.host}/team/envs`])) as {
      Tags: string[] | null;
    };
    expect(listed.Tags ?? []).toHaveLength(1);
    const [left] = listed.Tags ?? [];
    const manifest = manifestOf('team/envs', left!);
    for (const layer of manifest.layers) expect((await registry.api('HEAD', `team/envs/blobs/${layer.digest}`)).status).toBe(200);
  });
});
