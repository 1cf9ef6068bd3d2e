import { TerrariumError } from '../errors.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};
const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `500M`, `2G`, `1.5GiB`, `1048576`: bytes (units are powers of 1024, as du and ls -h count). */
export function parseSize(text: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = SIZE_UNITS[match?.[2]?.toLowerCase() ?? 'x'];
  if (!match || unit === undefined) throw new TerrariumError('USAGE', `bad ${option} "${text}"`, { hint: 'give a size such as 500M, 2G or 1048576 (bytes)' });
  return Math.floor(Number(match[1]) * unit);
}

/** `30d`, `12h`, `2w`, `90m`, `45s`, or combined (`1d12h`): milliseconds. */
export function parseDuration(text: string, option: string): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)([smhdw])/gi)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text.trim()) {
    throw new TerrariumError('USAGE', `bad ${option} "${text}"`, { hint: 'give a duration such as 30d, 12h, 2w or 1d12h' });
  }
  return parts.reduce((total, [, value, unit]) => total + Number(value) * DURATION_UNITS[unit!.toLowerCase()]!, 0);
}

/** A count or number of seconds that must not be negative. */
export function parseNonNegative(text: string, option: string, integer = false): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new TerrariumError('USAGE', `bad ${option} "${text}"`, { hint: integer ? 'give a whole number, 0 or more' : 'give a number, 0 or more' });
  }
  return value;
}
