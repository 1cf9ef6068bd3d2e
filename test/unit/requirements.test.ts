import { describe, expect, it } from 'vitest';
import { TerrariumError } from '../../src/errors.js';
import { requirementsDigest } from '../../src/key/digest.js';
import { DEFAULT_KEY_FORMAT, formatKey } from '../../src/key/key-format.js';
import { logicalLines, parseRequirementFiles } from '../../src/key/requirements.js';

function files(map: Record<string, string>) {
  return (p: string) => {
    if (!(p in map)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return map[p]!;
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TerrariumError ? error.code : 'not a TerrariumError';
  }
  return undefined;
}

describe('logicalLines', () => {
  it.each([
    ['blank lines and comments', 'a\n\n# comment\n  # indented comment\nb\n', ['a', 'b']],
    ['inline comments after whitespace', 'requests==2.0  # pinned\nfoo#bar\n', ['requests==2.0', 'foo#bar']],
    ['continuations', 'foo \\\n  >=1.0\nbar\n', ['foo   >=1.0', 'bar']],
    ['surrounding whitespace and CRLF', '  a  \r\n\tb\r\n', ['a', 'b']],
    ['a comment ending a continuation', 'foo\\\n# note\nbar', ['foo', 'bar']],
    ['a trailing continuation', 'foo\\', ['foo']],
  ])('%s', (_, text, expected) => {
    expect(logicalLines(text)).toEqual(expected);
  });
});

describe('parseRequirementFiles', () => {
  it('follows -r and -c includes relative to the including file, in order', () => {
    const set = parseRequirementFiles(
      ['req/main.txt'],
      '/p',
      files({
        '/p/req/main.txt': 'a\n-r sub/more.txt\n--constraint=../c.txt\nz\n',
        '/p/req/sub/more.txt': 'b\n-rdeeper.txt\n',
        '/p/req/sub/deeper.txt': 'c\n',
        '/p/c.txt': 'a==1\n',
      }),
    );
    expect(set.lines).toEqual(['a', 'b', 'c', '-c a==1', 'z']);
    expect(set.files.map((f) => f.path)).toEqual(['/p/req/main.txt', '/p/req/sub/more.txt', '/p/req/sub/deeper.txt', '/p/c.txt']);
    expect(set.files[0]!.entries[1]).toEqual({ kind: 'include', flag: '-r', file: 1 });
    expect(set.roots).toEqual([0]);
  });

  it('reads a file included twice once', () => {
    const set = parseRequirementFiles(
      ['a.txt', 'b.txt'],
      '/p',
      files({ '/p/a.txt': '-r common.txt\nx\n', '/p/b.txt': '-r common.txt\n', '/p/common.txt': 'c\n' }),
    );
    expect(set.lines).toEqual(['c', 'x']);
    expect(set.roots).toEqual([0, 2]);
  });

  it.each([
    ['a missing file', ['nope.txt'], {}, 'REQUIREMENTS_MISSING'],
    ['a missing include', ['a.txt'], { '/p/a.txt': '-r gone.txt\n' }, 'REQUIREMENTS_INCLUDE_MISSING'],
    ['a cycle', ['a.txt'], { '/p/a.txt': '-r b.txt\n', '/p/b.txt': '-r a.txt\n' }, 'REQUIREMENTS_INCLUDE_CYCLE'],
    ['a self include', ['a.txt'], { '/p/a.txt': '-r a.txt\n' }, 'REQUIREMENTS_INCLUDE_CYCLE'],
    ['a remote include', ['a.txt'], { '/p/a.txt': '-r https://example.com/r.txt\n' }, 'REQUIREMENTS_REMOTE_INCLUDE'],
  ])('refuses %s', (_, given, map, code) => {
    expect(codeOf(() => parseRequirementFiles(given, '/p', files(map)))).toBe(code);
  });

  it('names both files when an include is missing', () => {
    expect(() => parseRequirementFiles(['a.txt'], '/p', files({ '/p/a.txt': '-r gone.txt\n' }))).toThrow(
      'requirements file not found: gone.txt (included from a.txt)',
    );
  });
});

describe('requirementsDigest', () => {
  // Values computed with the original's algorithm: hashlib.md5('\n'.join(sorted(lines)).encode()).
  it.each([
    [['requests==2.31.0', 'flask'], 'md5', '4614781e4eb498bad89188a17f54f058'],
    [['requests==2.31.0', 'flask'], 'sha256', '67b8a2be944239c42bb1f2ad227e50d9d363805b4e4c03a0f115b5674cce7d84'],
    [[], 'md5', 'd41d8cd98f00b204e9800998ecf8427e'],
  ])('%j %s is the digest of the sorted lines joined with \\n', (lines, type, expected) => {
    expect(requirementsDigest(lines, type)).toBe(expected);
  });

  it('sorts by code point, as Python does', () => {
    // U+FF5E sorts before U+1F600 in Python (code points); JavaScript's default sort puts it after.
    expect(requirementsDigest(['\u{1F600}', '\uFF5E'], 'md5')).toBe(requirementsDigest(['\uFF5E', '\u{1F600}'], 'md5'));
  });

  it('refuses an unknown digest type', () => {
    expect(codeOf(() => requirementsDigest(['a'], 'md6'))).toBe('UNKNOWN_DIGEST');
  });
});

describe('formatKey', () => {
  const fields = { arch: 'x86_64', python_vmajor: '3', python_vminor: '11', python_vpatch: '7', digest: 'abc' };
  it.each([
    [DEFAULT_KEY_FORMAT, 'x86_64-3.11-abc'],
    ['envs/%(python_vmajor)d.%(python_vminor)d.%(python_vpatch)s/%(digest)s', 'envs/3.11.7/abc'],
    ['100%%-%(digest)s', '100%-abc'],
  ])('%s', (format, key) => {
    expect(formatKey(format, fields)).toBe(key);
  });

  it.each([['%(nope)s'], ['%(digest)'], ['%s-%(digest)s'], ['%(arch)d'], ['../%(digest)s'], ['/abs/%(digest)s'], ['a b %(digest)s']])(
    'refuses %s',
    (format) => {
      expect(codeOf(() => formatKey(format, fields))).toBe('BAD_KEY_FORMAT');
    },
  );
});
