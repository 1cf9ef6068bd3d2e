import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cachedFingerprint } from '../../src/cache/fingerprints.js';
import type { Fingerprint } from '../../src/python/fingerprint.js';
import { testFingerprint } from '../helpers/manifest.js';

let dir: string;
let probes: number;
let stdlib: string;
const fingerprint = (): Fingerprint => ({ ...testFingerprint(path.join(dir, 'python3.11')), prefix: dir, stdlib });
const remember = (program: string, cache: string | undefined) => cachedFingerprint(program, cache, probe).then(({ fingerprint }) => fingerprint);
const probe = async () => {
  probes += 1;
  return fingerprint();
};

beforeEach(() => {
  dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'terrarium-fp-')));
  stdlib = path.join(dir, 'lib', 'python3.11');
  mkdirSync(stdlib, { recursive: true });
  probes = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function executable(name: string, head: Buffer | string): string {
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.concat([Buffer.from(head), Buffer.alloc(64)]), { mode: 0o755 });
  return file;
}
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

describe('interpreter fingerprint cache', () => {
  it('asks a real binary once, then answers from the cache (also through a symlink to it)', async () => {
    const binary = executable('python3.11', ELF);
    symlinkSync(binary, path.join(dir, 'python3'));
    const cache = path.join(dir, 'cache', 'interpreters.json');
    expect(await remember(binary, cache)).toEqual(fingerprint());
    expect(await remember(binary, cache)).toEqual(fingerprint());
    expect(await remember(path.join(dir, 'python3'), cache)).toEqual(fingerprint());
    expect(probes).toBe(1);
  });

  it('says which answers came from the cache', async () => {
    const binary = executable('python3.11', ELF);
    const cache = path.join(dir, 'interpreters.json');
    expect((await cachedFingerprint(binary, cache, probe)).remembered).toBe(false);
    expect((await cachedFingerprint(binary, cache, probe)).remembered).toBe(true);
    expect((await cachedFingerprint(binary, cache, probe, true)).remembered).toBe(false);
    expect(probes).toBe(2);
  });

  it.each([
    ['the binary is replaced', (binary: string) => writeFileSync(binary, Buffer.concat([ELF, Buffer.alloc(128)]))],
    ['the binary is touched', (binary: string) => utimesSync(binary, new Date(2001, 1, 1), new Date(2001, 1, 1))],
    ['the standard library gains a module (python3-venv installed)', () => mkdirSync(path.join(stdlib, 'ensurepip'))],
    ['the cache file is damaged', () => writeFileSync(path.join(dir, 'interpreters.json'), '{"half')],
    [
      'the remembered fingerprint is not one (its marker values are not strings)',
      () => {
        const file = path.join(dir, 'interpreters.json');
        const entries = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { fingerprint: Fingerprint }>;
        for (const entry of Object.values(entries)) entry.fingerprint = { ...entry.fingerprint, markers: { python_version: 3 } } as never;
        writeFileSync(file, JSON.stringify(entries));
      },
    ],
    ...(['executable', 'prefix', 'stdlib'] as const).map((field): [string, () => void] => [
      `the remembered ${field} is not the binary's (a poisoned cache choosing what runs)`,
      () => {
        const file = path.join(dir, 'interpreters.json');
        const other = executable('other-python', ELF);
        const entries = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { fingerprint: Fingerprint }>;
        const elsewhere = { executable: other, prefix: path.join(dir, 'lib'), stdlib: tmpdir() }[field];
        for (const entry of Object.values(entries)) entry.fingerprint = { ...entry.fingerprint, [field]: elsewhere };
        writeFileSync(file, JSON.stringify(entries));
      },
    ]),
  ])('asks again when %s', async (_why, change) => {
    const binary = executable('python3.11', ELF);
    const cache = path.join(dir, 'interpreters.json');
    await remember(binary, cache);
    change(binary);
    await remember(binary, cache);
    expect(probes).toBe(2);
    await remember(binary, cache);
    expect(probes).toBe(2);
  });

  it.each([
    [
      'a script such as a pyenv shim (it picks an interpreter on each run)',
      () => executable('python3', '#!/usr/bin/env bash\n'),
      path.join('x', 'interpreters.json'),
    ],
    ['no cache file given', () => executable('python3.11', ELF), undefined],
    ['an unwritable cache location', () => executable('python3.11', ELF), path.join('not-a-dir', 'interpreters.json')],
  ])('always asks for %s', async (_why, make, cacheName) => {
    const program = make();
    writeFileSync(path.join(dir, 'not-a-dir'), '');
    const cache = cacheName && path.join(dir, cacheName);
    await remember(program, cache);
    await remember(program, cache);
    expect(probes).toBe(2);
  });
});
