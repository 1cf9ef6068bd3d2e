import { execFileSync } from 'node:child_process';
import { existsSync, lutimesSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryLeases } from '../../src/stores/dir-lease.js';
import { FAILURE_FRESH_MS, failureApplies, parseFailure, parseLease, printable } from '../../src/stores/lease.js';

const holder = { host: 'abcd1234', hostname: 'runner-7', pid: 4242, nonce: 'n1', since: '2026-12-01T12:00:00.000Z' };

describe('build leases as read from a store (hostile input)', () => {
  it.each([
    ['a lease terrarium wrote', JSON.stringify(holder), holder],
    ['without a host name (a lock of terrarium 0.1)', JSON.stringify({ ...holder, hostname: undefined }), { ...holder, hostname: 'an unknown host' }],
    ['a host name with escape codes', JSON.stringify({ ...holder, hostname: 'evil\u001b[2Jhost\n' }), { ...holder, hostname: 'evil?[2Jhost?' }],
    ['a host name of 1,000 characters', JSON.stringify({ ...holder, hostname: 'h'.repeat(1000) }), { ...holder, hostname: `${'h'.repeat(64)}…` }],
    ['not JSON', 'lease', undefined],
    ['a pid that is not a number', JSON.stringify({ ...holder, pid: '42' }), undefined],
    ['no nonce', JSON.stringify({ ...holder, nonce: undefined }), undefined],
    ['null', 'null', undefined],
  ])('%s', (_, text, expected) => {
    expect(parseLease(text)).toEqual(expected);
  });

  it.each([
    ['a failure terrarium wrote', { holder, at: '2026-12-01T12:01:00.000Z', code: 'BUILD_PIP_FAILED', message: 'pip install failed (exit 1)' }, true],
    ['a date that is not one', { holder, at: 'yesterday', code: 'BUILD_PIP_FAILED', message: 'm' }, false],
    ['no holder', { at: '2026-12-01T12:01:00.000Z', code: 'BUILD_PIP_FAILED', message: 'm' }, false],
    ['a message that is not text', { holder, at: '2026-12-01T12:01:00.000Z', code: 'BUILD_PIP_FAILED', message: 42 }, false],
  ])('%s', (_, note, valid) => {
    expect(parseFailure(JSON.stringify(note)) !== undefined).toBe(valid);
  });

  it('a failure message is shown printable and at most 500 characters long', () => {
    const note = parseFailure(JSON.stringify({ holder, at: '2026-12-01T12:01:00.000Z', code: 'X\u0007', message: `\u001b]0;title\u0007${'m'.repeat(600)}` }));
    expect(note?.code).toBe('X?');
    expect(note?.message).toHaveLength(501);
    expect(note?.message.startsWith('?]0;title?')).toBe(true);
    expect(printable('plain')).toBe('plain');
  });
});

describe('which failure a waiting run reports', () => {
  const now = Date.parse('2026-12-01T12:10:00.000Z');
  const at = (ms: number, host = 'other000') => ({ holder: { ...holder, host }, at: new Date(now + ms).toISOString(), code: 'BUILD_PIP_FAILED', message: 'm' });
  it.each([
    ["another host's failure a second old, for a run that just asked", at(-1000), now, true],
    ["another host's failure older than a minute: the run tries again", at(-FAILURE_FRESH_MS - 1000), now, false],
    ["this host's failure a second old, for a run that just asked (its user, after a fix): it tries again", at(-1000, 'this0000'), now, false],
    ['the failure of the build a run waited on, on this host', at(-1000, 'this0000'), now - 5000, true],
    ['the failure of the build a run waited on for ten minutes', at(-1000), now - 600_000, true],
    ['a failure from before a long wait began, and old', at(-700_000), now - 600_000, false],
    ['a failure dated far in the future (a clock or a store that lies)', at(3_600_000), now, false],
  ])('%s', (_, failure, waitingSince, applies) => {
    expect(failureApplies(failure, waitingSince, now, 'this0000')).toBe(applies);
  });
});

describe('a lease file planted in a storage directory', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'terrarium-lease-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const key = 'x86_64-3.11-abc';
  const lease = path.join(root, `${key}.lease`);
  beforeEach(() => rmSync(lease, { recursive: true, force: true }));
  const plant: Array<[string, () => void]> = [
    [
      'a 1 GiB file (sparse)',
      () => {
        writeFileSync(lease, '');
        truncateSync(lease, 2 ** 30);
      },
    ],
    ['a FIFO (reading it would wait for a writer forever)', () => execFileSync('mkfifo', [lease])],
    ['a symlink to /dev/zero', () => symlinkSync('/dev/zero', lease)],
    ['text that is not a lease', () => writeFileSync(lease, 'hello')],
  ];

  it.each(plant)('%s: fresh, it is a lease of an unknown runner (waited for); old, it is broken and taken', async (_, make) => {
    const leases = new DirectoryLeases(root);
    make();
    const fresh = await leases.take(key);
    expect(fresh).toEqual({ kind: 'busy', holder: undefined });
    const old = new Date(Date.now() - 120_000);
    lutimesSync(lease, old, old);
    const taken = await leases.take(key);
    expect(taken.kind).toBe('held');
    if (taken.kind === 'held') await taken.lease.release();
    expect(existsSync(lease)).toBe(false);
  });

  it('a directory, which cannot be broken: the run builds without a lease', async () => {
    mkdirSync(lease);
    const old = new Date(Date.now() - 120_000);
    utimesSync(lease, old, old);
    expect((await new DirectoryLeases(root).take(key)).kind).toBe('unavailable');
  });
});
