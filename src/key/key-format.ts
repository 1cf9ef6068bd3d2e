import { TerrariumError } from '../errors.js';
import { inReservedFolder, isStorageKey } from '../stores/store.js';

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

function checkKey(key: string, format: string): string {
  if (!isStorageKey(key)) {
    throw badFormat(format, `it gives the key "${key}", which is not a safe storage key`);
  }
  if (inReservedFolder(key)) {
    throw badFormat(format, `it gives the key "${key}", inside ${key.slice(0, key.indexOf('/'))}/, a folder terrarium keeps for itself`);
  }
  return key;
}

function badFormat(format: string, why: string): TerrariumError {
  return new TerrariumError('BAD_KEY_FORMAT', `bad --remote-key-format "${format}": ${why}`, {
    hint: `use the fields ${KEY_FIELDS.map((f) => `%(${f})s`).join(', ')}; the default is ${DEFAULT_KEY_FORMAT}`,
  });
}
