// The offline example: build three small wheels, then install the same environment twice with
// terrarium. The first install is a miss (venv + pip, then pack and publish); the second, at another
// path, is a hit (download, unpack, relocate). Run it with `npm run example`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const terrarium = path.join(here, '..', 'bin', 'terrarium.cjs');
const work = mkdtempSync(path.join(tmpdir(), 'terrarium-demo-'));
const wheels = path.join(work, 'wheels');
const store = path.join(work, 'store');

// pip sees only the wheels built here: no index, no machine-wide pip configuration.
// A cache of its own: with the user's, a second run of the demo would find both installs already unpacked there.
const env = { ...process.env, PIP_CONFIG_FILE: '/dev/null', PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheels, XDG_CACHE_HOME: path.join(work, 'cache') };
for (const name of Object.keys(env)) if (name.startsWith('PIP_') && !['PIP_CONFIG_FILE', 'PIP_NO_INDEX', 'PIP_FIND_LINKS'].includes(name)) delete env[name];

/** A path as a shell would need it: quoted where it holds anything but plain characters. */
const quoted = (text) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`);

function install(target) {
  const args = [terrarium, '--target', target, '--storage-dir', store, 'install', 'requirements.txt'];
  console.log(`\n$ terrarium --target ${quoted(target)} --storage-dir ${quoted(store)} install requirements.txt`);
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { cwd: work, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  return (performance.now() - started) / 1000;
}

try {
  execFileSync('python3', [path.join(here, 'wheels', 'build_wheels.py'), wheels], { stdio: 'inherit', env });
  writeFileSync(path.join(work, 'requirements.txt'), 'terra-demo  # a console script and its dependency\nterra-cext  # a C extension\n');
  const miss = install(path.join(work, 'first'));
  const hit = install(path.join(work, 'second place'));
  console.log(`\n$ ${quoted(path.join(work, 'second place', 'bin', 'terra-demo'))}`);
  execFileSync(path.join(work, 'second place', 'bin', 'terra-demo'), { stdio: 'inherit', env });
  console.log(`\nmiss (build + publish): ${miss.toFixed(1)} s\nhit (restore elsewhere): ${hit.toFixed(1)} s (${(miss / hit).toFixed(1)}x faster)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
