// Portable environments (--portable) on the corpus: the warm restore of an environment that carries its
// interpreter, in run.mjs's rounds beside the tar floor of the same tree (the installed environment,
// interpreter included, packed by tar + zstd); the interpreter layer's compressed size; and the bytes a
// second portable key (one pin changed) adds to a store that holds the first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const blobBytes = (store) => {
  const dir = path.join(store, 'blobs', 'sha256');
  return readdirSync(dir).reduce((sum, name) => sum + statSync(path.join(dir, name)).size, 0);
};
const recordOf = (store) =>
  JSON.parse(
    readFileSync(
      path.join(
        store,
        readdirSync(store).find((n) => n.endsWith('.json')),
      ),
      'utf8',
    ),
  );
const interpreterLayer = (record) => record.layers.find((layer) => layer.name.startsWith('interpreter-'));

/** Builds the corpus as a portable environment, then gives the rounds its warm restore and its floor. */
export async function portableRounds({ terrarium, timed, requirements, at }) {
  const store = at('store-portable');
  await terrarium(['--portable', '--storage-dir', store, '--no-cache', '-t', at('portable-built'), 'install', requirements]);
  const floorArchive = at('portable-floor.tar.zst');
  execFileSync('sh', ['-c', `tar -C "${at('portable-built')}" -cf - . | zstd -q -3 -T0 -o "${floorArchive}"`]);
  return {
    portableWarm: {
      label: 'portable warm: storage dir, new path',
      run: (i) =>
        terrarium(['--portable', '--storage-dir', store, '--no-cache', '--require-download', '-t', at(`portable-warm-${i}`), 'install', requirements]),
    },
    portableTar: {
      label: 'floor: tar -x with zstd -d, portable tree',
      run: (i) => {
        mkdirSync(at(`portable-tar-${i}`));
        return timed('sh', ['-c', `tar -C "${at(`portable-tar-${i}`)}" -x -I 'zstd -d' -f "${floorArchive}"`]);
      },
    },
  };
}

/**
 * The second portable key: one pin changed, built into the store that holds the first, which it shares
 * the interpreter and every other distribution with; and the interpreter layer of CPython 3.12 where
 * pyenv has one (what the issue's size target names).
 */
export async function portableScenario({ terrarium, pinChanged, at, pyenvRoot }) {
  const store = at('store-portable');
  const first = recordOf(store);
  const before = blobBytes(store);
  await terrarium(['--portable', '--storage-dir', store, '--no-cache', '-t', at('portable-pin'), 'install', pinChanged]);
  const uploaded = blobBytes(store) - before;
  const results = {
    interpreterLayerBytes: interpreterLayer(first).size,
    firstKeyBytes: first.size,
    secondKeyUploadBytes: uploaded,
  };
  const v312 = existsSync(path.join(pyenvRoot, 'versions'))
    ? readdirSync(path.join(pyenvRoot, 'versions')).find((name) => /^3\.12\.\d+$/.test(name))
    : undefined;
  if (v312) {
    const empty = at('empty.txt');
    writeFileSync(empty, '');
    const store312 = at('store-portable-312');
    const python312 = path.join(pyenvRoot, 'versions', v312, 'bin', 'python3.12');
    await terrarium(['--portable', '--python', python312, '--storage-dir', store312, '--no-cache', '-t', at('portable-312'), 'install', empty]);
    results.interpreterLayer312Bytes = interpreterLayer(recordOf(store312)).size;
  }
  console.log(
    `  (portable: interpreter layer ${(results.interpreterLayerBytes / 1e6).toFixed(1)} MB of ${(first.size / 1e6).toFixed(1)} MB; ` +
      `${results.interpreterLayer312Bytes ? `CPython ${v312}'s ${(results.interpreterLayer312Bytes / 1e6).toFixed(1)} MB; ` : ''}` +
      `the second key uploaded ${(uploaded / 1e6).toFixed(2)} MB)`,
  );
  return results;
}
