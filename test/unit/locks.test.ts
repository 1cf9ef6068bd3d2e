import { describe, expect, it } from 'vitest';
import { embeddedInstalls } from '../../src/env/bootstrap.js';
import { pipPlan } from '../../src/env/pip-plan.js';
import { TerrariumError } from '../../src/errors.js';
import { describeChange, describeNearest } from '../../src/install/nearest.js';
import { requirementsDigest } from '../../src/key/digest.js';
import { readInputs, resolveInputs } from '../../src/key/inputs.js';
import { lineChanges, shownLine } from '../../src/key/line-diff.js';
import { evaluateMarker, type MarkerContext, type MarkerEnvironment } from '../../src/key/markers.js';

const LINUX_311: MarkerEnvironment = {
  os_name: 'posix',
  sys_platform: 'linux',
  platform_machine: 'x86_64',
  platform_python_implementation: 'CPython',
  platform_release: '6.1.0-18-amd64',
  platform_system: 'Linux',
  platform_version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1',
  python_version: '3.11',
  python_full_version: '3.11.7',
  implementation_name: 'cpython',
  implementation_version: '3.11.7',
};
const context: MarkerContext = { environment: LINUX_311, extras: new Set(), dependencyGroups: new Set(['dev']) };
const H = (c: string) => `sha256:${c.repeat(64)}`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TerrariumError ? error.code : `not a TerrariumError: ${error}`;
  }
  return undefined;
}

describe('evaluateMarker', () => {
  it.each([
    ['python_version >= "3.8"', true],
    ['python_version < "3.10"', false],
    ['python_version == "3.11"', true],
    ['python_full_version == "3.11.*"', true],
    ['python_version ~= "3.9"', true],
    ['"3.12" > python_version', true],
    ['sys_platform == "linux" and platform_machine == "x86_64"', true],
    ['sys_platform == "win32" or (os_name == "posix" and implementation_name == "cpython")', true],
    ["sys_platform == 'darwin' or sys_platform == 'win32'", false],
    ['platform_release >= "6"', true],
    ['"linux" in sys_platform', true],
    ['"arm" not in platform_machine', true],
    ['platform_python_implementation != "PyPy"', true],
    ['extra == "tests"', false],
    ['extra != "Tests"', true],
    ['"dev" in dependency_groups', true],
    ['"Docs" in dependency_groups', false],
    ['"x" not in extras', true],
    ['python_version>="3.8"and sys_platform=="linux"', true],
  ])('%s', (marker, expected) => {
    expect(evaluateMarker(marker, context, 'test')).toBe(expected);
  });

  it.each([
    ['python_version >=', 'ends too early'],
    ['python_version >= "3.8" and', 'ends too early'],
    ['(python_version >= "3.8"', 'ends too early'],
    ['python_versio == "3"', 'unknown name'],
    ['sys_platform ~= "linux"', 'compares versions'],
    ['python_version >= "3.8" garbage', 'unexpected'],
    ['dependency_groups in "dev"', 'can only follow'],
  ])('refuses %s', (marker, why) => {
    expect(() => evaluateMarker(marker, context, 'f.txt: pkg')).toThrow(why);
    expect(codeOf(() => evaluateMarker(marker, context, 'f.txt: pkg'))).toBe('REQUIREMENTS_BAD_LOCK');
  });
});

/** Resolves in-memory files for LINUX_311 and returns the digest, lines and pip plan. */
function resolve(map: Record<string, string>, given = Object.keys(map).map((p) => p.slice('/p/'.length))) {
  const read = (p: string) => {
    if (!(p in map)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return map[p]!;
  };
  const inputs = resolveInputs(readInputs(given, '/p', read), { environment: LINUX_311 }, (p) => p === '/p/wheels');
  return { inputs, digest: requirementsDigest(inputs.lines, 'sha256'), plan: pipPlan(inputs) };
}

const PYLOCK = `
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.9"
environments = ["sys_platform == 'linux'"]
default-groups = ["dev"]

[[packages]]
name = "Alpha_Pkg"
version = "1.0"
[[packages.wheels]]
url = "https://files.example.org/a/alpha_pkg-1.0-py3-none-any.whl"
upload-time = 2025-01-01T00:00:00Z
hashes = { sha256 = "${'a'.repeat(64)}" }

[[packages]]
name = "beta"
version = "2.0"
marker = "python_version < '3.10'"
sdist = { url = "https://files.example.org/b/beta-2.0.tar.gz", hashes = { sha256 = "${'b'.repeat(64)}" } }

[[packages]]
name = "beta"
version = "2.1"
marker = "python_version >= '3.10'"
wheels = [
  { path = "wheels/beta-2.1-cp311-cp311-manylinux_2_17_x86_64.whl", hashes = { sha256 = "${'c'.repeat(64)}" } },
  { path = "wheels/beta-2.1-py3-none-any.whl", hashes = { sha256 = "${'d'.repeat(64)}", sha512 = "${'e'.repeat(128)}" } },
]

[[packages]]
name = "docs-only"
version = "9"
marker = "'docs' in dependency_groups"
wheels = [{ url = "https://files.example.org/d/docs_only-9-py3-none-any.whl", hashes = { sha256 = "${'f'.repeat(64)}" } }]
`;

const ALPHA = 'name = "Alpha_Pkg"\nversion = "1.0"';

describe('a pylock.toml', () => {
  it('resolves to the packages whose markers hold, with every artifact hash', () => {
    const { inputs } = resolve({ '/p/pylock.toml': PYLOCK });
    expect(inputs.lines.sort()).toEqual([`alpha-pkg==1.0 --hash=${H('a')}`, `beta==2.1 --hash=${H('c')} --hash=${H('d')}`]);
    expect(inputs.locked?.packages.find((p) => p.name === 'beta')?.locations).toEqual([
      '/p/wheels/beta-2.1-cp311-cp311-manylinux_2_17_x86_64.whl',
      '/p/wheels/beta-2.1-py3-none-any.whl',
    ]);
  });

  it('gives the same key whatever the order, comments, generator, upload times and URLs', () => {
    const base = resolve({ '/p/pylock.toml': PYLOCK }).digest;
    const blocks = PYLOCK.split('\n[[packages]]');
    const reordered = [blocks[0], ...blocks.slice(1).reverse()].join('\n[[packages]]');
    const variants = [
      reordered,
      PYLOCK.replace('created-by = "uv"', 'created-by = "pdm"  # another tool'),
      PYLOCK.replace('upload-time = 2025-01-01T00:00:00Z', ''),
      PYLOCK.replaceAll('https://files.example.org', 'https://mirror.internal/pypi'),
      `# generated\n${PYLOCK}`,
    ];
    for (const text of variants) expect(resolve({ '/p/pylock.toml': text }).digest).toBe(base);
  });

  it('gives another key when a selected version or hash changes, and the same when an unselected one does', () => {
    const base = resolve({ '/p/pylock.toml': PYLOCK }).digest;
    expect(resolve({ '/p/pylock.toml': PYLOCK.replace(ALPHA, 'name = "Alpha_Pkg"\nversion = "1.1"') }).digest).not.toBe(base);
    expect(resolve({ '/p/pylock.toml': PYLOCK.replace('c'.repeat(64), '0'.repeat(64)) }).digest).not.toBe(base);
    expect(resolve({ '/p/pylock.toml': PYLOCK.replace('b'.repeat(64), '0'.repeat(64)) }).digest).toBe(base);
  });

  it("is installed with --require-hashes --no-deps from one links page, beside the user's own index and find-links", () => {
    const { plan } = resolve({ '/p/pylock.toml': PYLOCK });
    expect(plan.installs).toEqual([['--require-hashes', '--no-deps', '-r', 'locked-requirements.txt']]);
    const requirements = plan.files['locked-requirements.txt']!.split('\n');
    expect(requirements).not.toContain('--no-index');
    // Should the lock's URLs fail: the same pinned set from the user's own sources alone.
    expect(plan.fallback).toEqual(['--require-hashes', '--no-deps', '-r', 'locked-requirements-own-sources.txt']);
    const own = plan.files['locked-requirements-own-sources.txt']!;
    expect(own).toContain(`alpha-pkg==1.0 --hash=${H('a')}`);
    expect(own).not.toContain('locked-links.html');
    expect(requirements).toContain('--find-links locked-links.html');
    expect(requirements).toContain(`alpha-pkg==1.0 --hash=${H('a')}`);
    expect(plan.files['locked-links.html']).toContain('<a href="file:///p/wheels/beta-2.1-py3-none-any.whl">beta-2.1-py3-none-any.whl</a>');
    expect(plan.files['locked-links.html']).toContain('href="https://files.example.org/a/alpha_pkg-1.0-py3-none-any.whl"');
    // Only files here: the lock needs no index.
    const local = resolve({ '/p/pylock.toml': PYLOCK.replaceAll('url = "https://files.example.org/a/', 'path = "wheels/') }).plan;
    expect(local.files['locked-requirements.txt']!.split('\n')).toContain('--no-index');
    expect(local.fallback).toBeUndefined();
  });

  it.each([
    [
      'a VCS package',
      PYLOCK.replace(ALPHA, `${ALPHA}\nvcs = { type = "git", url = "https://x/y.git", commit-id = "abc" }`),
      'REQUIREMENTS_LOCK_UNSUPPORTED',
      'Alpha_Pkg comes from a VCS checkout',
    ],
    [
      'an editable directory',
      PYLOCK.replace(ALPHA, `${ALPHA}\ndirectory = { path = ".", editable = true }`),
      'REQUIREMENTS_LOCK_UNSUPPORTED',
      'a local directory',
    ],
    ['lock-version 2', PYLOCK.replace('lock-version = "1.0"', 'lock-version = "2.0"'), 'REQUIREMENTS_LOCK_UNSUPPORTED', 'lock-version 2.0'],
    [
      'an interpreter it does not require',
      PYLOCK.replace('">=3.9"', '">=3.12"'),
      'REQUIREMENTS_LOCK_MISMATCH',
      'requires Python >=3.12, and this interpreter is 3.11.7',
    ],
    ['another environment', PYLOCK.replace(`"sys_platform == 'linux'"`, `"sys_platform == 'win32'"`), 'REQUIREMENTS_LOCK_MISMATCH', 'is none of them'],
    [
      'overlapping markers',
      PYLOCK.replace("python_version < '3.10'", "python_version < '3.12'"),
      'REQUIREMENTS_BAD_LOCK',
      'lists beta twice for this interpreter (2.0 and 2.1)',
    ],
    [
      'an artifact without a sha256',
      PYLOCK.replace(`hashes = { sha256 = "${'a'.repeat(64)}" }`, 'hashes = { md5 = "00" }'),
      'REQUIREMENTS_LOCK_UNSUPPORTED',
      'Alpha_Pkg has an artifact without a sha256 hash',
    ],
    ['a short hash', PYLOCK.replace('a'.repeat(64), 'a'.repeat(10)), 'REQUIREMENTS_BAD_LOCK', 'which pip cannot check'],
    ['a package without a version', PYLOCK.replace(ALPHA, 'name = "Alpha_Pkg"'), 'REQUIREMENTS_BAD_LOCK', 'Alpha_Pkg has no version'],
    ['broken TOML', `${PYLOCK}\n[[packages]\n`, 'REQUIREMENTS_BAD_LOCK', 'is not a valid pylock.toml'],
    ['no packages', 'lock-version = "1.0"\n', 'REQUIREMENTS_BAD_LOCK', 'no [[packages]]'],
  ])('refuses %s, naming it', (_, text, code, message) => {
    expect(codeOf(() => resolve({ '/p/pylock.toml': text }))).toBe(code);
    expect(() => resolve({ '/p/pylock.toml': text })).toThrow(message);
  });
});

const HASHED = [
  '# pip-compile --generate-hashes',
  '--index-url https://pypi.example.org/simple',
  '--find-links wheels',
  'alpha-pkg==1.0 \\',
  `    --hash=${H('a')} \\`,
  `    --hash=${H('b')}`,
  `colorama==0.4.6 ; sys_platform == "win32" --hash=${H('c')}`,
  `Beta[extra]==2.1 ; python_version >= "3.8" \\`,
  `    --hash ${H('d')}`,
].join('\n');

describe('a hashed requirements file', () => {
  it('resolves to its pinned packages for this interpreter, like the same pylock.toml', () => {
    const { inputs, plan } = resolve({ '/p/requirements.txt': HASHED });
    expect(inputs.lines.sort()).toEqual([`alpha-pkg==1.0 --hash=${H('a')} --hash=${H('b')}`, `beta==2.1 --hash=${H('d')}`]);
    const text = plan.files['locked-requirements.txt']!;
    expect(text).toContain('--index-url https://pypi.example.org/simple\n--find-links /p/wheels\n');
    expect(text).not.toContain('--no-index');
  });

  it('keeps its key when the order, comments, index or find-links options change, and changes it with a pin', () => {
    const base = resolve({ '/p/requirements.txt': HASHED }).digest;
    expect(resolve({ '/p/requirements.txt': HASHED.replace('pypi.example.org', 'mirror.internal') }).digest).toBe(base);
    const reordered = [`beta==2.1 --hash=${H('d')}`, '# a comment', `alpha-pkg==1.0 --hash=${H('b')} --hash=${H('a')}`].join('\n');
    expect(resolve({ '/p/requirements.txt': reordered }).digest).toBe(base);
    expect(resolve({ '/p/requirements.txt': HASHED.replace('alpha-pkg==1.0', 'alpha-pkg==1.1') }).digest).not.toBe(base);
  });

  it('is installed first, and plain files after it as pip reads them', () => {
    const { plan, inputs } = resolve({ '/p/requirements.txt': HASHED, '/p/extra.txt': 'tool>=1\n' });
    expect(plan.installs).toEqual([
      ['--require-hashes', '--no-deps', '-r', 'locked-requirements.txt'],
      ['-r', '/p/extra.txt'],
    ]);
    expect(inputs.lines).toContain('tool>=1');
  });

  it.each([
    ['an unpinned requirement', `${HASHED}\nloose>=1 --hash=${H('e')}`, 'REQUIREMENTS_BAD_LOCK', 'loose is not pinned with =='],
    ['a requirement without hashes', `${HASHED}\nbare==1`, 'REQUIREMENTS_BAD_LOCK', 'bare has no --hash'],
    ['an editable requirement', `${HASHED}\n-e ./src`, 'REQUIREMENTS_LOCK_UNSUPPORTED', 'is editable'],
    ['a direct URL', `${HASHED}\npkg @ https://x/pkg-1.whl --hash=${H('e')}`, 'REQUIREMENTS_LOCK_UNSUPPORTED', 'pkg is a direct URL requirement'],
    ['a constraints include', `${HASHED}\n-c c.txt`, 'REQUIREMENTS_LOCK_UNSUPPORTED', 'is included with -c'],
  ])('refuses %s, naming it', (_, text, code, message) => {
    const map = { '/p/requirements.txt': text, '/p/c.txt': 'x==1\n' };
    expect(codeOf(() => resolve(map, ['requirements.txt']))).toBe(code);
    expect(() => resolve(map, ['requirements.txt'])).toThrow(message);
  });

  it('refuses two locks that pin a package differently', () => {
    const other = `alpha-pkg==1.2 --hash=${H('e')}\n`;
    expect(() => resolve({ '/p/requirements.txt': HASHED, '/p/other.txt': other })).toThrow(
      'alpha-pkg is locked twice: 1.0 in requirements.txt, 1.2 in other.txt',
    );
  });
});

describe('plain requirement files', () => {
  it('keep the original digest and one pip install of the files as given', () => {
    const { inputs, digest, plan } = resolve({ '/p/a.txt': 'b\n# c\na>=1\n' });
    expect(inputs.locked).toBeUndefined();
    expect(digest).toBe(requirementsDigest(['a>=1', 'b'], 'sha256'));
    expect(plan).toEqual({ files: {}, installs: [['-r', '/p/a.txt']] });
  });
});

describe('the bootstrap script of a locked environment', () => {
  it('embeds the locked set and installs it first, naming only embedded files', () => {
    const map = { '/p/pylock.toml': PYLOCK, '/p/tools.txt': '-r more.txt\n', '/p/more.txt': 'tool\n' };
    const read = (p: string) => map[p as keyof typeof map];
    const inputs = readInputs(['pylock.toml', 'tools.txt'], '/p', read);
    const resolved = resolveInputs(inputs, { environment: LINUX_311 }, () => false);
    const { files, installs } = embeddedInstalls(inputs.requirements, resolved);
    expect(installs).toEqual([
      ['--require-hashes', '--no-deps', '-r', 'locked-requirements.txt'],
      ['-r', 'requirements-1.txt'],
    ]);
    expect(files['requirements-1.txt']).toBe('-r requirements-2.txt\n');
    expect(files['locked-requirements.txt']).toContain('--find-links locked-links.html');
    expect(Object.keys(files).sort()).toEqual(['locked-links.html', 'locked-requirements.txt', 'requirements-1.txt', 'requirements-2.txt']);
  });
});

describe('what differs between two environments', () => {
  it.each([
    ['a pin changed', ['a==1', 'b==2'], ['a==1', 'b==3'], ['b==2 -> b==3']],
    ['one added, one removed', ['a==1', 'six'], ['a==1', 'rich==13.7.1'], ['+ rich==13.7.1', '- six']],
    ['names compared normalised', ['Foo_Bar>=1'], ['foo-bar>=2'], ['Foo_Bar>=1 -> foo-bar>=2']],
    ['constraints apart from requirements', ['-c a==1', 'a'], ['-c a==2', 'a'], ['-c a==1 -> -c a==2']],
    ['options by their text', ['--no-binary :all:', 'a'], ['a'], ['- --no-binary :all:']],
    ['the same lines', ['b', 'a'], ['a', 'b'], []],
  ])('%s', (_, from, to, expected) => {
    expect(lineChanges(from, to).map(describeChange)).toEqual(expected);
  });

  it('shows locked lines without their hashes', () => {
    expect(shownLine(`a==1 --hash=${H('a')} --hash ${H('b')}`)).toBe('a==1');
  });

  it('names the nearest environment, how old it is, and at most a few changes', () => {
    const nearest = {
      key: 'x86_64-3.11-ab12',
      created: '2026-11-29T12:00:00Z',
      store: '/mnt/envs',
      changes: lineChanges(['a==1', 'b', 'c', 'd'], ['a==2', 'e', 'f']),
    };
    expect(describeNearest(nearest, Date.parse('2026-12-01T12:00:00Z'), 3)).toBe(
      'nearest is x86_64-3.11-ab12 (built 2 days ago, in /mnt/envs): a==1 -> a==2, - b, - c, and 3 more',
    );
  });
});
