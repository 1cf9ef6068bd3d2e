import { TerrariumError } from '../errors.js';

export const DEFAULT_KEY_FORMAT = '%(arch)s-%(python_vmajor)s.%(python_vminor)s-%(digest)s';

export const KEY_FIELDS = ['arch', 'python_vmajor', 'python_vminor', 'python_vpatch', 'digest'] as const;
export type KeyFields = Record<(typeof KEY_FIELDS)[number], string>;

const TOKEN = /%(?:\(([^)]*)\))?([sd%])?/g;

/** Expands Python %-style `%(name)s` fields (and `%%`), as the original's remote-key-format did. */
export function formatKey(format: string, fields: KeyFields): string {
  let out = '';
  let last = 0;
  for (const match of format.matchAll(TOKEN)) {
    out += format.slice(last, match.index);
    last = match.index + match[0].length;
    const [token, name, conversion] = match;
    if (token === '%%') {
      out += '%';
      continue;
    }
    if (name === undefined || conversion === undefined || conversion === '%') {
      throw badFormat(format, `"${token}" is not a %(field)s placeholder`);
    }
    if (!(KEY_FIELDS as readonly string[]).includes(name)) throw badFormat(format, `unknown field "${name}"`);
    const value = fields[name as keyof KeyFields];
    if (conversion === 'd' && !/^\d+$/.test(value)) throw badFormat(format, `field "${name}" is not a number`);
    out += value;
  }
  out += format.slice(last);
  return checkKey(out, format);
}

/** Keys become file names and object keys: keep them to a portable alphabet with no way out of a store. */
function checkKey(key: string, format: string): string {
  if (!key || !/^[A-Za-z0-9._+=@,%/-]+$/.test(key) || key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw badFormat(format, `it gives the key "${key}", which is not a safe storage key`);
  }
  return key;
}

function badFormat(format: string, why: string): TerrariumError {
  return new TerrariumError('BAD_KEY_FORMAT', `bad --remote-key-format "${format}": ${why}`, {
    hint: `use the fields ${KEY_FIELDS.map((f) => `%(${f})s`).join(', ')}; the default is ${DEFAULT_KEY_FORMAT}`,
  });
}
