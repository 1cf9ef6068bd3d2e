import type { Manifest } from '../archive/manifest.js';
import { TerrariumError } from '../errors.js';
import { describeInterpreter, type Fingerprint, incompatibility, platformOf } from '../python/fingerprint.js';
import { outsideLinks } from '../relocate/relocations.js';
import { checkArchiveSignature, type PendingSignature } from '../sign/archive-signature.js';
import type { PublicKey } from '../sign/minisign.js';
import type { ArchiveRecord, Store } from './store.js';
import { platformLie } from './variants.js';

/*
 * Whether an install here would take a stored archive: one decision, in two halves, that restore,
 * `exists`, `inspect` and publishing (is the archive in the way one anyone can install?) all ask.
 */

/** An archive links outside the environment and --allow-outside-paths was not given: a miss here, another build may replace it. */
export class LinksOutside extends TerrariumError {}

/**
 * The half known before its bytes are read: with trusted keys, that its signature is there, made by
 * one of them, and vouches for this key and sha256. Throws ARCHIVE_UNTRUSTED (a miss: the archive may
 * be someone else's to trust); returns the check of the bytes still to come, or undefined without keys.
 */
export function acceptSignature(
  signature: string | undefined,
  record: Pick<ArchiveRecord, 'key' | 'sha256'>,
  trusted: readonly PublicKey[],
): PendingSignature | undefined {
  return trusted.length ? checkArchiveSignature(signature, record, trusted) : undefined;
}

/** The same for an archive in a store: its signature is read only when there are keys to check it with. */
export async function acceptStored(store: Store, record: ArchiveRecord, trusted: readonly PublicKey[]): Promise<PendingSignature | undefined> {
  return trusted.length ? acceptSignature(await store.signature(record), record, trusted) : undefined;
}

/** Where an archive would be installed: for which key, on which interpreter, and whether links outside the environment are allowed. */
export interface InstallSite {
  key: string;
  python: Fingerprint;
  allowOutsidePaths: boolean;
}

/**
 * The half known once its manifest is read: that it is what its record says (ARCHIVE_CORRUPT, a
 * record that lies), runs on this interpreter (PYTHON_INCOMPATIBLE) and links nowhere outside the
 * environment unless allowed (LinksOutside). Throws the refusal.
 */
export function acceptManifest(manifest: Manifest, record: Pick<ArchiveRecord, 'platform'> | undefined, site: InstallSite): void {
  const lie = record && platformLie(record, platformOf(manifest.python));
  if (lie) {
    throw new TerrariumError('ARCHIVE_CORRUPT', `archive ${site.key} is not what its record says: ${lie}`, {
      hint: 'the record was tampered with; it is removed and rebuilt without --require-download',
    });
  }
  const mismatch = incompatibility(manifest.python, site.python);
  if (mismatch) {
    throw new TerrariumError(
      'PYTHON_INCOMPATIBLE',
      `archive ${site.key} was built for ${describeInterpreter(manifest.python)}, which cannot run on ${site.python.executable}: ${mismatch}`,
      { hint: 'pass a matching interpreter with --python, or build for this one with --no-download' },
    );
  }
  const outside = outsideLinks(manifest.externalLinks, manifest.python.prefix);
  if (outside.length && !site.allowOutsidePaths) {
    const links = outside.map((link) => `${link.path} -> ${link.target}`).join(', ');
    throw new LinksOutside('ARCHIVE_UNTRUSTED', `not installed: it links outside the environment (${links})`, {
      hint: 'pass --allow-outside-paths if those paths exist and are meant to be used here',
    });
  }
}
