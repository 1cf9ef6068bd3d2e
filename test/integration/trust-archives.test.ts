import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EditableEntry, editManifest, plantArchive, readEntries, storedArchive } from '../helpers/archive-edit.js';
import { Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';

/**
 * Archives whose recorded sha256 matches, made by someone who can write the store: none of them may
 * make terrarium write outside the environment, run archive code with its secrets, use unbounded
 * memory or disk, or stay in the store to fail every later install.
 */
describe('hostile archives with a matching sha256', () => {
  const box = new Sandbox();
  const args = (...rest: string[]) => ['--storage-dir', box.store, '--no-cache', ...rest];
  let key: string;
  let genuine: EditableEntry[];
  let site: string;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-dep\n');
    key = await box.seed('dep', box.store, 1);
    expect((await box.main(['key', 'requirements.txt'])).stdout.trim()).toBe(key);
    genuine = await readEntries(storedArchive(box.store, key));
    site = genuine.find((e) => /^lib\/python[^/]+\/site-packages\/?$/.test(e.header.name))!.header.name.replace(/\/$/, '');
  });
  afterAll(() => box.cleanup());

  const strict = (target: string, ...extra: string[]) =>
    box.terrarium(args('-t', box.path(target), '--require-download', ...extra, 'install', 'requirements.txt'));

  it.each<[string, (m: import('../../src/archive/manifest.js').Manifest, outside: string) => void, RegExp]>([
    [
      'an external link named .terrarium, to a directory outside',
      (m, outside) => m.externalLinks.push({ path: '.terrarium', target: outside }),
      /inside terrarium's own folder/,
    ],
    ['an interpreter link that climbs out', (m) => m.interpreterLinks.push('../../escaped'), /not a path inside the environment/],
    ['an interpreter link that is no interpreter', (m) => m.interpreterLinks.push('lib/evil'), /not an interpreter's name in bin/],
    ['an external link climbing out', (m, outside) => m.externalLinks.push({ path: '../x', target: outside }), /not a path inside the environment/],
    ['a relocated file outside', (m) => m.text.push('../../etc/x'), /not a path inside the environment/],
  ])('refuses a manifest with %s: exit 6, removed from the store, nothing written outside', async (_, change, why) => {
    const outside = box.path(`outside-${Math.random().toString(16).slice(2)}`);
    mkdirSync(outside);
    await plantArchive(
      box.store,
      key,
      editManifest(genuine, (m) => change(m, outside)),
    );
    const result = await strict('t-manifest');
    expect(result.code, result.stderr).toBe(6);
    expect(result.stderr).toMatch(why);
    expect(result.stderr).toContain('(removed from the store)');
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(box.path('t-manifest'))).toBe(false);
    expect(existsSync(box.path('escaped'))).toBe(false);
  });

  it('passes over an archive that links outside the environment unless --allow-outside-paths; doctor reports the link', async () => {
    await plantArchive(
      box.store,
      key,
      editManifest(genuine, (m) => m.externalLinks.push({ path: `${site}/x`, target: '/etc/passwd' })),
    );
    const refused = await strict('t-outside');
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain(`links outside the environment (${site}/x -> /etc/passwd)`);
    expect(refused.stderr).not.toContain('removed from the store');
    expect(existsSync(box.path('t-outside'))).toBe(false);
    const allowed = await strict('t-outside', '--allow-outside-paths');
    expect(allowed.code, allowed.stderr).toBe(0);
    const doctor = await box.terrarium(['-t', box.path('t-outside'), 'doctor']);
    expect(doctor.code).toBe(9);
    expect(doctor.stdout + doctor.stderr).toContain(`${site}/x`);
    expect(doctor.stdout + doctor.stderr).toContain('symlink leads outside the environment, to /etc/passwd');
  });

  it('an archive that links outside is replaced by the build of a run that passed it over, whose environment does not', async () => {
    await plantArchive(
      box.store,
      key,
      editManifest(genuine, (m) => m.externalLinks.push({ path: `${site}/x`, target: '/etc/passwd' })),
    );
    const built = await box.terrarium(args('-t', box.path('t-outside-built'), 'install', 'requirements.txt'));
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/links outside the environment .*, which this build does not\); replacing it/);
    const next = await strict('t-outside-next');
    expect(next.code, next.stderr).toBe(0);
  });

  it("runs the archive's .pth files in the smoke check without terrarium's secrets", async () => {
    const dump = box.path('seen-by-archive-code.txt');
    const pth = {
      header: { name: `${site}/spy.pth`, type: 'file' as const, mode: 0o644, mtime: new Date() },
      body: Buffer.from(`import os; open(${JSON.stringify(dump)}, "w").write("\\n".join(sorted(os.environ)))\n`),
    };
    await plantArchive(box.store, key, [...genuine, pth]);
    const secrets = {
      S3_SECRET_KEY: 'sk',
      S3_ACCESS_KEY: 'ak',
      AWS_SECRET_ACCESS_KEY: 'aws',
      AWS_SESSION_TOKEN: 'tok',
      TERRARIUM_DEPLOY_TOKEN: 'td',
      GITHUB_TOKEN: 'gh',
    };
    const result = await box.terrarium(args('-t', box.path('t-pth'), '--require-download', 'install', 'requirements.txt'), secrets);
    expect(result.code, result.stderr).toBe(0);
    const seen = readFileSync(dump, 'utf8').split('\n');
    expect(seen).toContain('PATH');
    for (const name of Object.keys(secrets)) expect(seen).not.toContain(name);
  });

  it('stops a bomb (a small archive of a large file of zeros) early, removes it, and rebuilds', async () => {
    const zeros = { header: { name: `${site}/zeros.bin`, type: 'file' as const, mode: 0o644, mtime: new Date() }, body: Buffer.alloc(256 << 20) };
    // The record says what the archive really unpacks to, less the bomb; a claim that lies is no way around it.
    await plantArchive(box.store, key, [...genuine, zeros], { unpackedSize: 30 << 20 });
    const result = await strict('t-bomb');
    expect(result.code, result.stderr).toBe(6);
    expect(result.stderr).toContain('unpacks to more than');
    expect(result.stderr).toContain('(removed from the store)');
    expect(existsSync(box.path('t-bomb'))).toBe(false);
    expect(readdirSync(box.dir).filter((name) => name.includes('staging'))).toEqual([]);
  });

  it('refuses to hold a huge file to be rewritten in memory (a 20 MiB pyvenv.cfg), within 200 MB of memory', async () => {
    const huge = genuine.map((e) => (e.header.name === 'pyvenv.cfg' ? { header: e.header, body: Buffer.concat([e.body, Buffer.alloc(20 << 20, 0x20)]) } : e));
    await plantArchive(box.store, key, huge);
    // Peak memory of the whole run, as the kernel counts it for the child (KiB).
    const measured = execFileSync(
      'python3',
      [
        '-c',
        'import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)',
        process.execPath,
        path.resolve('bin/terrarium.cjs'),
        ...args('-t', box.path('t-huge'), '--require-download', 'install', 'requirements.txt'),
      ],
      { cwd: box.dir, env: box.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const [code, kib] = measured.trim().split(' ').map(Number);
    expect(code).toBe(6);
    expect(kib! / 1024).toBeLessThan(200);
  });

  it('a smoke check failing on a restored archive removes it and builds a good one', async () => {
    await plantArchive(
      box.store,
      key,
      genuine.filter((e) => e.header.name !== 'pyvenv.cfg'),
    );
    const result = await box.terrarium(args('-t', box.path('t-smoke'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('the new environment does not work');
    expect(result.stderr).toContain('(removed from the store)');
    expect(result.stderr).toContain('building instead');
    expect(envState(box.path('t-smoke'))).not.toBe('broken');
    const hit = await strict('t-smoke-hit');
    expect(hit.code, hit.stderr).toBe(0);
  });

  it('a record whose archive is missing is a damaged one: removed, rebuilt', async () => {
    const planted = await plantArchive(box.store, key, genuine);
    execFileSync('rm', [planted]);
    const result = await box.terrarium(args('-t', box.path('t-missing'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('the archive its record names is missing');
    expect((await strict('t-missing-hit')).code).toBe(0);
  });

  it('a rebuild with --no-download replaces a record whose archive fails verification, and says so truthfully', async () => {
    await plantArchive(box.store, key, [...genuine, { header: { name: '../evil', type: 'file', mode: 0o644, mtime: new Date() }, body: Buffer.from('x') }]);
    const rebuilt = await box.terrarium(args('-t', box.path('t-heal'), '--no-download', 'install', 'requirements.txt'));
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stderr).toContain('cannot be installed');
    expect(rebuilt.stderr).toContain(`published to ${box.shown(box.store)}`);
    expect(rebuilt.stderr).not.toContain('another run published it');
    expect((await strict('t-heal-hit')).code).toBe(0);
    // A good record in the way is kept, and the final line says another run published it.
    const again = await box.terrarium(args('-t', box.path('t-heal-2'), '--no-download', 'install', 'requirements.txt'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`another run published it to ${box.shown(box.store)}`);
    expect(again.stderr).not.toContain(`published to ${box.shown(box.store)};`);
  });
});
