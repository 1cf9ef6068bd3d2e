import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/archive/entry.js';
import { EntryGuard } from '../../src/archive/entry-check.js';
import { extractEnvironment } from '../../src/archive/extract.js';
import { MANIFEST_PATH } from '../../src/archive/manifest.js';
import { TerrariumError } from '../../src/errors.js';
import { requirementsDigest } from '../../src/key/digest.js';
import { parseRequirementFiles } from '../../src/key/requirements.js';
import { makeRelocator } from '../../src/relocate/relocator.js';
import { testFingerprint, testManifest } from '../helpers/manifest.js';

/**
 * Random and mutated input for the parts that read what users and shared storage hand in: the only
 * acceptable failure is a TerrariumError with the expected family of codes. Seeds are fixed so that a
 * failure reproduces; fast-check prints the shrunk counterexample.
 */
const SEED = 20261124;

const isError = (error: unknown, prefix: string) => error instanceof TerrariumError && error.code.startsWith(prefix);

describe('requirements parser fuzz', () => {
  const names = ['a.txt', 'b.txt', 'sub/c.txt', '../up.txt', 'missing.txt', 'dir'];
  const piece = fc.oneof(
    fc.constantFrom('-r ', '-c ', '--requirement=', '--constraint ', '-r', '#', ' ', '\\', '\n', '\\\n', '\r\n', '\t', 'https://x/y.txt', '==', ';', '[x]'),
    fc.constantFrom(...names),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 6 }),
  );
  const text = fc.array(piece, { maxLength: 25 }).map((parts) => parts.join(''));

  it('returns lines or a requirements error, nothing else', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names.slice(0, 4)), text), fc.subarray(names, { minLength: 1 }), (files, given) => {
        const read = (file: string) => {
          const name = path.relative('/w', file);
          if (name === 'dir') throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
          if (!(name in files)) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
          return files[name]!;
        };
        try {
          const set = parseRequirementFiles(given, '/w', read);
          expect(set.lines.every((line) => typeof line === 'string' && line.trim() === line && line !== '')).toBe(true);
          expect(requirementsDigest(set.lines, 'md5')).toMatch(/^[0-9a-f]{32}$/);
        } catch (error) {
          if (!isError(error, 'REQUIREMENTS_')) throw error;
        }
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});

describe('tar entry check fuzz', () => {
  const segment = fc.constantFrom('a', 'b', '..', '.', '', 'bin', 'ü', '\0', 'x'.repeat(300));
  const name = fc.array(segment, { minLength: 0, maxLength: 6 }).map((parts) => parts.join('/'));
  const leading = fc.tuple(fc.constantFrom('', '/', './', '//'), name).map(([a, b]) => a + b);
  const header = fc.record({
    name: leading,
    type: fc.constantFrom('file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo', 'contiguous-file', null, 'pax-header'),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    linkname: fc.option(leading),
    size: fc.nat(),
  });

  it('accepts only entries that stay inside the root, never under an accepted symlink', () => {
    fc.assert(
      fc.property(fc.array(header, { maxLength: 12 }), (headers) => {
        const guard = new EntryGuard();
        const links: string[] = [];
        for (const h of headers) {
          let entry: Entry;
          try {
            entry = guard.check(h);
          } catch (error) {
            if (!isError(error, 'ARCHIVE_HOSTILE')) throw error;
            continue;
          }
          const parts = entry.path.split('/');
          expect(entry.path.startsWith('/') || parts.includes('..') || parts.includes('') || parts.includes('.')).toBe(false);
          expect(links.some((link) => entry.path === link || entry.path.startsWith(`${link}/`))).toBe(false);
          expect(entry.mode & 0o7000).toBe(0);
          if (entry.type === 'symlink') {
            const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(entry.path), entry.linkname!));
            expect(resolved === '..' || resolved.startsWith('../') || path.posix.isAbsolute(resolved)).toBe(false);
            links.push(entry.path);
          }
        }
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });
});

describe('extraction of mutated archives', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'terrarium-fuzz-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const python = testFingerprint();

  async function validArchive(): Promise<Buffer> {
    const manifest = testManifest('/old/env', { text: ['bin/tool'] });
    const pack = tar.pack();
    // A fixed mtime keeps the archive, and so every mutation of a given seed, the same from run to run.
    const add = (h: tar.Headers, body = '') =>
      new Promise<void>((resolve, reject) => pack.entry({ mtime: new Date(0), ...h }, body, (e) => (e ? reject(e) : resolve())));
    await add({ name: MANIFEST_PATH }, JSON.stringify(manifest));
    await add({ name: 'bin', type: 'directory' });
    await add({ name: 'bin/tool', mode: 0o755 }, '#!/old/env/bin/python\nprint(1)\n');
    await add({ name: 'bin/link', type: 'symlink', linkname: 'tool' });
    await add({ name: 'lib/data.txt' }, 'x'.repeat(3000));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  it('unpacks or fails with an archive error, and writes nothing outside its root', async () => {
    const original = await validArchive();
    const mutation = fc.oneof(
      fc.array(fc.tuple(fc.nat({ max: original.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
        const bytes = Buffer.from(original);
        for (const [at, xor] of flips) bytes[at]! ^= xor;
        return bytes;
      }),
      fc.nat({ max: original.length - 1 }).map((end) => original.subarray(0, end)),
      fc
        .tuple(fc.nat({ max: original.length }), fc.uint8Array({ minLength: 1, maxLength: 700 }))
        .map(([at, junk]) => Buffer.concat([original.subarray(0, at), junk, original.subarray(at)])),
    );
    let run = 0;
    const outcomes = { unpacked: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(mutation, async (bytes) => {
        const sandbox = path.join(work, String(run++));
        const root = path.join(sandbox, 'root');
        mkdirSync(root, { recursive: true });
        try {
          await extractEnvironment([Readable.from([bytes])], 'none', root, (m) => makeRelocator(m, '/new/env', python));
          outcomes.unpacked += 1;
        } catch (error) {
          if (!isError(error, 'ARCHIVE_') && !isError(error, 'PYTHON_')) throw error;
          outcomes.refused += 1;
        }
        expect(readdirSync(sandbox)).toEqual(['root']);
        // Every symlink written points inside the root.
        for (const entry of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
          const file = path.join(root, entry);
          if (!lstatSync(file).isSymbolicLink()) continue;
          const resolved = path.resolve(path.dirname(file), readlinkSync(file));
          expect(resolved === root || resolved.startsWith(`${root}/`)).toBe(true);
        }
        rmSync(sandbox, { recursive: true, force: true });
      }),
      { seed: SEED, numRuns: 300 },
    );
    // Both outcomes occur, so the property was exercised on each side.
    expect(outcomes.unpacked).toBeGreaterThan(10);
    expect(outcomes.refused).toBeGreaterThan(10);
  });
});
