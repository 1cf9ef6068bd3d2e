import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from 'node:crypto';

/**
 * minisign's formats (https://jedisct1.github.io/minisign/), read and written with Node's own Ed25519:
 * keys made here are used by `minisign -S`/`-V`, and keys and signatures made by minisign are read here.
 * Only what terrarium needs: unencrypted secret keys (`minisign -G -W`) and prehashed signatures (the
 * `ED` algorithm, Ed25519 over the file's BLAKE2b-512, the default since minisign 0.8).
 */

export interface PublicKey {
  /** minisign's key id as minisign prints it: the 8 bytes as a little-endian number, upper-case hex. */
  id: string;
  keynum: Buffer;
  key: KeyObject;
}

export interface SecretKey extends PublicKey {
  secret: KeyObject;
}

export interface Signature {
  /** The id of the key that made it (as PublicKey's). */
  keyId: string;
  keynum: Buffer;
  /** Ed25519 over the BLAKE2b-512 of the file. */
  signature: Buffer;
  trustedComment: string;
  /** Ed25519 over signature + trusted comment. */
  globalSignature: Buffer;
}

const ED = Buffer.from('Ed');
const PREHASHED = Buffer.from('ED');
const KDF_NONE = Buffer.from([0, 0]);
const CHECKSUM_BLAKE2B = Buffer.from('B2');
/** The DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) and public key (SPKI) for Node. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export class MinisignError extends Error {}

/** As minisign prints it (`%" PRIX64`): upper-case hex without leading zeros. */
const idOf = (keynum: Buffer): string => keynum.readBigUInt64LE().toString(16).toUpperCase();
const rawPublic = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);

/** The base64 line of a key or signature file: the first line that is not a comment. */
function payload(text: string, what: string): Buffer {
  const line = text.split(/\r?\n/).find((l) => l.trim() && !l.startsWith('untrusted comment:'));
  if (!line || !/^[A-Za-z0-9+/]+={0,2}$/.test(line.trim())) throw new MinisignError(`not a minisign ${what}`);
  return Buffer.from(line.trim(), 'base64');
}

/** A public key: the contents of a .pub file, or just its base64 line (as `minisign -P` takes it). */
export function parsePublicKey(text: string): PublicKey {
  const bytes = payload(text, 'public key');
  if (bytes.length !== 42 || !bytes.subarray(0, 2).equals(ED)) throw new MinisignError('not a minisign Ed25519 public key');
  const keynum = Buffer.from(bytes.subarray(2, 10));
  return { id: idOf(keynum), keynum, key: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes.subarray(10)]), format: 'der', type: 'spki' }) };
}

/** An unencrypted secret key file (`minisign -G -W`, or `terrarium keygen`). */
export function parseSecretKey(text: string): SecretKey {
  const bytes = payload(text, 'secret key');
  if (bytes.length !== 158 || !bytes.subarray(0, 2).equals(ED)) throw new MinisignError('not a minisign Ed25519 secret key');
  if (!bytes.subarray(2, 4).equals(KDF_NONE))
    throw new MinisignError('the secret key is encrypted (terrarium needs one made with minisign -G -W, or terrarium keygen)');
  const keynum = Buffer.from(bytes.subarray(54, 62));
  const seed = bytes.subarray(62, 94);
  const secret = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const key = createPublicKey(secret);
  // libsodium's 64-byte secret key is seed + public key: a mismatch means a damaged file.
  if (!rawPublic(key).equals(bytes.subarray(94, 126))) throw new MinisignError('the secret key is damaged (its public half does not match)');
  return { id: idOf(keynum), keynum, key, secret };
}

/** A new key pair, as the text of its secret key file (unencrypted) and of its public key file. */
export function generateKeyPair(): { secretFile: string; publicFile: string; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keynum = randomBytes(8);
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pk = rawPublic(publicKey);
  // As minisign -W writes it: no KDF, so salt, limits and checksum are zero.
  const secret = Buffer.concat([ED, KDF_NONE, CHECKSUM_BLAKE2B, Buffer.alloc(32 + 8 + 8), keynum, seed, pk, Buffer.alloc(32)]);
  const id = idOf(keynum);
  return {
    id,
    secretFile: `untrusted comment: minisign secret key ${id} (unencrypted, made by terrarium keygen)\n${secret.toString('base64')}\n`,
    publicFile: `untrusted comment: minisign public key ${id}\n${Buffer.concat([ED, keynum, pk]).toString('base64')}\n`,
  };
}

/** The text of a .minisig file for a file whose BLAKE2b-512 is `prehash`. */
export function signPrehashed(prehash: Buffer, trustedComment: string, key: SecretKey): string {
  if (/[\r\n]/.test(trustedComment)) throw new MinisignError('a trusted comment is one line');
  const signature = sign(null, prehash, key.secret);
  const { keynum } = key;
  const globalSignature = sign(null, Buffer.concat([signature, Buffer.from(trustedComment)]), key.secret);
  return [
    `untrusted comment: signature from terrarium secret key ${key.id}`,
    Buffer.concat([PREHASHED, keynum, signature]).toString('base64'),
    `trusted comment: ${trustedComment}`,
    globalSignature.toString('base64'),
    '',
  ].join('\n');
}

export function parseSignature(text: string): Signature {
  const lines = text.split(/\r?\n/);
  if (lines.length < 4 || !lines[0]!.startsWith('untrusted comment:') || !lines[2]!.startsWith('trusted comment: '))
    throw new MinisignError('not a minisign signature');
  const sig = Buffer.from(lines[1]!.trim(), 'base64');
  const globalSignature = Buffer.from(lines[3]!.trim(), 'base64');
  if (sig.length !== 74 || globalSignature.length !== 64) throw new MinisignError('not a minisign signature');
  if (!sig.subarray(0, 2).equals(PREHASHED)) throw new MinisignError('not a prehashed (ED) minisign signature (sign with minisign 0.8 or newer, without -l)');
  const keynum = Buffer.from(sig.subarray(2, 10));
  return { keyId: idOf(keynum), keynum, signature: sig.subarray(10), trustedComment: lines[2]!.slice('trusted comment: '.length), globalSignature };
}

/**
 * Which of `keys` made `signature`, proven by its signature over the trusted comment (which can be
 * checked before the file is read; the file's own signature is checked by verifyFile once it has
 * been). Throws with the reason when none did.
 */
export function verifyComment(signature: Signature, keys: readonly PublicKey[]): PublicKey {
  const key = keys.find((k) => k.keynum.equals(signature.keynum));
  if (!key) throw new MinisignError(`signed by key ${signature.keyId}, which is not trusted`);
  if (!verify(null, Buffer.concat([signature.signature, Buffer.from(signature.trustedComment)]), key.key, signature.globalSignature)) {
    throw new MinisignError(`the trusted comment's signature does not verify with key ${key.id}`);
  }
  return key;
}

/** Whether `signature` (already matched to `key` by verifyComment) signs the file whose BLAKE2b-512 is `prehash`. */
export function verifyFile(signature: Signature, key: PublicKey, prehash: Buffer): boolean {
  return verify(null, prehash, key.key, signature.signature);
}
