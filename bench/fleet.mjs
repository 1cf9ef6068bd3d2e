// Four runners that miss one key at the same moment (each with its own cache and target, one storage
// directory): with --build-wait 0 each builds it (what every runner did before build leases), with the
// default one builds and the others wait for its archive. Measures the time until all four are done
// and counts the builds.
import { spawn } from 'node:child_process';

/** Runs one terrarium install with --json; resolves with its seconds and whether it built. */
function install(bin, args, env) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [bin, '--json', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`terrarium ${args.join(' ')} failed (${code}):\n${stderr}`));
      resolve({ seconds: (performance.now() - started) / 1000, built: JSON.parse(stdout).hit === false });
    });
  });
}

export async function fleetScenario({ bin, python, requirements, at, env, runners = 4 }) {
  const results = {};
  for (const [name, wait] of [
    ['each builds (--build-wait 0)', '0'],
    ['one builds (build lease)', '300'],
  ]) {
    const tag = wait === '0' ? 'fleet-own' : 'fleet-lease';
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: runners }, (_, i) =>
        install(
          bin,
          [
            '--python',
            python,
            '--storage-dir',
            at(`${tag}-store`),
            '--cache-dir',
            at(`${tag}-cache-${i}`),
            '--build-wait',
            wait,
            '-t',
            at(`${tag}-${i}`),
            'install',
            requirements,
          ],
          env,
        ),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const builds = runs.filter((run) => run.built).length;
    results[wait === '0' ? 'own' : 'lease'] = { seconds: Number(seconds.toFixed(3)), builds, runs: runs.map((run) => Number(run.seconds.toFixed(3))) };
    console.log(`  ${`${runners} runners at once, ${name}`.padEnd(44)} ${seconds.toFixed(2).padStart(7)} s   ${builds} build${builds === 1 ? '' : 's'}`);
  }
  return results;
}
