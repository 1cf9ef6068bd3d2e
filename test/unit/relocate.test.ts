import { describe, expect, it } from 'vitest';
import type { Fingerprint } from '../../src/python/fingerprint.js';
import { incompatibility, unsupportedVersion } from '../../src/python/fingerprint.js';
import { parseScriptHeader, relocatePyvenvCfg, relocateText, scriptHeader } from '../../src/relocate/rewrite.js';

const OLD = '/build/.env.staging-1-abcd';
const python: Fingerprint = {
  implementation: 'cpython', version: [3, 11, 2], abiflags: '', soabi: 'cpython-311-x86_64-linux-gnu', gilDisabled: false,
  machine: 'x86_64', system: 'linux', libc: 'glibc', libcVersion: '2.36', executable: '/usr/bin/python3.11', hasVenv: true,
};
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
