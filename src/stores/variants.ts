import { compareVersions, incompatibility, type Platform } from '../python/fingerprint.js';
import { type ArchiveRecord, MAX_VARIANTS } from './store.js';

/*
 * One key, several archives: a record document holds its first archive's fields at the top (what
 * readers before variants use) and the archives for other platforms under `variants`. Everything
 * else in terrarium sees one flat record per archive, as these functions give them.
 */

/** The archives a record document holds, each a flat record of its own (the first is the document's top). */
export function variantsOf(document: ArchiveRecord): ArchiveRecord[] {
  const { variants = [], ...top } = document;
  return [top, ...variants.map((variant) => ({ ...variant, format: variant.layers ? 2 : 1, key: top.key }) as ArchiveRecord)];
}

/** The document for these archives, the first at the top; requirement lines are the key's, kept once. */
export function documentOf(archives: readonly ArchiveRecord[]): ArchiveRecord {
  const [first, ...rest] = archives.map(({ variants: _, ...flat }) => flat);
  if (!first) throw new Error('a record holds at least one archive');
  const requirements = first.requirements ?? rest.find((r) => r.requirements)?.requirements;
  const variants = rest.map(({ format: _f, key: _k, requirements: _r, ...fields }) => fields);
  return { ...first, format: first.layers ? 2 : 1, ...(requirements ? { requirements } : {}), ...(variants.length ? { variants } : {}) };
}

/**
 * The archive of a key that runs here: among those whose platform fits, the one built against the
 * newest glibc that is not newer than this machine's; one without a platform (published before
 * variants) is tried last, its manifest checked on restore as before. Without `local`, the first.
 */
export function chooseVariant(archives: readonly ArchiveRecord[], local?: Platform): ArchiveRecord | undefined {
  if (!local) return archives[0];
  const fitting = archives.filter((a) => a.platform && !incompatibility(a.platform, local));
  fitting.sort((a, b) => compareVersions(b.platform!.libcVersion, a.platform!.libcVersion));
  return fitting[0] ?? archives.find((a) => !a.platform);
}

/** What a machine without the interpreter offers a portable archive: its system, CPU and C library. */
export type MachinePlatform = Pick<Platform, 'system' | 'machine' | 'libc' | 'libcVersion'>;

/**
 * The portable archive of a key that runs on this machine: one that carries its interpreter, for this
 * system, CPU and C library, built against the newest glibc not newer than this machine's.
 */
export function chooseCarried(archives: readonly ArchiveRecord[], here: MachinePlatform): ArchiveRecord | undefined {
  const fitting = archives.filter((a) => a.portable && a.platform && !machineMismatch(a.platform, here));
  fitting.sort((a, b) => compareVersions(b.platform!.libcVersion, a.platform!.libcVersion));
  return fitting[0];
}

/** Why an archive built on `built` cannot run on this machine with the interpreter it carries, or undefined. */
export function machineMismatch(built: MachinePlatform, here: MachinePlatform): string | undefined {
  const checks: Array<[string, string, string]> = [
    ['operating system', built.system.toLowerCase(), here.system.toLowerCase()],
    ['architecture', built.machine, here.machine],
    ['C library', built.libc, here.libc],
  ];
  for (const [what, a, b] of checks) if (a !== b) return `${what} differs: archive has ${a}, this machine has ${b}`;
  if (built.libc === 'glibc' && compareVersions(built.libcVersion, here.libcVersion) > 0)
    return `glibc is older here: archive needs glibc ${built.libcVersion}, this machine has ${here.libcVersion}`;
  return undefined;
}

/** What a store does with a new archive for a key: the document to write, or the archive already there that serves its platform. */
export type RecordChange = { write: ArchiveRecord } | { present: ArchiveRecord } | { remove: true } | { unchanged: true };

/**
 * Adds `ours` beside the archives already there, unless one of them runs where ours does. One from
 * before variants names no platform and counts as serving every one (so that a rebuild with
 * --no-download verifies it, and heals it when it is bad): a record of 0.1 keeps serving the platform
 * it was built for until it is pruned.
 */
export function addVariant(current: ArchiveRecord | undefined, ours: ArchiveRecord): RecordChange {
  if (!current) return { write: documentOf([ours]) };
  const archives = variantsOf(current);
  const platform = ours.platform;
  const serving = archives.find((a) => !a.platform || !platform || !incompatibility(a.platform, platform));
  if (serving) return { present: serving };
  if (archives.length >= MAX_VARIANTS) return { present: archives[0]! };
  return { write: documentOf([...archives, ours]) };
}

/** Puts `ours` in the place of `bad` (an archive that failed verification), only while `bad` is still there. */
export function replaceVariant(current: ArchiveRecord | undefined, bad: ArchiveRecord, ours: ArchiveRecord): RecordChange {
  const archives = current ? variantsOf(current) : [];
  if (!archives.some((a) => a.sha256 === bad.sha256)) return current ? addVariant(current, ours) : { write: documentOf([ours]) };
  return { write: documentOf(archives.map((a) => (a.sha256 === bad.sha256 ? ours : a))) };
}

/** Takes `gone` out of the document: the document without it, nothing left, or not there at all. */
export function removeVariant(current: ArchiveRecord | undefined, gone: ArchiveRecord): RecordChange {
  const archives = current ? variantsOf(current) : [];
  const rest = archives.filter((a) => a.sha256 !== gone.sha256);
  if (rest.length === archives.length) return { unchanged: true };
  return rest.length ? { write: documentOf(rest) } : { remove: true };
}

/**
 * Why a record's platform is not its archive's (the platform of the interpreter its manifest names),
 * or undefined when it is, or the record names none. A record that lies so is chosen by runners its
 * archive cannot serve, and stands in the way of the archive that would: it is damaged, not another
 * platform's.
 */
export function platformLie(record: Pick<ArchiveRecord, 'platform'>, built: Platform): string | undefined {
  const fields = (p: Platform) =>
    [p.implementation, p.version.slice(0, 2).join('.'), p.abiflags, p.soabi, p.gilDisabled, p.system, p.machine, p.libc, p.libcVersion].join('|');
  if (!record.platform || fields(record.platform) === fields(built)) return undefined;
  return `its record says ${describePlatform(record.platform)}, its manifest ${describePlatform(built)}`;
}

/** "cpython 3.11 glibc 2.36 x86_64": how ls and inspect name a variant. */
export function describePlatform(platform: Platform | undefined): string {
  if (!platform) return 'platform not recorded';
  const abi = platform.gilDisabled ? ' free-threaded' : '';
  const libc = platform.libcVersion ? `${platform.libc} ${platform.libcVersion}` : platform.libc;
  return `${platform.implementation} ${platform.version.join('.')}${abi} ${libc} ${platform.system}/${platform.machine}`;
}
