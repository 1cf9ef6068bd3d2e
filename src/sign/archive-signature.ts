import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Layer, layersPrehash } from '../archive/layers.js';
import { describeCause, TerrariumError } from '../errors.js';
import {
  MinisignError,
  type PublicKey,
  parsePublicKey,
  parseSecretKey,
  parseSignature,
  type SecretKey,
  type Signature,
  signPrehashed,
  verifyComment,
  verifyFile,
} from './minisign.js';

/**
 * What a terrarium signature vouches for, in its trusted comment (signed too): this archive's bytes
 * under this key. A signature copied beside another key's archive, or over other bytes, names
 * something else and is refused.
 */
export const archiveComment = (key: string, sha256: string): string => `terrarium-archive key=${key} sha256=${sha256}`;

/** The secret key of --sign-key, read before any work starts so that a bad one costs nothing. */
export function loadSigningKey(file: string): SecretKey {
  try {
    return parseSecretKey(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TerrariumError('SIGN_KEY_BAD', `cannot sign with ${file}: ${describeCause(error)}`, {
      hint: 'give --sign-key an unencrypted minisign secret key (terrarium keygen FILE, or minisign -G -W)',
    });
  }
}

/** --trust-key values: each a .pub file (a path that exists) or a public key's base64 line. */
export function loadTrustedKeys(specs: readonly string[], cwd: string): PublicKey[] {
  return specs.map((spec) => {
    const file = path.resolve(cwd, spec);
    try {
      return parsePublicKey(existsSync(file) ? readFileSync(file, 'utf8') : spec);
    } catch (error) {
      // A runner given the builder's secret key file: it holds the public half, but it must not be handed out.
      const secret = existsSync(file) && /^untrusted comment: .*secret key/m.test(readFileSync(file, 'utf8').slice(0, 4096));
      throw new TerrariumError('SIGN_KEY_BAD', `bad --trust-key ${JSON.stringify(spec)}: ${secret ? 'it is a secret key' : describeCause(error)}`, {
        hint: secret
          ? `give runners the public key beside it (${spec}.pub, or the RW… line it holds); keep the secret key on builders only`
          : 'give a minisign public key (its RW… line) or the path of its .pub file',
      });
    }
  });
}

/** The .minisig text for a packed archive file. */
export async function signArchiveFile(file: string, key: string, sha256: string, secret: SecretKey): Promise<string> {
  const hash = createHash('blake2b512');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return signPrehashed(hash.digest(), archiveComment(key, sha256), secret);
}

/** A signature whose key and trusted comment are checked; its file half is checked once the bytes have streamed. */
export interface PendingSignature {
  signer: PublicKey;
  /** Throws ARCHIVE_UNTRUSTED unless the signature signs the bytes whose BLAKE2b-512 is `prehash`. */
  confirm(prehash: Buffer): void;
}

/**
 * Everything about a stored archive's signature that can be known before downloading it: that there is
 * one, that a trusted key made it, and that it vouches for this key and this sha256. Throws
 * ARCHIVE_UNTRUSTED (a miss: the archive is not deleted, it may be someone else's to trust).
 */
export function checkArchiveSignature(text: string | undefined, record: { key: string; sha256: string }, trusted: readonly PublicKey[]): PendingSignature {
  if (text === undefined) throw untrusted('it is not signed');
  let signature: Signature;
  let signer: PublicKey;
  try {
    signature = parseSignature(text);
    signer = verifyComment(signature, trusted);
  } catch (error) {
    if (error instanceof MinisignError) throw untrusted(error.message);
    throw error;
  }
  if (signature.trustedComment !== archiveComment(record.key, record.sha256)) {
    throw untrusted(`its signature vouches for "${signature.trustedComment}", not for this key and sha256 (copied from another archive?)`);
  }
  return {
    signer,
    confirm(prehash) {
      if (!verifyFile(signature, signer, prehash)) throw untrusted(`its bytes do not match the signature of key ${signer.id}`);
    },
  };
}

/** Who signed an archive, for inspect and ls: the key id and trusted comment, or undefined when unsigned or unreadable. */
export function describeSignature(text: string | undefined): { keyId: string; trustedComment: string } | undefined {
  if (text === undefined) return undefined;
  try {
    const { keyId, trustedComment } = parseSignature(text);
    return { keyId, trustedComment };
  } catch {
    return undefined;
  }
}

function untrusted(why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_UNTRUSTED', `not installed: ${why}`, {
    hint: 'publish it again from a builder with --sign-key, or check --trust-key (TERRARIUM_TRUSTED_KEYS)',
  });
}

/** The .minisig text for a layered archive: it signs the layers document, which names every layer's sha256. */
export function signLayers(layers: readonly Layer[], key: string, sha256: string, secret: SecretKey): string {
  return signPrehashed(layersPrehash(layers), archiveComment(key, sha256), secret);
}
