import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type InstalledState, readInstalledState, recordInstalled, STATE_PATH, staleReason, stampTree } from '../../src/install/installed-state.js';

const state = (fields: Partial<InstalledState> = {}): InstalledState => ({
  format: 1,
  key: 'K',
  stamp: 'S',
  hardlinked: false,
  built: false,
  trusted: [],
  ...fields,
});
const wanted = { key: 'K', linking: true, trusted: [] as string[] };

describe('staleReason', () => {
  it.each([
    ['the same key, files and trust', state(), 'S', wanted, undefined],
    ['no state recorded', undefined, undefined, wanted, 'holds no record'],
    ['another key', state({ key: 'J' }), 'S', wanted, 'the target holds J'],
    ['files changed', state(), 'T', wanted, 'files of the target changed'],
    ['links where copies are asked for', state({ hardlinked: true }), 'S', { ...wanted, linking: false }, '--link-mode none'],
    ['copies where links are allowed', state(), 'S', { ...wanted, linking: true }, undefined],
    ['installed unverified, keys trusted now', state(), 'S', { ...wanted, trusted: ['A'] }, 'not installed under the keys trusted now'],
    ['verified by a key no longer trusted', state({ trusted: ['A', 'B'] }), 'S', { ...wanted, trusted: ['A'] }, 'not installed under'],
    ['verified by keys all trusted now', state({ trusted: ['A'] }), 'S', { ...wanted, trusted: ['A', 'B'] }, undefined],
    ['built here, keys trusted now', state({ built: true }), 'S', { ...wanted, trusted: ['A'] }, undefined],
  ])('%s', (_, recorded, stamp, asked, reason) => {
    const answer = staleReason(recorded, stamp, asked);
    if (reason === undefined) expect(answer).toBeUndefined();
    else expect(answer).toContain(reason);
  });
});

describe('stampTree and the recorded state', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'terrarium-stamp-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'lib', 'pkg'), { recursive: true });
  mkdirSync(path.join(root, '.terrarium'));
  const file = path.join(root, 'lib', 'pkg', 'mod.py');
  writeFileSync(file, 'x = 1\n');
  symlinkSync('pkg/mod.py', path.join(root, 'lib', 'link.py'));

  it('changes with any entry added, edited (even with its size and mtime put back) or removed, and not with the state file', async () => {
    const first = stampTree(root, false);
    expect(stampTree(root, false)).toBe(first);
    await recordInstalled(root, { key: 'K', hardlinked: false, built: true, trusted: [] });
    expect(readInstalledState(root)).toMatchObject({ key: 'K', stamp: first, built: true });
    writeFileSync(path.join(root, 'lib', 'added.py'), '');
    expect(stampTree(root, false)).not.toBe(first);
    rmSync(path.join(root, 'lib', 'added.py'));
    expect(stampTree(root, false)).toBe(first);
    utimesSync(file, 1000, 1000);
    const [before, hardlinkedBefore] = [stampTree(root, false), stampTree(root, true)];
    writeFileSync(file, 'x = 2\n');
    utimesSync(file, 1000, 1000);
    // The change time moves with the write, what size and mtime alone cannot tell; where files are hard
    // links into the cache it is left out, as linking the same file elsewhere moves it too.
    expect(stampTree(root, false)).not.toBe(before);
    expect(stampTree(root, true)).toBe(hardlinkedBefore);
    rmSync(path.join(root, 'lib', 'link.py'));
    expect(stampTree(root, false)).not.toBe(first);
  });

  it('reads no state it did not write', () => {
    for (const text of ['', '[]', '{"format":2}', JSON.stringify({ ...state(), trusted: [1] }), '{'.repeat(70000)]) {
      writeFileSync(path.join(root, STATE_PATH), text);
      expect(readInstalledState(root)).toBeUndefined();
    }
  });
});
