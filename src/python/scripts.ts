import { fileURLToPath } from 'node:url';

/**
 * Path of a Python script shipped beside this module: in src when tests run the sources, in dist
 * (where the build copies them) when the bundle runs.
 */
export function pythonScript(name: 'fingerprint.py' | 'exchange.py' | 'bootstrap.py' | 'supervise.py' | 'seed_pip.py'): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}
