/** The PEP 508 marker values that belong to the interpreter (the kernel's two are read at each run). */
export interface InterpreterMarkers {
  os_name: string;
  sys_platform: string;
  platform_machine: string;
  platform_python_implementation: string;
  platform_system: string;
  python_version: string;
  python_full_version: string;
  implementation_name: string;
  implementation_version: string;
}

/** Grows whenever fingerprint.py reports something new, so that remembered fingerprints are taken again. */
export const FINGERPRINT_SCHEMA = 2;

/** What terrarium knows about an interpreter; recorded in every archive and checked on restore. */
export interface Fingerprint {
  implementation: string;
  version: [number, number, number];
  abiflags: string;
  soabi: string;
  gilDisabled: boolean;
  machine: string;
  system: string;
  libc: string;
  libcVersion: string;
  /** The base interpreter (never a virtual environment's own python). */
  executable: string;
  /** Its sys.prefix (virtualenv records it in pyvenv.cfg); absent in archives of terrarium 0.1. */
  prefix?: string;
  /** Its standard library folder (absent in archives of terrarium 0.1). */
  stdlib?: string;
  hasVenv: boolean;
  /** Absent in archives made before lock files were read. */
  markers?: InterpreterMarkers;
}

const TEXT_FIELDS = ['implementation', 'abiflags', 'soabi', 'machine', 'system', 'libc', 'libcVersion', 'executable'] as const;
const MARKER_FIELDS = [
  'os_name',
  'sys_platform',
  'platform_machine',
  'platform_python_implementation',
  'platform_system',
  'python_version',
  'python_full_version',
  'implementation_name',
  'implementation_version',
] as const;

/** Whether a remembered fingerprint (the cache is hostile input too) has the shape fingerprint.py prints. */
export function isFingerprint(value: unknown): value is Fingerprint {
  if (typeof value !== 'object' || value === null) return false;
  const fp = value as Record<string, unknown>;
  const markers = fp.markers as Record<string, unknown> | undefined;
  return (
    TEXT_FIELDS.every((name) => typeof fp[name] === 'string') &&
    Array.isArray(fp.version) &&
    fp.version.length === 3 &&
    fp.version.every((n) => Number.isSafeInteger(n)) &&
    typeof fp.gilDisabled === 'boolean' &&
    typeof fp.hasVenv === 'boolean' &&
    typeof markers === 'object' &&
    markers !== null &&
    MARKER_FIELDS.every((name) => typeof markers[name] === 'string')
  );
}

export function describeInterpreter(fp: Fingerprint): string {
  const abi = fp.gilDisabled ? ' free-threaded' : fp.abiflags ? ` abiflags=${fp.abiflags}` : '';
  return `${fp.implementation} ${fp.version.join('.')}${abi} (${fp.system}/${fp.machine}, ${fp.libc})`;
}

/** The oldest interpreters terrarium builds for: the original terrarium's 2.7, and 3.6 on. */
const OLDEST: ReadonlyArray<[number, number]> = [
  [2, 7],
  [3, 6],
];

/** Why terrarium cannot work with this Python version, or undefined when it can. */
export function unsupportedVersion(version: readonly number[]): string | undefined {
  const [major = 0, minor = 0] = version;
  const oldest = OLDEST.find(([m]) => m === major);
  if (oldest && minor >= oldest[1]) return undefined;
  if (major > 3) return undefined;
  return `Python ${version.join('.')} is too old: terrarium supports Python 2.7 and 3.6 or newer`;
}

/** What ties an environment to a machine: recorded for each archive, so that one key can hold a build per platform. */
export type Platform = Pick<Fingerprint, 'implementation' | 'abiflags' | 'soabi' | 'gilDisabled' | 'system' | 'machine' | 'libc' | 'libcVersion'> & {
  /** major, minor (a fingerprint's patch is ignored). */
  version: readonly number[];
};

export function platformOf(fp: Fingerprint): Platform {
  const { implementation, abiflags, soabi, gilDisabled, system, machine, libc, libcVersion } = fp;
  return { implementation, version: fp.version.slice(0, 2), abiflags, soabi, gilDisabled, system, machine, libc, libcVersion };
}

/**
 * Why an environment built by `built` cannot run on `local`, or undefined when it can. Compiled
 * extensions tie an environment to implementation, major.minor, ABI, OS, CPU and libc family, and
 * to a glibc at least as new as the one it was built with (manylinux's rule); the patch version and
 * install location do not matter.
 */
export function incompatibility(built: Platform, local: Platform): string | undefined {
  const checks: Array<[string, unknown, unknown]> = [
    ['implementation', built.implementation, local.implementation],
    ['version', built.version.slice(0, 2).join('.'), local.version.slice(0, 2).join('.')],
    ['ABI', built.soabi || built.abiflags, local.soabi || local.abiflags],
    ['free-threading', built.gilDisabled, local.gilDisabled],
    ['operating system', built.system, local.system],
    ['architecture', built.machine, local.machine],
    ['C library', built.libc, local.libc],
  ];
  for (const [what, a, b] of checks) {
    if (a !== b) return `${what} differs: archive has ${String(a)}, local interpreter has ${String(b)}`;
  }
  if (built.libc === 'glibc' && compareVersions(built.libcVersion, local.libcVersion) > 0) {
    return `glibc is older here: archive needs glibc ${built.libcVersion}, local interpreter has ${local.libcVersion}`;
  }
  return undefined;
}

/** Compares dotted numeric versions (glibc's 2.36); an unreadable one compares as equal, which assumes it fits. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => (/^\d+(\.\d+)*$/.test(v) ? v.split('.').map(Number) : undefined);
  const [x, y] = [parse(a), parse(b)];
  if (!x || !y) return 0;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return Math.sign(d);
  }
  return 0;
}
