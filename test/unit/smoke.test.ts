import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeEnvironment, smokeCheck } from '../../src/env/smoke.js';
import { python3, pythonVersion } from '../helpers/python.js';

let work: string;
const env = { PATH: process.env.PATH };

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'terrarium-smoke-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A folder whose bin/python is a shell script answering the probe with `body`. */
function fakeEnvironment(name: string, body: string): string {
  const root = path.join(work, name);
  mkdirSync(path.join(root, 'bin'), { recursive: true });
  writeFileSync(path.join(root, 'bin', 'python'), `#!/bin/sh\n${body}\n`);
  chmodSync(path.join(root, 'bin', 'python'), 0o755);
  return root;
}

const version = () => pythonVersion(python3()).split('.').map(Number);

describe('smokeCheck', () => {
  it("runs the environment's code (its .pth files) without any credential of the caller", async () => {
    const root = path.join(work, 'spied');
    execFileSync(python3(), ['-m', 'venv', '--without-pip', root]);
    const site = path.join(root, 'lib', readdirSync(path.join(root, 'lib'))[0]!, 'site-packages');
    const dump = path.join(work, 'seen-environment.txt');
    writeFileSync(path.join(site, 'spy.pth'), `import os; open(${JSON.stringify(dump)}, "w").write("\\n".join(sorted(os.environ)))\n`);
    const secrets = {
      S3_SECRET_KEY: 's3cret',
      AWS_SECRET_ACCESS_KEY: 'aws',
      AWS_SESSION_TOKEN: 't',
      TERRARIUM_SIGN_KEY: '/k',
      PIP_INDEX_URL: 'https://u:p@x/',
      GITHUB_TOKEN: 'g',
      PYTHONPATH: '/evil',
    };
    await smokeCheck(root, { ...env, ...secrets, HOME: work, LANG: 'C.UTF-8' }, version());
    const seen = readFileSync(dump, 'utf8').split('\n');
    for (const name of Object.keys(secrets)) expect(seen).not.toContain(name);
    expect(seen).toEqual(expect.arrayContaining(['PATH', 'HOME', 'LANG']));
  });

  it('passes a real environment, whose python reports its prefix, base prefix and version', async () => {
    const root = path.join(work, 'real');
    execFileSync(python3(), ['-m', 'venv', '--without-pip', root]);
    await expect(smokeCheck(root, env, version())).resolves.toBeUndefined();
    const probe = await probeEnvironment(root, env, version());
    expect(probe).toMatchObject({ seesItself: true });
    expect(probe.version.join('.')).toBe(pythonVersion(python3()));
    expect(probe.basePrefix).not.toBe(probe.prefix);
  });

  it.each([
    ['no bin/python', undefined, /cannot run bin\/python/],
    ['a python that fails to start', 'echo "Fatal Python error: init_fs_encoding" >&2; exit 3', /bin\/python exited 3: Fatal Python error: init_fs_encoding/],
    ["an answer that is not the probe's", 'echo hello', /bin\/python answered "hello\\n"/],
    ['a version that is not one', 'printf "%s\\0%s\\0%s" "$(dirname "$(dirname "$0")")" /usr 3', /bin\/python answered/],
    ['a prefix elsewhere', 'printf "%s\\0%s\\0%s" /usr /usr 3.11', /sys\.prefix is \/usr, expected .*elsewhere/],
    [
      'the base interpreter itself',
      'root="$(cd "$(dirname "$0")/.." && pwd)"; printf "%s\\0%s\\0%s" "$root" "$root" 3.11',
      /bin\/python does not recognise the environment/,
    ],
  ])('refuses %s, saying why', async (_, body, why) => {
    const name = _.replace(/\W+/g, '-');
    const root = body === undefined ? path.join(work, name) : fakeEnvironment(name, body);
    mkdirSync(root, { recursive: true });
    const failure = await smokeCheck(root, env, version()).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'SMOKE_CHECK_FAILED' });
    expect((failure as Error).message).toMatch(why);
    expect((failure as Error).message).toContain('nothing was replaced');
  });
});
