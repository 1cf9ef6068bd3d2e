import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, Sandbox } from '../helpers/cli.js';
import { checkEnvironment } from '../helpers/env-checks.js';
import { ARCH, interpreters } from '../helpers/python.js';

const hasVirtualenv = spawnSync('sh', ['-c', 'command -v virtualenv']).status === 0;

/**
 * Every interpreter here and both builders: build, delete the original, restore at a path with spaces,
 * non-ASCII characters and over 127 bytes, then prove the environment works as if built there
 * (test/helpers/env-checks.ts), doctor included. docs/how-it-works.md's matrix table is this test's result.
 * virtualenv's cells publish layered archives (format 2): Python 2.7 and 3.6, which compile as pip
 * installs, and 3.11 and 3.13, whose builds are made reproducible.
 */
describe('relocation matrix', () => {
  const box = new Sandbox();
  const cases = interpreters().flatMap(({ name, python, version }) => {
    const venv = !version.startsWith('2.');
    const builders = [...(venv ? ['venv'] : []), ...(hasVirtualenv && (!venv || ['3.6', '3.11', '3.13'].includes(version)) ? ['virtualenv'] : [])];
    return builders.map((builder) => ({ name, python, version, builder }));
  });
  const wheelsFor = new Map<string, string>();

  beforeAll(() => {
    box.write('requirements.txt', 'terra-demo\nterra-cext\nterra-pth\n');
    // The C extension is compiled per interpreter; the pure wheels come along.
    for (const { python } of cases) {
      if (wheelsFor.has(python)) continue;
      const dir = box.path(`wheels-${wheelsFor.size}`);
      execFileSync(python, [path.resolve('examples/wheels/build_wheels.py'), dir], { stdio: 'ignore' });
      wheelsFor.set(python, dir);
    }
  });
  afterAll(() => box.cleanup());

  it.concurrent.each(cases)('$name, $builder', async ({ python, version, builder }) => {
    const slug = `${version}-${builder}-${wheelsFor.get(python)!.slice(-1)}`;
    const env = { ...box.env, PIP_FIND_LINKS: wheelsFor.get(python)! };
    const terrarium = (args: string[], cwd = box.dir) => {
      const result = spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8' });
      return { code: result.status, out: `${result.stdout}${result.stderr}`.trim() };
    };
    const store = box.path(`store-${slug}`);
    const built = box.path(`built-${slug}`);
    // Each cell is a machine of its own: venv and virtualenv builds of one interpreter share a key, and
    // a shared cache would hand one cell the other's unpacked copy.
    const format = builder === 'virtualenv' ? '2' : '1';
    const common = ['--python', python, '--builder', builder, '--format', format, '--storage-dir', store, '--cache-dir', box.path(`cache-${slug}`)];
    const build = terrarium([...common, '-t', built, 'install', 'requirements.txt']);
    expect(build.code, build.out).toBe(0);
    expect(build.out).toMatch(format === '2' ? / in \d+ layers \(zstd\)/ : /pack: [^\n]*\(zstd\)/);
    // An unrewritten script would silently run the original: it must be gone.
    rmSync(built, { recursive: true, force: true });
    const target = path.join(box.path(`restored ${slug}`), 'zoë', 'x'.repeat(100), 'my env');
    mkdirSync(path.dirname(target), { recursive: true });
    const restore = terrarium([...common, '-t', target, '--require-download', 'install', 'requirements.txt']);
    expect(restore.code, restore.out).toBe(0);
    checkEnvironment(target, (args) => terrarium(args), env);
  });
});

describe('target paths', () => {
  const box = new Sandbox();
  const store = () => ['--storage-dir', box.store];
  const terrarium = (args: string[], cwd = box.dir) => {
    const result = spawnSync(process.execPath, [BIN, ...args], { cwd, env: box.env, encoding: 'utf8' });
    return { code: result.status, out: `${result.stdout}${result.stderr}`.trim() };
  };

  beforeAll(() => {
    box.write('requirements.txt', 'terra-demo\nterra-cext\nterra-pth\n');
    const seed = terrarium([...store(), '-t', box.path('seed'), 'install', 'requirements.txt']);
    expect(seed.code, seed.out).toBe(0);
    rmSync(box.path('seed'), { recursive: true, force: true });
  });
  afterAll(() => box.cleanup());

  it.each([
    ['plain', 'plain/env'],
    ['with spaces', 'with spaces/my env'],
    ['non-ASCII', 'données/环境'],
    ['over 127 bytes', `long/${'d'.repeat(60)}/${'e'.repeat(60)}/env`],
  ])('%s', (_, rel) => {
    const target = box.path(rel);
    const result = terrarium([...store(), '-t', target, '--require-download', 'install', 'requirements.txt']);
    expect(result.code, result.out).toBe(0);
    checkEnvironment(target, terrarium, box.env);
  });

  it('reached through a symlinked parent directory', () => {
    mkdirSync(box.path('real-parent'));
    symlinkSync(box.path('real-parent'), box.path('linked-parent'));
    const target = box.path('linked-parent', 'env');
    const result = terrarium([...store(), '-t', target, '--require-download', 'install', 'requirements.txt']);
    expect(result.code, result.out).toBe(0);
    checkEnvironment(target, terrarium, box.env);
  });

  it('relative --target given from another working directory', () => {
    mkdirSync(box.path('elsewhere', 'deeper'), { recursive: true });
    const result = terrarium(
      ['--storage-dir', '../../store', '-t', '../relative-env', '--require-download', 'install', '../../requirements.txt'],
      box.path('elsewhere', 'deeper'),
    );
    expect(result.code, result.out).toBe(0);
    checkEnvironment(box.path('elsewhere', 'relative-env'), terrarium, box.env);
  });

  it('refuses to pack a .pth naming a path outside the environment, unless told to', () => {
    box.write('outside.txt', 'terra-outside\n');
    const refused = terrarium([...store(), '-t', box.path('outside'), 'install', 'outside.txt']);
    expect(refused.code).toBe(9);
    expect(refused.out).toContain(`cannot pack ${ARCH}-`);
    expect(refused.out).toContain('terra-outside (lib/python');
    expect(refused.out).toContain('terra_outside.pth names /srv/src/terra-outside)');
    const here = terrarium([...store(), '-t', box.path('outside'), '--no-upload', 'install', 'outside.txt']);
    expect(here.code, here.out).toBe(0);
    const allowed = terrarium([...store(), '-t', box.path('outside-2'), '--allow-outside-paths', 'install', 'outside.txt']);
    expect(allowed.code, allowed.out).toBe(0);
    expect(allowed.out).toContain(`warning: packing ${ARCH}-`);
    const doctor = terrarium(['-t', box.path('outside-2'), 'doctor']);
    expect(doctor.code).toBe(9);
    expect(doctor.out).toContain('puts /srv/src/terra-outside (outside the environment) on sys.path for terra-outside');
  });
});
