import type { Manifest } from '../archive/manifest.js';
import { TerrariumError } from '../errors.js';
import { describeInterpreter, type Fingerprint, incompatibility, platformOf } from '../python/fingerprint.js';
import type { MachineFacts } from '../python/libraries.js';
import { type BundleFacts, glibcFits, type MissingLibraries, missingLibraries } from '../python/portable.js';
import { outsideLinks } from '../relocate/relocations.js';
import { checkArchiveSignature, type PendingSignature } from '../sign/archive-signature.js';
import type { PublicKey } from '../sign/minisign.js';
import type { ArchiveRecord, Store } from './store.js';
import { type MachinePlatform, machineMismatch, platformLie } from './variants.js';

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
  /** This machine's interpreter (undefined for a portable install where it is not installed). */
  python: Fingerprint | undefined;
  /** A portable install: the machine the carried interpreter will run on. */
  carried?: MachineFacts | undefined;
  allowOutsidePaths: boolean;
}

/**
 * Whether the interpreter a portable archive carries (its record's or manifest's facts, built on
 * `built`) runs on this machine: PYTHON_INCOMPATIBLE for another CPU, system or an older glibc,
 * PYTHON_LIBRARY_MISSING for a library it cannot start or import its checked modules without (a miss
 * here, never a broken environment). Returns the libraries whose absence only some modules feel.
 */
export function acceptCarried(facts: BundleFacts, built: MachinePlatform, machine: MachineFacts, key: string): MissingLibraries['optional'] {
  const mismatch =
    machineMismatch(built, machine) ??
    (glibcFits(facts, machine.libcVersion) ? undefined : `it needs glibc ${facts.glibc}, this machine has ${machine.libcVersion || 'none'}`);
  if (mismatch) {
    throw new TerrariumError('PYTHON_INCOMPATIBLE', `archive ${key} carries ${facts.interpreter}, which cannot run on this machine: ${mismatch}`, {
      hint: 'build it on a machine like this one (same CPU and C library, glibc no newer) with --no-download',
    });
  }
  const missing = missingLibraries(facts, (soname) => machine.present(soname));
  if (missing.essential.length) {
    throw new TerrariumError(
      'PYTHON_LIBRARY_MISSING',
      `archive ${key} carries ${facts.interpreter}, which needs ${missing.essential.join(', ')}, not found on this machine`,
      { hint: `install the system package that provides ${missing.essential[0]} (ldconfig -p lists what the loader finds), then run again` },
    );
  }
  return missing.optional;
}

/**
 * The half known once its manifest is read: that it is what its record says (ARCHIVE_CORRUPT, a
 * record that lies), runs on this interpreter (PYTHON_INCOMPATIBLE) and links nowhere outside the
 * environment unless allowed (LinksOutside). Throws the refusal.
 */
export function acceptManifest(
  manifest: Manifest,
  record: Pick<ArchiveRecord, 'platform' | 'portable'> | undefined,
  site: InstallSite,
): MissingLibraries['optional'] {
  const lie =
    record &&
    (platformLie(record, platformOf(manifest.python)) ??
      (Boolean(record.portable) !== Boolean(manifest.portable)
        ? `its record says it ${record.portable ? 'carries' : 'does not carry'} its interpreter, its manifest the opposite`
        : undefined));
  if (lie) {
    throw new TerrariumError('ARCHIVE_CORRUPT', `archive ${site.key} is not what its record says: ${lie}`, {
      hint: 'the record was tampered with; it is removed and rebuilt without --require-download',
    });
  }
  if (Boolean(site.carried) !== Boolean(manifest.portable)) {
    // Portable and other keys differ, so only a record written under another key's name can get here.
    throw new TerrariumError(
      'ARCHIVE_CORRUPT',
      `archive ${site.key} ${manifest.portable ? 'carries its interpreter, which this key does not ask for' : 'does not carry its interpreter, which this portable key asks for'}`,
      { hint: 'the record was tampered with; it is removed and rebuilt without --require-download' },
    );
  }
  const optional = site.carried ? acceptCarried(manifest.portable!, platformOf(manifest.python), site.carried, site.key) : [];
  const mismatch = site.python && !site.carried ? incompatibility(manifest.python, site.python) : undefined;
  if (mismatch) {
    throw new TerrariumError(
      'PYTHON_INCOMPATIBLE',
      `archive ${site.key} was built for ${describeInterpreter(manifest.python)}, which cannot run on ${site.python!.executable}: ${mismatch}`,
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
  return optional;
}
