import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatTransfer, groupDigits } from '../../src/report/format.js';

describe('report formats', () => {
  it.each([
    [0, '0'],
    [7, '7'],
    [999, '999'],
    [1000, '1,000'],
    [18443, '18,443'],
    [1234567, '1,234,567'],
    [100000000, '100,000,000'],
  ])('groupDigits(%i) = %s, as en-US formatting would write it', (n, text) => {
    expect(groupDigits(n)).toBe(text);
    expect(groupDigits(n)).toBe(n.toLocaleString('en-US'));
  });

  it.each([
    [1, 'file', '1 file'],
    [2, 'file', '2 files'],
    [18443, 'file', '18,443 files'],
  ])('formatCount(%i, %s) = %s', (n, noun, text) => {
    expect(formatCount(n, noun)).toBe(text);
  });

  it('irregular plurals', () => {
    expect(formatCount(1, 'entry', 'entries')).toBe('1 entry');
    expect(formatCount(1694, 'entry', 'entries')).toBe('1,694 entries');
  });

  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [21138038, '20.2 MiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
  ])('formatBytes(%i) = %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('a transfer shows its rate and time left once it has run half a second', () => {
    expect(formatTransfer(1024, 4096, 100)).toBe('1.0 KiB / 4.0 KiB');
    expect(formatTransfer(1024 * 1024, 4 * 1024 * 1024, 1000)).toBe('1.0 MiB / 4.0 MiB · 1.0 MiB/s · 3 s left');
    expect(formatTransfer(2048, undefined, 1000)).toBe('2.0 KiB · 2.0 KiB/s');
  });
});
