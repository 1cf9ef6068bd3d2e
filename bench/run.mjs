// npm run bench: install times of a realistic environment, with pip and with terrarium, against the
// floor of the system's tar + zstd and cp -a, all measured in the same run on the same disk.
// Prints a table and the ratios, writes bench/results/latest.json and docs/bench.svg.
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assembleScenario } from './assemble.mjs';
import { fleetScenario } from './fleet.mjs';
import { layeredCold, layeredRounds, pinScenario } from './layers.mjs';
import { ociPinScenario, ociRounds } from './oci.mjs';
import { portableRounds, portableScenario } from './portable.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'terrarium.cjs');
const REPS = Number(process.env.BENCH_REPS ?? 3);
const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
const pyVersion = execFileSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
const cacheBase = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
const corpus = path.join(cacheBase, 'terrarium-bench', `corpus-v2-py${pyVersion}`);
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

if (!existsSync(path.join(corpus, 'requirements-pin.txt'))) {
  console.log(`generating the corpus in ${corpus} (cached for later runs)`);
  execFileSync(python, [path.join(ROOT, 'bench', 'corpus.py'), corpus], { stdio: 'inherit' });
}
const work = mkdtempSync(path.join(os.tmpdir(), 'terrarium-bench-'));
const requirements = path.join(corpus, 'requirements.txt');
// A user's environment: no pip configuration or local indexes of this machine, and no
// NODE_EXTRA_CA_CERTS, which makes Node parse a certificate bundle before running any code (about
// 50 ms on the machines this was written on, which set it; printed below when set).
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PIP_|PYTHON|VIRTUAL_ENV|TERRARIUM_|NODE_EXTRA_CA_CERTS$)/.test(k)));
Object.assign(env, { PIP_CONFIG_FILE: '/dev/null', PIP_NO_INDEX: '1', PIP_FIND_LINKS: corpus, PIP_DISABLE_PIP_VERSION_CHECK: '1', HOME: work });

/** Runs a command; returns seconds and, for terrarium runs, peak RSS in MB (via /usr/bin/time). */
function timed(command, args, { rss = false, environment = env } = {}) {
  const [cmd, argv] = rss && timeBin ? [timeBin, ['-f', 'RSS %M', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { env: environment, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${stderr}`));
      const peak = /RSS (\d+)/.exec(stderr);
      resolve({ seconds, rssMB: peak ? Number(peak[1]) / 1024 : undefined });
    });
  });
}

const terrarium = (args) => timed(process.execPath, [BIN, '--python', python, '-q', ...args], { rss: true });
/** The same, on one core only. */
const oneCore = (args) => timed('taskset', ['-c', '0', process.execPath, BIN, '--python', python, '-q', ...args]);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const dirSize = (dir) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
const fileCount = (dir) => Number(execFileSync('sh', ['-c', `find "${dir}" | wc -l`], { encoding: 'utf8' }).trim());

async function repeat(name, prepare, run, reps = REPS) {
  const runs = [];
  for (let i = 0; i < reps; i++) {
    await prepare?.(i);
    // Dirty pages of the previous run are written back now, not in the middle of this one.
    execFileSync('sync');
    runs.push(await run(i));
  }
  return summarise(name, runs);
}

function summarise(name, runs) {
  const result = { name, seconds: median(runs.map((r) => r.seconds)), runs: runs.map((r) => Number(r.seconds.toFixed(3))) };
  const rss = runs.map((r) => r.rssMB).filter((v) => v !== undefined);
  if (rss.length) result.peakRssMB = Math.round(Math.max(...rss));
  console.log(`  ${name.padEnd(44)} ${result.seconds.toFixed(2).padStart(7)} s${result.peakRssMB ? `   peak RSS ${result.peakRssMB} MB` : ''}`);
  return result;
}

const at = (...parts) => path.join(work, ...parts);
console.log(`corpus: ${corpus}\nwork: ${work} (${REPS} repetitions, medians)\n`);
const results = {};

results.pip = await repeat(
  'pip: venv + pip install (today)',
  (i) => rmSync(at(`pip-${i}`), { recursive: true, force: true }),
  async (i) => {
    const venv = await timed(python, ['-m', 'venv', at(`pip-${i}`)]);
    const pip = await timed(at(`pip-${i}`, 'bin', 'python'), ['-m', 'pip', 'install', '-q', '-r', requirements]);
    return { seconds: venv.seconds + pip.seconds };
  },
);
const installed = at('pip-0');
const size = dirSize(installed);
const files = fileCount(installed);
console.log(`  (installed: ${(size / 1e6).toFixed(0)} MB, ${files} entries)`);

// Cold builds of format 1 (one archive file, also what the rounds' warm restores read) and format 2
// (the default, layers.mjs) in alternating rounds: their ratio compares builds that met the same disk.
const coldRuns = { one: [], two: [] };
// Format 2 archives are signed, so that link mode's repeat can also be measured with trusted keys.
const signKey = at('bench.key');
execFileSync(process.execPath, [BIN, 'keygen', signKey]);
for (let i = 0; i < REPS; i++) {
  execFileSync('sync');
  coldRuns.one.push(await terrarium(['--format', '1', '--storage-dir', at(`store-${i}`), '--no-cache', '-t', at(`cold-${i}`), 'install', requirements]));
  coldRuns.two.push(await layeredCold({ terrarium, requirements, at, signKey }, i));
}
results.cold = summarise('format 1 cold: build, pack, publish', coldRuns.one);
const layered = { cold: summarise('format 2 cold: build, pack in layers, publish', coldRuns.two), store: at('store2-0') };
const store = at('store-0');
const archive = path.join(
  store,
  readdirSync(store).find((n) => n.endsWith('.tar.zst')),
);

// The runs that are compared with the tar floor go in rounds (warm, cache, link, floor; the order
// rotates), so that each ratio is taken between runs that met the same state of a shared, noisy disk:
// a ratio's median is the median of the per-round ratios.
const server = http.createServer((req, res) => {
  // The cache is filled from a remote store: the storage directory served over loopback HTTP.
  const file = path.join(store, decodeURIComponent(req.url.slice(1)));
  if (!existsSync(file)) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-length': statSync(file).size });
  createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}`;
const cached = ['--storage-url', url, '--cache-dir', at('cache'), '--link-mode', 'none', '--require-download', 'install', requirements];
await terrarium(['-t', at('cache-fill'), ...cached]);
// Link mode, the default with a cache: the first install keeps an unpacked copy, repeats link from it.
const linked = ['--storage-dir', store, '--cache-dir', at('link-cache'), '--require-download', 'install', requirements];
await terrarium(['-t', at('link-fill'), ...linked]);
// What a CI job or deploy script does each time: the same target again. Unchanged, it is left as it is
// (a stamp of the tree checked, its python run once); with --reinstall the one there becomes the
// backup and the backup before it is removed. Twice first, so that there is a backup to remove.
for (let i = 0; i < 2; i++) await terrarium(['-t', at('replaced'), '--reinstall', ...linked]);
await terrarium(['-t', at('unchanged'), ...linked]);

/** The floor: the system's tar and zstd unpacking the format 1 archive of the same environment. */
function tarFloor(dir) {
  mkdirSync(at(dir));
  return timed('sh', ['-c', `tar -C "${at(dir)}" -x -I 'zstd -d' -f "${archive}"`]);
}

const oci = await ociRounds({ terrarium, requirements, at });
const rounds = {
  warm: {
    label: 'format 1 warm: storage dir, new path',
    run: (i) => terrarium(['--storage-dir', store, '--no-cache', '--require-download', '-t', at(`warm-${i}`), 'install', requirements]),
  },
  cache: { label: 'format 1 warm: archive in the local cache', run: (i) => terrarium(['-t', at(`cached-${i}`), ...cached]) },
  link: { label: 'format 1 warm repeat: link mode', run: (i) => terrarium(['-t', at(`link-${i}`), ...linked]) },
  replace: {
    label: 'format 1 repeat into the same target',
    run: async () => {
      const result = await terrarium(['-t', at('replaced'), '--reinstall', ...linked]);
      // The backup it displaced is removed in the background after it returns: not charged to the next run.
      while (readdirSync(work).some((name) => name.startsWith('.replaced.bak.trash-'))) await new Promise((resolve) => setTimeout(resolve, 20));
      return result;
    },
  },
  unchanged: { label: 'format 1 repeat, target unchanged (nothing to do)', run: () => terrarium(['-t', at('unchanged'), ...linked]) },
  tar: { label: 'floor: tar -x with zstd -d, same archive', run: (i) => tarFloor(`tar-${i}`) },
  ...(await layeredRounds({ terrarium, oneCore, requirements, store: layered.store, at, signKey })),
  ...(await portableRounds({ terrarium, timed, requirements, at })),
  ...oci.rounds,
};
const names = Object.keys(rounds);
const perRound = Object.fromEntries(names.map((name) => [name, []]));
for (let i = 0; i < REPS; i++) {
  for (let j = 0; j < names.length; j++) {
    const name = names[(i + j) % names.length];
    execFileSync('sync');
    perRound[name].push(await rounds[name].run(i));
  }
}
for (const name of names) results[name] = summarise(rounds[name].label, perRound[name]);
server.close();
results.cp = await repeat('floor: cp -a of the installed tree', undefined, (i) => timed('cp', ['-a', at('warm-0'), at(`cp-${i}`)]));

// Pack time and size per codec, in-process, of the environment as installed.
const { scanEnvironment, packEnvironment, compressor, saveArchive } = await import(path.join(ROOT, 'dist/index.cjs'));
const scan = scanEnvironment(at('warm-0'), python);
const manifest = {
  format: 1,
  tool: 'bench',
  created: new Date().toISOString(),
  key: 'bench',
  prefix: at('warm-0'),
  python: {},
  requirements: [],
  ...scan,
  entries: undefined,
};
results.codecs = {};
for (const codec of ['zstd', 'gzip', 'none']) {
  const r = await repeat(`pack with ${codec}`, undefined, async (i) => {
    const started = performance.now();
    const saved = await saveArchive(packEnvironment(at('warm-0'), scan.entries, manifest, compressor(codec)), at(`pack-${codec}-${i}`), codec);
    return { seconds: (performance.now() - started) / 1000, bytes: saved.size };
  });
  results.codecs[codec] = { seconds: r.seconds, bytes: statSync(at(`pack-${codec}-0`)).size };
}

// key and hash on a 500-line requirements file: what every CI job pays before anything else.
writeFileSync(at('500.txt'), Array.from({ length: 500 }, (_, i) => `package-${i}==1.${i}\n`).join(''));
const keyArgs = [BIN, '--python', python, 'key', at('500.txt')];
await timed(process.execPath, keyArgs); // the first run on a machine asks the interpreter; later ones read its fingerprint from the cache
// Start-up is what key and hash cost: more runs, and Node's own start measured beside them.
const startReps = Math.max(REPS, 9);
const startup = (name, args) => repeat(name, undefined, () => timed(process.execPath, args), startReps);
results.node = await startup(`node alone (node -e 0), ${startReps} runs`, ['-e', '0']);
results.hash = await startup('hash, 500 requirement lines', [BIN, 'hash', at('500.txt')]);
results.key = await startup('key, 500 requirement lines', keyArgs);
if (process.env.NODE_EXTRA_CA_CERTS) {
  const withCerts = await timed(process.execPath, ['-e', '0'], { environment: { ...env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } });
  console.log(`  (NODE_EXTRA_CA_CERTS is set here: node alone takes ${withCerts.seconds.toFixed(2)} s with it)`);
}

console.log('');
const pinChanged = path.join(corpus, 'requirements-pin.txt');
const big = path.join(corpus, 'requirements-1g.txt');
results.layers = { cold: layered.cold, ...(await pinScenario({ terrarium, requirements, pinChanged, big, store: layered.store, at, summarise })) };

console.log('');
results.assemble = await assembleScenario({ terrarium, requirements, pinChanged, corpus, at, summarise });

console.log('');
const pyenvRoot = process.env.PYENV_ROOT || path.join(os.homedir(), '.pyenv');
results.portable = await portableScenario({ terrarium, pinChanged, at, pyenvRoot });

console.log('');
results.oci = await ociPinScenario({ terrarium, requirements, pinChanged, at, registry: oci.registry });

console.log('');
results.fleet = await fleetScenario({ bin: BIN, python, requirements, at, env });

// Peak memory on a 1 GB environment (the corpus plus 830 MB of data files): once each, cold and warm.
console.log('');
results.memory = {};
results.memory.cold = await repeatOnce('1 GB environment: cold (build, pack, publish)', () =>
  terrarium(['--format', '1', '--storage-dir', at('store-1g'), '--no-cache', '-t', at('big-cold'), 'install', big]),
);
results.memory.bytes = dirSize(at('big-cold'));
results.memory.warm = await repeatOnce('1 GB environment: warm (unpack)', () =>
  terrarium(['--storage-dir', at('store-1g'), '--no-cache', '--require-download', '-t', at('big-warm'), 'install', big]),
);
console.log(`  (installed: ${(results.memory.bytes / 1e9).toFixed(2)} GB)`);

async function repeatOnce(name, run) {
  execFileSync('sync');
  const r = await run();
  console.log(`  ${name.padEnd(44)} ${r.seconds.toFixed(2).padStart(7)} s   peak RSS ${Math.round(r.rssMB)} MB`);
  return { seconds: r.seconds, peakRssMB: Math.round(r.rssMB) };
}

const ratio = (a, b) => Number((results[a].seconds / results[b].seconds).toFixed(2));
// Against the floor: the median of the ratios within each round.
const floorRatio = (a) => Number(median(results[a].runs.map((seconds, i) => seconds / results.tar.runs[i])).toFixed(2));
const ratios = {
  'warm / pip': ratio('warm', 'pip'),
  'warm / tar floor': floorRatio('warm'),
  'cache / tar floor': floorRatio('cache'),
  'cold / pip': ratio('cold', 'pip'),
  'link / tar floor': floorRatio('link'),
  'replace / tar floor': floorRatio('replace'),
  'unchanged repeat / tar floor': floorRatio('unchanged'),
  'format 2 warm / tar floor': floorRatio('warm2'),
  'format 2 link / tar floor': floorRatio('link2'),
  'format 2 link with --trust-key / tar floor': floorRatio('link2trust'),
  'one pin changed, link mode / tar floor': Number((results.layers.pinLink.seconds / results.tar.seconds).toFixed(2)),
  'format 2 warm / format 1 warm': Number(median(results.warm2.runs.map((seconds, i) => seconds / results.warm.runs[i])).toFixed(2)),
  'format 2 cold / format 1 cold': Number(median(results.layers.cold.runs.map((seconds, i) => seconds / results.cold.runs[i])).toFixed(2)),
  'format 2 warm: one core / two': Number(median(results.warm2core.runs.map((seconds, i) => seconds / results.warm2.runs[i])).toFixed(2)),
  'one pin changed: store growth': results.layers.storeGrowth,
  'one pin changed: assembled / full cold build': Number((results.assemble.plain.assembled.seconds / results.assemble.plain.full.seconds).toFixed(2)),
  'one pin changed, hashed lock: assembled / full cold build': Number(
    (results.assemble.lock.assembled.seconds / results.assemble.lock.full.seconds).toFixed(2),
  ),
  'one pin changed: downloaded / first': results.layers.downloaded.ratio,
  'portable warm / tar floor of its tree': Number(median(results.portableWarm.runs.map((seconds, i) => seconds / results.portableTar.runs[i])).toFixed(2)),
  'portable, one pin changed: uploaded / first key': Number((results.portable.secondKeyUploadBytes / results.portable.firstKeyBytes).toFixed(3)),
  ...(results.ociWarm
    ? {
        'OCI warm / storage dir warm': Number(median(results.ociWarm.runs.map((seconds, i) => seconds / results.ociDirWarm.runs[i])).toFixed(2)),
        'OCI, one pin changed: downloaded / first': Number((results.oci.secondDownloadBytes / results.oci.firstDownloadBytes).toFixed(3)),
      }
    : {}),
  'fleet: lease / each builds': Number((results.fleet.lease.seconds / results.fleet.own.seconds).toFixed(2)),
};
console.log('\nratios');
for (const [name, value] of Object.entries(ratios)) console.log(`  ${name.padEnd(20)} ${value}`);
console.log('\narchives');
for (const [codec, c] of Object.entries(results.codecs))
  console.log(`  ${codec.padEnd(6)} ${(c.bytes / 1e6).toFixed(1).padStart(7)} MB   packed in ${c.seconds.toFixed(2)} s`);

const targets = [
  ['warm install <= 1.2 x tar floor', ratios['warm / tar floor'] <= 1.2],
  ['link-mode repeat install <= 0.3 x tar floor', ratios['link / tar floor'] <= 0.3],
  ['warm install >= 10 x faster than pip', ratios['warm / pip'] <= 0.1],
  ['cold install <= 1.3 x pip', ratios['cold / pip'] <= 1.3],
  ['zstd smaller than gzip -6', results.codecs.zstd.bytes < results.codecs.gzip.bytes],
  ['zstd faster to pack than gzip -6', results.codecs.zstd.seconds < results.codecs.gzip.seconds],
  ['key under 150 ms', results.key.seconds < 0.15],
  ['format 2 warm install <= 1.2 x tar floor', ratios['format 2 warm / tar floor'] <= 1.2],
  ['format 2 link-mode repeat install <= 0.3 x tar floor', ratios['format 2 link / tar floor'] <= 0.3],
  ['format 2 cold <= 1.1 x format 1 cold', ratios['format 2 cold / format 1 cold'] <= 1.1],
  ['one pin changed grows the store by <= 10%', ratios['one pin changed: store growth'] <= 0.1],
  ['one pin changed downloads <= 5% of the first restore', ratios['one pin changed: downloaded / first'] <= 0.05],
  ['one pin changed: assembly <= 0.2 x a full cold build', ratios['one pin changed: assembled / full cold build'] <= 0.2],
  ['one pin changed, hashed lock: assembly <= 0.1 x a full cold build', ratios['one pin changed, hashed lock: assembled / full cold build'] <= 0.1],
  ['portable warm install <= 1.2 x tar floor of its tree', ratios['portable warm / tar floor of its tree'] <= 1.2],
  ["CPython 3.12's interpreter layer <= 35 MB", results.portable.interpreterLayer312Bytes === undefined || results.portable.interpreterLayer312Bytes <= 35e6],
  ['a second portable key uploads none of the interpreter', results.portable.secondKeyUploadBytes < results.portable.interpreterLayerBytes / 10],
  ...(results.ociWarm ? [['OCI warm install <= 1.3 x the same from a storage dir', ratios['OCI warm / storage dir warm'] <= 1.3]] : []),
  ['four runners missing one key at once build it once', results.fleet.lease.builds === 1],
  ['peak RSS <= 200 MB for a 1 GB environment', Math.max(results.memory.cold.peakRssMB, results.memory.warm.peakRssMB) <= 200],
  ['format 2: peak RSS <= 200 MB for a 1 GB environment', Math.max(results.layers.memory.cold.peakRssMB, results.layers.memory.warm.peakRssMB) <= 200],
];
console.log('\ntargets');
for (const [name, ok] of targets) console.log(`  ${ok ? 'met    ' : 'NOT met'} ${name}`);

const report = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, node: process.version, python: pyVersion },
  corpus: { bytes: size, entries: files },
  results,
  ratios,
  targets: Object.fromEntries(targets),
};
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(path.join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(
  path.join(ROOT, 'docs', 'bench.svg'),
  chart(
    [
      ['pip (venv + install)', results.pip.seconds],
      ['terrarium cold', results.cold.seconds],
      ['terrarium warm', results.warm.seconds],
      ['terrarium from cache', results.cache.seconds],
      ['terrarium link mode', results.link.seconds],
      ['terrarium same target', results.replace.seconds],
      ['terrarium same target, unchanged', results.unchanged.seconds],
      ['format 2 warm', results.warm2.seconds],
      ['format 2 warm, one core', results.warm2core.seconds],
      ['format 2 link mode', results.link2.seconds],
      ['format 2, one pin changed', results.layers.pinWarm.seconds],
      ['portable warm', results.portableWarm.seconds],
      ['same, link mode', results.layers.pinLink.seconds],
      ['tar + zstd -d (floor)', results.tar.seconds],
      ['cp -a (floor)', results.cp.seconds],
    ],
    `Installing ${(size / 1e6).toFixed(0)} MB, ${files} entries (${os.cpus().length} cores, median of ${REPS})`,
  ),
);
console.log(`\nwrote bench/results/latest.json and docs/bench.svg`);
rmSync(work, { recursive: true, force: true });

function chart(bars, title) {
  const max = Math.max(...bars.map(([, v]) => v));
  const row = 28;
  const width = 640;
  const left = 170;
  const items = bars.map(([label, value], i) => {
    const y = 40 + i * row;
    const w = Math.max(1, ((width - left - 70) * value) / max);
    return `<text x="${left - 8}" y="${y + 14}" text-anchor="end">${label}</text><rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="20" fill="${label.includes('floor') ? '#999' : '#2a7'}"/><text x="${(left + w + 6).toFixed(1)}" y="${y + 14}">${value.toFixed(2)} s</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${50 + bars.length * row}" font-family="sans-serif" font-size="12"><text x="10" y="20" font-weight="bold">${title}</text>${items.join('')}</svg>\n`;
}
