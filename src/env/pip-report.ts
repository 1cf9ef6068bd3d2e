import { SHA256_HEX } from '../archive/checksum.js';
import { normaliseName } from '../key/markers.js';

/** One distribution of a pip installation report (`pip install --report`), as a build or an assembly uses it. */
export interface ReportedInstall {
  /** PEP 503 normal form. */
  dist: string;
  version: string;
  /** The sha256 of the file pip installs it from (undefined from a folder); only a wheel's install is reused (an sdist is built here). */
  artifact: string | undefined;
  wheel: boolean;
  /** The user asked for it (pip then writes REQUESTED), rather than pip for a dependency. */
  requested: boolean;
  /** A direct URL or path requirement (pip then writes direct_url.json). */
  direct: boolean;
}

/** pip 22.2 added --report; older pips install without one, and then nothing they install is reused. */
export function pipHasReport(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10));
  return major > 22 || (major === 22 && minor >= 2);
}

/** The installs a report lists, those well formed; undefined when it is no report pip writes. */
export function parsePipReport(text: string): ReportedInstall[] | undefined {
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch {
    return undefined;
  }
  const installs = (report as { install?: unknown } | null)?.install;
  if (!Array.isArray(installs)) return undefined;
  return installs.flatMap((item: Record<string, unknown> | null): ReportedInstall[] => {
    const metadata = item?.metadata as { name?: unknown; version?: unknown } | undefined;
    if (typeof metadata?.name !== 'string' || typeof metadata.version !== 'string') return [];
    const direct = item!.is_direct === true;
    const { artifact, wheel } = download(item!.download_info);
    return [{ dist: normaliseName(metadata.name), version: metadata.version, artifact, wheel, requested: item!.requested === true, direct }];
  });
}

/** The sha256 of a download (pip names it in archive_info: `hashes`, or `hash` before pip 23.1), and whether it is a wheel. */
function download(info: unknown): { artifact: string | undefined; wheel: boolean } {
  const { url, archive_info: archive } = (info ?? {}) as { url?: unknown; archive_info?: { hash?: unknown; hashes?: { sha256?: unknown } } };
  const digest = archive?.hashes?.sha256 ?? (typeof archive?.hash === 'string' ? /^sha256=([0-9a-f]{64})$/.exec(archive.hash)?.[1] : undefined);
  const artifact = typeof digest === 'string' && SHA256_HEX.test(digest) ? digest : undefined;
  return { artifact, wheel: typeof url === 'string' && /\.whl(?:[?#].*)?$/i.test(url) };
}

/** What seed_pip.py installed (its --report): pip and setuptools from the interpreter's bundled wheels, each requested. */
export function parseSeedReport(text: string): ReportedInstall[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((e: { name?: unknown; version?: unknown; sha256?: unknown } | null): ReportedInstall[] =>
    typeof e?.name === 'string' && typeof e.version === 'string' && typeof e.sha256 === 'string' && SHA256_HEX.test(e.sha256)
      ? [{ dist: normaliseName(e.name), version: e.version, artifact: e.sha256, wheel: true, requested: true, direct: false }]
      : [],
  );
}
