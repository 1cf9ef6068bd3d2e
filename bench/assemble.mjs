// A miss assembled from stored layers (docs/layers.md): the corpus with one pin changed, on a machine
// whose cache is its own and empty, from a store that holds the first key; for plain requirement files
// and for a hashed lock of the same environment. Each against a full cold build of the same input
// (--no-assemble), and the bytes the assembly read from the store's index, records and layers.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

/** A hashed lock of what `env` holds, from the corpus's wheels: the input of a lock's assembly. */
function writeLock(env, corpus, file) {
  const frozen = execFileSync(path.join(env, 'bin', 'python'), ['-m', 'pip', 'freeze', '--all'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith('bench'));
  const lines = frozen.map((line) => {
    const [name, version] = line.split('==');
    const wheel = readdirSync(corpus).find((w) => w.startsWith(`${name.replace(/-/g, '_')}-${version}-`) && w.endsWith('.whl'));
    const sha = createHash('sha256')
      .update(readFileSync(path.join(corpus, wheel)))
      .digest('hex');
    return `${name}==${version} --hash=sha256:${sha}`;
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** A read-only HTTP store over `dir` that counts the bytes it serves by what they are. */
async function countingStore(dir) {
  const served = { index: 0, records: 0, layers: 0, other: 0 };
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(req.url.slice(1));
    const file = path.join(dir, name);
    if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    const size = statSync(file).size;
    const kind = name.startsWith('blobs/provenance/') ? 'index' : name.startsWith('blobs/sha256/') ? 'layers' : name.endsWith('.json') ? 'records' : 'other';
    served[kind] += size;
    res.writeHead(200, { 'content-length': size });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    take() {
      const taken = { ...served };
      for (const kind of Object.keys(served)) served[kind] = 0;
      return taken;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

export async function assembleScenario({ terrarium, requirements, pinChanged, corpus, at, summarise }) {
  const store = at('assemble-store');
  await terrarium(['--storage-dir', store, '--no-cache', '-t', at('assemble-first'), 'install', requirements]);
  const full = (input, name) =>
    terrarium(['--storage-dir', store, '--no-cache', '--no-assemble', '--no-upload', '-t', at(`assemble-full-${name}`), 'install', input]);
  const results = { plain: {}, lock: {} };
  results.plain.full = summarise('one pin changed: full cold build', [await full(pinChanged, 'plain')]);
  const lock = at('requirements-pin-lock.txt');
  writeLock(at('assemble-full-plain'), corpus, lock);
  results.lock.full = summarise('one pin changed, hashed lock: full cold build', [await full(lock, 'lock')]);
  const server = await countingStore(store);
  try {
    for (const [name, input] of [
      ['plain', pinChanged],
      ['lock', lock],
    ]) {
      execFileSync('sync');
      const run = await terrarium(['--storage-url', server.url, '--cache-dir', at(`assemble-cache-${name}`), '-t', at(`assemble-${name}`), 'install', input]);
      results[name].assembled = summarise(`one pin changed${name === 'lock' ? ', hashed lock' : ''}: assembled`, [run]);
      results[name].read = server.take();
      const { index, records, layers } = results[name].read;
      console.log(
        `    (read from the store: index ${(index / 1e3).toFixed(1)} kB, records ${(records / 1e3).toFixed(1)} kB, layers ${(layers / 1e6).toFixed(2)} MB)`,
      );
    }
  } finally {
    await server.close();
  }
  return results;
}
