import { createHash, getHashes } from 'node:crypto';
import { TerrariumError } from '../errors.js';

/**
 * The original terrarium's digest: the named hash of the sorted lines joined with "\n". Sorting compares
 * UTF-8 bytes, which is code-point order, the order Python's sorted() gives (JavaScript's default sort
 * compares UTF-16 units and differs for characters beyond U+FFFF).
 */
export function requirementsDigest(lines: readonly string[], digestType: string): string {
  const sorted = lines
    .map((line) => ({ line, bytes: Buffer.from(line) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((entry) => entry.line);
  return makeHash(digestType).update(sorted.join('\n')).digest('hex');
}

export function makeHash(digestType: string) {
  const name = digestType.toLowerCase();
  if (!getHashes().includes(name)) {
    throw new TerrariumError('UNKNOWN_DIGEST', `unknown digest type: ${digestType}`, {
      hint: `use one of: ${commonDigests().join(', ')} (any name from openssl list -digest-algorithms works)`,
    });
  }
  return createHash(name);
}

function commonDigests(): string[] {
  return ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3-256', 'blake2b512'].filter((n) => getHashes().includes(n));
}
