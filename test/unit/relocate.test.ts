import { describe, expect, it } from 'vitest';
import type { Fingerprint } from '../../src/python/fingerprint.js';
import { incompatibility, unsupportedVersion } from '../../src/python/fingerprint.js';
import { interpreterTreePath } from '../../src/relocate/relocations.js';
import { MAX_GROWTH, makeRelocator } from '../../src/relocate/relocator.js';
import {
  parseScriptHeader,
  relocateBinary,
  relocatePyvenvCfg,
  relocateShellScript,
  relocateText,
  scriptHeader,
  scriptInterpreter,
  shellQuote,
} from '../../src/relocate/rewrite.js';
import { testFingerprint } from '../helpers/manifest.js';

const OLD = '/build/.env.staging-1-abcd';
const python: Fingerprint = { ...testFingerprint('/usr/bin/python3.11'), version: [3, 11, 2] };
const body = '# -*- coding: utf-8 -*-\nimport sys\nfrom pip import main\n';
const long = `/srv/${'deep/'.repeat(30)}env`;

describe('relocateText on console scripts', () => {
  it.each([
    ['plain path', `#!${OLD}/bin/python3\n`, '/opt/app', '#!/opt/app/bin/python3\n'],
    ['path with a space', `#!${OLD}/bin/python3\n`, '/opt/my app', `#!/bin/sh\n'''exec' "/opt/my app/bin/python3" "$0" "$@"\n' '''\n`],
    ['path over 127 bytes', `#!${OLD}/bin/python3\n`, long, `#!/bin/sh\n'''exec' "${long}/bin/python3" "$0" "$@"\n' '''\n`],
    ['trampoline back to a plain path', `#!/bin/sh\n'''exec' "${OLD}/bin/python" "$0" "$@"\n' '''\n`, '/opt/app', '#!/opt/app/bin/python\n'],
    ['non-ASCII path', `#!${OLD}/bin/python3\n`, '/opt/zoë', '#!/opt/zoë/bin/python3\n'],
    ['arguments kept', `#!${OLD}/bin/python3 -E\n`, '/opt/app', '#!/opt/app/bin/python3 -E\n'],
  ])('%s', (_, header, target, expected) => {
    const out = relocateText(Buffer.from(header + body), OLD, target).toString();
    expect(out).toBe(expected + body);
  });

  it('leaves scripts for other interpreters alone, but moves paths in their body', () => {
    const text = `#!/usr/bin/env bash\nexport VIRTUAL_ENV="${OLD}"\n`;
    expect(relocateText(Buffer.from(text), OLD, '/x').toString()).toBe('#!/usr/bin/env bash\nexport VIRTUAL_ENV="/x"\n');
  });

  it('reads the trampoline pip writes', () => {
    const header = scriptHeader('/a b/bin/python', '');
    expect(parseScriptHeader(Buffer.from(header + body), '/a b')).toEqual({ interpreter: '/a b/bin/python', args: '', length: Buffer.byteLength(header) });
  });
});

describe('trampolines for non-ASCII paths', () => {
  it('declare UTF-8 on their second line (Python 2 reads it only there) and read back', () => {
    const target = `/srv/zoë/${'x'.repeat(120)}`;
    const out = relocateText(Buffer.from(`#!${OLD}/bin/python\n${body}`), OLD, target).toString();
    expect(out.split('\n').slice(0, 3)).toEqual(['#!/bin/sh', '# -*- coding: utf-8 -*-', `'''exec' "${target}/bin/python" "$0" "$@"`]);
    expect(parseScriptHeader(Buffer.from(out), target)?.interpreter).toBe(`${target}/bin/python`);
    expect(scriptInterpreter(Buffer.from(out))).toBe(`${target}/bin/python`);
    expect(relocateText(Buffer.from(out), target, '/opt/app').toString()).toBe(`#!/opt/app/bin/python\n${body}`);
  });
});

describe('binary files', () => {
  const elf = (prefix: string) => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0]), Buffer.from(`${prefix}/lib\0rpath:${prefix}/lib64\0tail`)]);

  it('rewrite C strings in place, padding with NULs, so no offset moves', () => {
    const out = relocateBinary(elf(OLD), OLD, '/opt/app')!;
    expect(out.length).toBe(elf(OLD).length);
    const strings = out.toString('latin1').split('\0').filter(Boolean);
    expect(strings).toEqual(['\x7fELF', '/opt/app/lib', 'rpath:/opt/app/lib64', 'tail']);
  });

  it('leave the file alone when the new path is longer', () => {
    expect(relocateBinary(elf('/short'), '/short', '/much/longer/path')).toBeUndefined();
  });
});

describe('activate scripts', () => {
  it.each<[string, string, string, string]>([
    ['bare word (CVE-2024-9287 fix), safe path', `VIRTUAL_ENV=${OLD}\n`, '/opt/app', 'VIRTUAL_ENV=/opt/app\n'],
    ['bare word, path with a space', `VIRTUAL_ENV=${OLD}\nexport VIRTUAL_ENV\n`, '/opt/my app', "VIRTUAL_ENV='/opt/my app'\nexport VIRTUAL_ENV\n"],
    ['bare word in csh', `setenv VIRTUAL_ENV ${OLD}\n`, '/opt/zoë', "setenv VIRTUAL_ENV '/opt/zoë'\n"],
    ['bare word in fish', `set -gx VIRTUAL_ENV ${OLD}\n`, "/opt/it's", `set -gx VIRTUAL_ENV '/opt/it'"'"'s'\n`],
    ['double quotes (older venv)', `VIRTUAL_ENV="${OLD}"\n`, '/opt/my app', 'VIRTUAL_ENV="/opt/my app"\n'],
    ['single quotes (virtualenv)', `VIRTUAL_ENV='${OLD}'\n`, "/opt/it's", `VIRTUAL_ENV='/opt/it'"'"'s'\n`],
    ['bare word followed by more path', `PATH=${OLD}/bin:$PATH\n`, '/opt/my app', "PATH='/opt/my app'/bin:$PATH\n"],
  ])('%s', (_, script, target, expected) => {
    expect(relocateShellScript(Buffer.from(script), OLD, target).toString()).toBe(expected);
  });

  it.each([
    ['/opt/app', '/opt/app'],
    ['/opt/my app', "'/opt/my app'"],
    ["/it's", `'/it'"'"'s'`],
  ])('shellQuote(%j)', (word, quoted) => expect(shellQuote(word)).toBe(quoted));
});

describe('relocatePyvenvCfg', () => {
  it('points the environment at the local interpreter and its new place', () => {
    const cfg = [
      'home = /root/.pyenv/versions/3.11.7/bin',
      'include-system-site-packages = false',
      'version = 3.11.7',
      'executable = /root/.pyenv/versions/3.11.7/bin/python3.11',
      `command = /root/.pyenv/versions/3.11.7/bin/python3 -m venv ${OLD}`,
      '',
    ].join('\n');
    expect(relocatePyvenvCfg(cfg, OLD, '/opt/app', python)).toBe(
      [
        'home = /usr/bin',
        'include-system-site-packages = false',
        'version = 3.11.2',
        'executable = /usr/bin/python3.11',
        'command = /usr/bin/python3.11 -m venv /opt/app',
        '',
      ].join('\n'),
    );
  });

  it("also virtualenv's base-* keys, and keeps what it does not know", () => {
    const cfg = [
      'home = /root/.pyenv/versions/2.7.18/bin',
      'implementation = CPython',
      'version_info = 2.7.18',
      'virtualenv = 20.17.1+ds',
      'base-prefix = /root/.pyenv/versions/2.7.18',
      'base-exec-prefix = /root/.pyenv/versions/2.7.18',
      'base-executable = /root/.pyenv/versions/2.7.18/bin/python',
      `prompt = ${OLD}`,
    ].join('\n');
    const py27 = { ...python, version: [2, 7, 17], executable: '/opt/py/bin/python2.7', prefix: '/opt/py' } as Fingerprint;
    expect(relocatePyvenvCfg(cfg, OLD, '/srv/env', py27).split('\n')).toEqual([
      'home = /opt/py/bin',
      'implementation = CPython',
      'version_info = 2.7.17',
      'virtualenv = 20.17.1+ds',
      'base-prefix = /opt/py',
      'base-exec-prefix = /opt/py',
      'base-executable = /opt/py/bin/python2.7',
      'prompt = /srv/env',
    ]);
  });
});

describe('supported Python versions', () => {
  it.each<[number[], boolean]>([
    [[2, 6, 9], false],
    [[2, 7, 18], true],
    [[3, 0, 1], false],
    [[3, 5, 10], false],
    [[3, 6, 15], true],
    [[3, 13, 0], true],
    [[4, 0, 0], true],
    [[1, 6, 1], false],
  ])('%j supported: %s', (version, ok) => {
    const reason = unsupportedVersion(version);
    expect(reason === undefined).toBe(ok);
    if (reason) expect(reason).toContain('too old');
  });
});

describe('incompatibility', () => {
  it.each([
    ['another patch release and place', { version: [3, 11, 7], executable: '/root/.pyenv/versions/3.11.7/bin/python3' }, undefined],
    ['another minor version', { version: [3, 12, 1], soabi: 'cpython-312-x86_64-linux-gnu' }, 'version differs'],
    ['free-threading', { gilDisabled: true, soabi: 'cpython-313t-x86_64-linux-gnu' }, 'ABI differs'],
    ['another implementation', { implementation: 'pypy' }, 'implementation differs'],
    ['another C library', { libc: 'musl' }, 'C library differs'],
    ['another CPU', { machine: 'aarch64' }, 'architecture differs'],
  ])('%s', (_, change, expected) => {
    const reason = incompatibility({ ...python, ...change } as Fingerprint, python);
    if (expected === undefined) expect(reason).toBeUndefined();
    else expect(reason).toContain(expected);
  });
});

describe("interpreterTreePath: links into the base interpreter's tree follow the interpreter", () => {
  const prefix = '/root/.pyenv/versions/2.7.18';
  it.each<[string, string | undefined, string | undefined]>([
    [`${prefix}/lib/python2.7/os.py`, prefix, 'lib/python2.7/os.py'],
    [`${prefix}/include/python2.7`, prefix, 'include/python2.7'],
    [`${prefix}/../3.11.7/lib/x`, prefix, undefined],
    [`${prefix}x/lib/os.py`, prefix, undefined],
    ['/etc/passwd', prefix, undefined],
    ['/etc/passwd', '/', undefined],
    [`${prefix}/lib/os.py`, undefined, undefined],
  ])('%s under %s is %s', (target, under, rest) => {
    expect(interpreterTreePath(target, under)).toBe(rest);
  });
});

describe('what relocation may write is bounded, whatever the target', () => {
  const placeholder = `/${'p'.repeat(40)}`;
  const manifest = { text: ['lib/a.txt', 'lib/b.txt', 'lib/c.txt', 'bin/activate'], binary: [], prefix: placeholder };
  const target = `/${'t'.repeat(1000)}`;

  it('refuses, before making it, a file full of the prefix rewritten for a long target', () => {
    const relocator = makeRelocator(manifest, target, python);
    const full = Buffer.from(`${placeholder}\n`.repeat((15 << 20) / (placeholder.length + 1)));
    const used = process.memoryUsage().arrayBuffers;
    expect(() => relocator.apply('lib/a.txt', full)).toThrow(/would grow it by/);
    expect(process.memoryUsage().arrayBuffers - used).toBeLessThan(16 << 20);
  });

  it('refuses files that each stay under the per-file bound once their sum passes the total', () => {
    const relocator = makeRelocator(manifest, target, python);
    const some = Buffer.from(`${placeholder}\n`.repeat(Math.floor(MAX_GROWTH.file / (target.length - placeholder.length))));
    let applied = 0;
    expect(() => {
      for (;;) {
        relocator.apply(`lib/${'abc'[applied % 3]}.txt`, some);
        applied++;
      }
    }).toThrow(/would grow it by/);
    expect(applied).toBe(Math.floor(MAX_GROWTH.total / MAX_GROWTH.file));
  });

  it('rewrites what real environments hold, activate scripts included', () => {
    const relocator = makeRelocator(manifest, target, python);
    const script = Buffer.from(`VIRTUAL_ENV=${placeholder}\nPS1="(${placeholder.slice(1)}) $PS1"\n`);
    expect(relocator.apply('bin/activate', script).toString()).toContain(`VIRTUAL_ENV=${target}`);
  });
});
