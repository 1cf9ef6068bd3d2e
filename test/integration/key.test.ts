import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { ARCH, python3, pythonVersion } from '../helpers/python.js';

describe('key, hash and exists', () => {
  const box = new Sandbox();
  let version: string;
  beforeAll(() => {
    version = pythonVersion(python3());
    box.write('requirements.txt', '# comment\nterra-demo==1.0\n\n-r more.txt\n');
    box.write('more.txt', 'terra-cext  # inline comment\n');
  });
  afterAll(() => box.cleanup());

  /** The original terrarium's algorithm, run by Python itself, on files without includes. */
  async function originalDigest(file: string, type = 'md5'): Promise<string> {
    const code = `import hashlib,sys
lines=[l.strip() for l in open(sys.argv[1]) if l.strip() and not l.strip().startswith('#')]
print(hashlib.new('${type}', '\\n'.join(sorted(lines)).encode()).hexdigest())`;
    return (await box.exec(python3(), ['-c', code, file])).stdout.trim();
  }

  it('hash prints exactly the original digest for a plain file', async () => {
    box.write('plain.txt', 'requests==2.31.0\nflask\nattrs>=22\n');
    const result = await box.main(['hash', 'plain.txt']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`${await originalDigest(box.path('plain.txt'))}\n`);
    const sha = await box.main(['--digest-type', 'sha256', 'hash', 'plain.txt']);
    expect(sha.stdout).toBe(`${await originalDigest(box.path('plain.txt'), 'sha256')}\n`);
  });

  it('follows includes and ignores comments', async () => {
    box.write('flat.txt', 'terra-demo==1.0\nterra-cext\n');
    const [included, flat] = await Promise.all([box.main(['hash', 'requirements.txt']), box.main(['hash', 'flat.txt'])]);
    expect(included.stdout).toBe(flat.stdout);
  });

  it('key prints arch-major.minor-digest and nothing else', async () => {
    const [key, hash] = await Promise.all([box.main(['key', 'requirements.txt']), box.main(['hash', 'requirements.txt'])]);
    expect(key).toMatchObject({ code: 0, stderr: '' });
    expect(key.stdout).toBe(`${ARCH}-${version}-${hash.stdout.trim()}\n`);
  });

  it('honours --remote-key-format with every field, options after the command too', async () => {
    const result = await box.main([
      'key',
      'requirements.txt',
      '--remote-key-format',
      'envs/%(python_vmajor)s/%(python_vminor)s.%(python_vpatch)s/%(arch)s-%(digest)s',
    ]);
    expect(result.stdout).toMatch(new RegExp(`^envs/${version.replace('.', '/')}\\.\\d+/${ARCH}-[0-9a-f]{32}\\n$`));
  });

  it('exists exits 1 when nothing is stored; with no store configured, it says so', async () => {
    expect((await box.main(['exists', 'requirements.txt', '--storage-dir', box.store])).code).toBe(1);
    const none = await box.main(['exists', 'requirements.txt']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/is not stored: no store is configured; pass --storage-dir, --s3-bucket, --oci-repository or --storage-url/);
  });

  it("quotes pyenv's advice when a shim cannot run its command", async () => {
    const root = box.path('fake-pyenv');
    const shim = path.join(root, 'shims', 'python3.99');
    mkdirSync(path.dirname(shim), { recursive: true });
    mkdirSync(path.join(root, 'libexec'));
    writeFileSync(
      shim,
      `#!/usr/bin/env bash\nset -e\nprogram="\${0##*/}"\n\nexport PYENV_ROOT="${root}"\nexec "${root}/libexec/pyenv" exec "$program" "$@"\n`,
      { mode: 0o755 },
    );
    writeFileSync(
      path.join(root, 'libexec', 'pyenv'),
      "#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\necho >&2\necho \"The \\`python3.99' command exists in these Python versions:\" >&2\necho '  3.99.0' >&2\nexit 127\n",
      { mode: 0o755 },
    );
    const result = await box.main(['--python', shim, 'key', 'requirements.txt']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(`error: ${box.shown(shim)}: python3.99: command not found`);
    expect(result.stderr).toContain("hint: pyenv says: The `python3.99' command exists in these Python versions: 3.99.0; or pass");
  });

  it.each([
    ['an unknown digest', ['--digest-type', 'md6', 'hash', 'requirements.txt'], 2, 'unknown digest type: md6'],
    ['an unknown key field', ['--remote-key-format', '%(nope)s', 'key', 'requirements.txt'], 2, 'unknown field "nope"'],
    [
      'a key inside a folder terrarium keeps',
      ['--remote-key-format', 'Blobs/%(digest)s', 'key', 'requirements.txt'],
      2,
      'inside Blobs/, a folder terrarium keeps for itself',
    ],
    ['a missing file', ['hash', 'nope.txt'], 3, 'requirements file not found: nope.txt'],
    ['a directory given as a requirements file', ['hash', '.'], 3, 'is a directory'],
    ['a bad lock timeout', ['--lock-timeout', 'soon', 'key', 'requirements.txt'], 2, 'bad --lock-timeout "soon"'],
    ['a missing include', ['hash', 'broken.txt'], 3, 'requirements file not found: gone.txt (included from broken.txt)'],
    ['an include cycle', ['hash', 'cycle.txt'], 3, 'requirements include cycle: cycle.txt -> cycle.txt'],
    ['a missing interpreter', ['--python', '/nonexistent/python3', 'key', 'requirements.txt'], 4, 'Python interpreter not found: /nonexistent/python3'],
    ['an unknown option', ['--frobnicate', 'key', 'requirements.txt'], 2, "unknown option '--frobnicate'"],
    ['a mistyped command', ['instal', 'requirements.txt'], 2, 'did you mean install?'],
    ['no target', ['install', 'requirements.txt'], 2, 'no target environment given'],
    [
      'an S3 key without its secret',
      ['--s3-bucket', 'b', '--s3-access-key', 'AKIA', 'key', 'requirements.txt'],
      2,
      '--s3-access-key given without --s3-secret-key',
    ],
    [
      'an S3 key from the environment without its secret: the message names the variable',
      ['--s3-bucket', 'b', 'key', 'requirements.txt'],
      2,
      'S3_ACCESS_KEY given without --s3-secret-key (or S3_SECRET_KEY)',
      { S3_ACCESS_KEY: 'AKIA' },
    ],
    ['a bad S3 endpoint', ['--s3-bucket', 'b', '--s3-endpoint', 'localhost:9000', 'key', 'requirements.txt'], 2, 'bad --s3-endpoint "localhost:9000"'],
    ['a bad cache size', ['--cache-max-size', 'lots', 'key', 'requirements.txt'], 2, 'bad --cache-max-size "lots"'],
    ['a yes/no variable that is neither', ['--s3-bucket', 'b', 'key', 'requirements.txt'], 2, 'bad S3_PATH_STYLE "maybe"', { S3_PATH_STYLE: 'maybe' }],
    ['prune without a rule', ['--storage-dir', 'store', 'prune'], 2, 'prune needs exactly one of --older-than and --keep'],
  ] as Array<[string, string[], number, string, NodeJS.ProcessEnv?]>)(
    'reports %s in one line with a hint, no stack trace',
    async (_, args, code, message, env = {}) => {
      box.write('broken.txt', '-r gone.txt\n');
      box.write('cycle.txt', '-r cycle.txt\n');
      const result = await box.main(args, env);
      expect(result.code).toBe(code);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    },
  );

  it('prints its version and help, with every option and its environment variable', async () => {
    const version = await box.terrarium(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `${JSON.parse(readFileSync('package.json', 'utf8')).version}\n` });
    const help = await box.main(['--help']);
    expect(help.code).toBe(0);
    for (const text of ['--storage-dir', 'TERRARIUM_STORAGE_DIR', '--require-download', '--no-compress', 'TERRARIUM_PYTHON', 'Exit codes']) {
      expect(help.stdout).toContain(text);
    }
    expect((await box.main(['help', 'install'])).stdout).toContain('usage: terrarium install');
  });

  it('takes the interpreter a pyenv shim would run without running pyenv (whose answer cannot be cached)', async () => {
    // A pyenv root whose shim cannot run (there is no libexec/pyenv): only the resolution can succeed.
    const root = box.path('pyenv');
    const shim = path.join(root, 'shims', 'python3');
    mkdirSync(path.dirname(shim), { recursive: true });
    box.write(
      'pyenv/shims/python3',
      `#!/usr/bin/env bash\nset -e\nprogram="\${0##*/}"\nexport PYENV_ROOT="${root}"\nexec "${root}/libexec/pyenv" exec "$program" "$@"\n`,
    );
    chmodSync(shim, 0o755);
    mkdirSync(path.join(root, 'versions', 'pinned', 'bin'), { recursive: true });
    symlinkSync(python3(), path.join(root, 'versions', 'pinned', 'bin', 'python3'));
    // Removed at the end: the sandbox's other runs use the real pyenv, which would read it too.
    box.write('.python-version', 'pinned\n');
    onTestFinished(() => rmSync(box.path('.python-version')));
    const resolved = await box.main(['--python', shim, 'key', 'requirements.txt']);
    expect(resolved.stderr).toBe('');
    expect(resolved.stdout).toMatch(new RegExp(`^[a-z0-9_]+-${version.replace('.', '\\.')}-[0-9a-f]{32}\n$`));
    // `system` is pyenv's own business: then the shim runs (and here fails, naming itself).
    const system = await box.main(['--python', shim, 'key', 'requirements.txt'], { PYENV_VERSION: 'system' });
    expect(system.code).not.toBe(0);
    expect(system.stderr).toContain(box.shown(shim));
  });

  it('reads the interpreter from TERRARIUM_PYTHON', async () => {
    const result = await box.main(['key', 'requirements.txt'], { TERRARIUM_PYTHON: '/nonexistent/python' });
    expect(result.code).toBe(4);
  });
});
