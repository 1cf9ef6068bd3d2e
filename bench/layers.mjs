// Archive format 2 on the corpus: cold (build, pack in layers, publish; run.mjs alternates it with format 1's); warm restores
// (run.mjs puts them in the rounds beside format 1's and the tar floor, on two cores and on one); and
// "one pin changed": a second key that differs from the first by one distribution, published to the
// same store and restored over HTTP on a machine whose cache holds the first. Measures the store's
// growth and the bytes that second restore downloads; and the peak memory of a cold and a warm install
// of the 1 GB environment in layers.
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const dirBytes = (dir) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);

/** Round `i`'s cold build in format 2, signed with `signKey`, into a store of its own (`store2-i`). */
export async function layeredCold({ terrarium, requirements, at, signKey }, i) {
  execFileSync('sync');
  const signed = ['--sign-key', signKey];
  return terrarium(['--format', '2', ...signed, '--storage-dir', at(`store2-${i}`), '--no-cache', '-t', at(`cold2-${i}`), 'install', requirements]);
}

/**
 * The rounds' restores of the format 2 archive in `store`: on two cores, and on one; and link mode's
 * repeat, from the unpacked layers an install before the rounds kept, without trusted keys (files
 * linked) and with them (files copied as they are checked against the signed tree digests).
 */
export async function layeredRounds({ terrarium, oneCore, requirements, store, at, signKey }) {
  const restore = (run, name) => run(['--storage-dir', store, '--no-cache', '--require-download', '-t', at(name), 'install', requirements]);
  const linked = (name, ...trust) =>
    terrarium(['--storage-dir', store, '--cache-dir', at('link2-cache'), '--require-download', ...trust, '-t', at(name), 'install', requirements]);
  await linked('link2-fill');
  return {
    warm2: { label: 'format 2 warm: storage dir, new path', run: (i) => restore(terrarium, `warm2-${i}`) },
    warm2core: { label: 'format 2 warm on one core (taskset)', run: (i) => restore(oneCore, `warm2-1core-${i}`) },
    link2: { label: 'format 2 warm repeat: link mode', run: (i) => linked(`link2-${i}`) },
    link2trust: { label: 'format 2 warm repeat: link mode, --trust-key', run: (i) => linked(`link2-trust-${i}`, '--trust-key', `${signKey}.pub`) },
  };
}

export async function pinScenario({ terrarium, requirements, pinChanged, big, store, at, summarise }) {
  const results = {};
  const before = dirBytes(store);
  // The store holds the first key: this miss is assembled from its layers (assemble.mjs compares it with a full build).
  results.pinCold = summarise('format 2 miss, one pin changed (assembled)', [
    await terrarium(['--format', '2', '--storage-dir', store, '--no-cache', '-t', at('pin-cold'), 'install', pinChanged]),
  ]);
  results.storeGrowth = Number(((dirBytes(store) - before) / before).toFixed(3));
  let served = 0;
  const server = http.createServer((req, res) => {
    const file = path.join(store, decodeURIComponent(req.url.slice(1)));
    if (!existsSync(file)) return void res.writeHead(404).end();
    const size = statSync(file).size;
    served += size;
    res.writeHead(200, { 'content-length': size });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cached = ['--storage-url', `http://127.0.0.1:${server.address().port}`, '--cache-dir', at('cache2'), '--link-mode', 'none', '--require-download'];
  try {
    await terrarium([...cached, '-t', at('pin-first'), 'install', requirements]);
    const first = served;
    served = 0;
    results.pinWarm = summarise('format 2 warm, one pin changed, over HTTP', [await terrarium([...cached, '-t', at('pin-second'), 'install', pinChanged])]);
    results.downloaded = { first, second: served, ratio: Number((served / first).toFixed(3)) };
  } finally {
    server.close();
  }
  // Link mode on a machine whose cache unpacked the first key: the second links the layers they share.
  const linked = ['--storage-dir', store, '--cache-dir', at('pin-link-cache'), '--require-download'];
  await terrarium([...linked, '-t', at('pin-link-first'), 'install', requirements]);
  results.pinLink = summarise('format 2 link mode, one pin changed', [await terrarium([...linked, '-t', at('pin-link-second'), 'install', pinChanged])]);
  console.log(
    `  (store grew ${(results.storeGrowth * 100).toFixed(1)}%; the second restore downloaded ${(results.downloaded.second / 1e6).toFixed(2)} MB of the first's ${(results.downloaded.first / 1e6).toFixed(1)} MB; ${readdirSync(path.join(store, 'blobs', 'sha256')).length} layers stored)`,
  );
  // Peak memory with layers in flight, on the 1 GB environment (its 830 MB data package is one layer).
  results.memory = {
    cold: summarise('format 2, 1 GB environment: cold', [
      await terrarium(['--format', '2', '--storage-dir', at('store2-1g'), '--no-cache', '-t', at('big2-cold'), 'install', big]),
    ]),
    warm: summarise('format 2, 1 GB environment: warm', [
      await terrarium(['--storage-dir', at('store2-1g'), '--no-cache', '--require-download', '-t', at('big2-warm'), 'install', big]),
    ]),
  };
  return results;
}
