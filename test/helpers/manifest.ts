import { MANIFEST_FORMAT, type Manifest } from '../../src/archive/manifest.js';
import type { Fingerprint } from '../../src/python/fingerprint.js';

/** An interpreter as a fingerprint describes it; `executable` is what restores link bin/python* to. */
export function testFingerprint(executable = '/usr/bin/python3'): Fingerprint {
  return {
    implementation: 'cpython',
    version: [3, 11, 7],
    abiflags: '',
    soabi: 'cpython-311-x86_64-linux-gnu',
    gilDisabled: false,
    machine: 'x86_64',
    system: 'linux',
    libc: 'glibc',
    libcVersion: '2.36',
    executable,
    hasVenv: true,
    markers: {
      os_name: 'posix',
      sys_platform: 'linux',
      platform_machine: 'x86_64',
      platform_python_implementation: 'CPython',
      platform_system: 'Linux',
      python_version: '3.11',
      python_full_version: '3.11.7',
      implementation_name: 'cpython',
      implementation_version: '3.11.7',
    },
  };
}

/** A manifest that passes checkManifest, built at `prefix`. */
export function testManifest(prefix = '/old/env', extra: Partial<Manifest> = {}): Manifest {
  return {
    format: MANIFEST_FORMAT,
    tool: 'test',
    created: new Date(0).toISOString(),
    key: 'k',
    prefix,
    python: testFingerprint(),
    requirements: [],
    text: [],
    binary: [],
    interpreterLinks: [],
    externalLinks: [],
    ...extra,
  };
}
