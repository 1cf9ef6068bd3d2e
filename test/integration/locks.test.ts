import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, Sandbox } from '../helpers/cli.js';
import { ARCH } from '../helpers/python.js';

/** Lock files as input, installed by real pip from the wheels the tests build. */
describe('lock files', () => {
  const box = new Sandbox();
  // The lock says where its wheels are: pip gets no find-links of its own.
  const { PIP_FIND_LINKS: _, ...lockEnv } = box.env;
  const store = (...args: string[]) => ['--storage-dir', box.store, '--no-cache', ...args];
  const wheel = (prefix: string) => readdirSync(box.wheels).find((name) => name.startsWith(prefix))!;
  const sha256 = (name: string) =>
    createHash('sha256')
      .update(readFileSync(path.join(box.wheels, name)))
      .digest('hex');
  const demo = wheel('terra_demo-');
  const dep = wheel('terra_dep-');

  /** A pylock.toml as uv writes one: terra-demo and its dependency, a wheel for another platform, a package for Windows only. */
  const pylock = (depHash = sha256(dep), created = 'uv') => `lock-version = "1.0"
created-by = "${created}"
requires-python = ">=3.7"

[[packages]]
name = "terra-demo"
version = "1.0"
wheels = [{ path = "wheels/${demo}", hashes = { sha256 = "${sha256(demo)}" } }]

[[packages]]
name = "terra_dep"
version = "1.0"
[[packages.wheels]]
path = "wheels/terra_dep-1.0-cp311-cp311-win_amd64.whl"
hashes = { sha256 = "${'1'.repeat(64)}" }
[[packages.wheels]]
path = "wheels/${dep}"
hashes = { sha256 = "${depHash}" }

[[packages]]
name = "terra-winonly"
version = "1.0"
marker = "sys_platform == 'win32'"
wheels = [{ url = "https://files.example.org/terra_winonly-1.0-py3-none-any.whl", hashes = { sha256 = "${'2'.repeat(64)}" } }]
`;

  const target = box.path('env');
  let first: Awaited<ReturnType<Sandbox['terrarium']>>;
  beforeAll(async () => {
    box.write('pylock.toml', pylock());
    first = await box.terrarium(store('-t', target, 'install', 'pylock.toml'), lockEnv);
  });
  afterAll(() => box.cleanup());

  it('installs exactly the lock from the artifacts it names, and keys it by the resolved set', async () => {
    expect(first.stderr).toContain('2 packages installed');
    expect(first.code).toBe(0);
    expect((await box.exec(path.join(target, 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
    const key = (await box.main(['key', 'pylock.toml'])).stdout.trim();
    expect(existsSync(path.join(box.store, `${key}.json`))).toBe(true);
    // Another generator, another order of packages: the same environment, so the same key.
    const blocks = pylock(sha256(dep), 'pdm').split('\n[[packages]]\n');
    box.write('pylock.other.toml', [blocks[0], ...blocks.slice(1).reverse()].join('\n[[packages]]\n'));
    expect((await box.main(['key', 'pylock.other.toml'])).stdout.trim()).toBe(key);
    const hit = await box.terrarium(store('-t', box.path('again'), 'install', 'pylock.other.toml'), lockEnv);
    expect(hit.code).toBe(0);
    expect(hit.stderr).not.toContain('building');
  });

  it("fails with pip's hash error when an artifact is not the locked one; the environment stays", async () => {
    box.write('pylock.bad.toml', pylock('0'.repeat(64)));
    const result = await box.terrarium(store('-t', target, 'install', 'pylock.bad.toml'), lockEnv);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('DO NOT MATCH THE HASHES');
    expect(result.stderr).toContain('pip install failed');
    expect((await box.exec(path.join(target, 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
  });

  it("takes a locked artifact from the user's own index or wheel folder by its hash, where the lock's host cannot be reached", async () => {
    // The lock as made against a public index: every artifact at a URL this machine cannot reach.
    const gone = `http://127.0.0.1:${await closedPort()}/files`;
    box.write(
      'pylock.remote.toml',
      pylock().replace(`path = "wheels/${demo}"`, `url = "${gone}/${demo}"`).replace(`path = "wheels/${dep}"`, `url = "${gone}/${dep}"`),
    );
    // A mirror (PEP 503, with each file's hash, as devpi, Nexus and Artifactory serve it).
    const served: string[] = [];
    const mirror = createServer((request, response) => {
      served.push(request.url!);
      const project = /^\/simple\/([^/]+)\/$/.exec(request.url!)?.[1];
      if (project) {
        const files = [demo, dep].filter((name) => name.startsWith(`${project.replace(/-/g, '_')}-`));
        response.writeHead(files.length ? 200 : 404, { 'content-type': 'text/html' });
        return void response.end(files.map((name) => `<a href="/files/${name}#sha256=${sha256(name)}">${name}</a>`).join('\n'));
      }
      const file = /^\/files\/([^/]+)$/.exec(request.url!)?.[1];
      if (file && [demo, dep].includes(file)) return void response.end(readFileSync(path.join(box.wheels, file)));
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
    try {
      const index = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/simple`;
      const fromMirror = await box.terrarium(['--no-upload', '--no-cache', '-t', box.path('mirrored'), 'install', 'pylock.remote.toml'], {
        PIP_NO_INDEX: '0',
        PIP_FIND_LINKS: box.path('no-wheels'),
        PIP_INDEX_URL: index,
      });
      expect(fromMirror.code, fromMirror.stderr).toBe(0);
      expect(served).toEqual(expect.arrayContaining([`/files/${demo}`, `/files/${dep}`]));
    } finally {
      await new Promise((resolve) => mirror.close(resolve));
    }
    // A wheel folder (find-links), no index at all.
    const fromFolder = await box.terrarium(['--no-upload', '--no-cache', '-t', box.path('foldered'), 'install', 'pylock.remote.toml'], box.env);
    expect(fromFolder.code, fromFolder.stderr).toBe(0);
    expect(fromFolder.stderr).toContain('trying the same files, by hash, from your index and find-links alone');
    expect((await box.exec(path.join(box.path('foldered'), 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
  });

  it('installs a hashed requirements file with its markers, then plain files on top', async () => {
    box.write(
      'requirements.lock.txt',
      [
        `terra-demo==1.0 --hash=sha256:${sha256(demo)}`,
        `terra-dep==1.0 ; python_version >= "3" \\`,
        `    --hash=sha256:${sha256(dep)}`,
        `terra-cext==1.0 ; python_version < "3" --hash=sha256:${'3'.repeat(64)}`,
      ].join('\n'),
    );
    box.write('tools.txt', 'terra-pth\n');
    const mixed = box.path('mixed');
    const result = await box.terrarium(store('--json', '-t', mixed, 'install', 'requirements.lock.txt', 'tools.txt'));
    expect(result.stderr).toContain('3 packages installed');
    expect(result.code).toBe(0);
    const site = await box.exec(path.join(mixed, 'bin', 'python'), ['-c', 'import terra_demo, terra_pth_mod; import sys; print(sys.terra_pth_hooked)']);
    expect(site.stdout.trim()).toBe('True');
    const hash = JSON.parse((await box.main(['--json', 'hash', 'requirements.lock.txt', 'tools.txt'])).stdout) as { locked: number; lines: number };
    expect(hash).toMatchObject({ locked: 2, lines: 3 });
    // The store holds the pylock.toml's environment: the miss said how this one differs from it.
    const locked = (await box.main(['key', 'pylock.toml'])).stdout.trim();
    expect(result.stderr).toContain(`miss: nearest is ${locked} (built `);
    expect(result.stderr).toContain(`in ${box.shown(box.store)}): + terra-pth\n`);
    expect(JSON.parse(result.stdout)).toMatchObject({
      hit: false,
      nearest: { key: locked, store: box.store, changes: [{ kind: 'added', line: 'terra-pth' }] },
    });
  });

  it('diff compares keys, requirement files and lock files', async () => {
    const locked = (await box.main(['key', 'pylock.toml'])).stdout.trim();
    // The same packages, pinned by a pylock.toml (stored) and by a hashed requirements file.
    const same = await box.main(['--storage-dir', box.store, 'diff', locked, 'requirements.lock.txt']);
    expect(same.stderr).toContain('the same lines');
    expect(same.code).toBe(0);
    box.write('newer.txt', 'terra-demo==1.1\nterra-pth\n');
    const differ = await box.main(['diff', 'pylock.toml', 'newer.txt']);
    expect(differ.stdout).toBe('  terra-demo==1.0 -> terra-demo==1.1\n- terra-dep==1.0\n+ terra-pth\n');
    expect(differ.code).toBe(1);
    const json = JSON.parse((await box.main(['--json', 'diff', 'pylock.toml', 'newer.txt'])).stdout) as { same: boolean; changes: unknown[] };
    expect(json).toMatchObject({
      same: false,
      changes: [{ kind: 'changed', from: 'terra-demo==1.0', to: 'terra-demo==1.1' }, { kind: 'removed' }, { kind: 'added' }],
    });
    const missing = await box.main(['--storage-dir', box.store, 'diff', `${ARCH}-3.11-nothing`, 'newer.txt']);
    expect(missing.code).toBe(10);
    expect(missing.stderr).toContain(`no file or stored key "${ARCH}-3.11-nothing"`);
  });
});
