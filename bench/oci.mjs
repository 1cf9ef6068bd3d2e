// OCI registries on the corpus: a warm restore from a registry on loopback (Debian's docker-registry,
// CNCF distribution) against the same from a storage directory holding the same archive, in run.mjs's
// rounds; and the bytes a second key (one pin changed) uploads to the registry and downloads to a
// machine that restored the first.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const treeBytes = (dir) => (existsSync(dir) ? Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]) : 0);
const blobBytes = (dir) => {
  const blobs = path.join(dir, 'blobs', 'sha256');
  return existsSync(blobs) ? readdirSync(blobs).reduce((sum, name) => sum + statSync(path.join(blobs, name)).size, 0) : 0;
};

/** A registry without authentication on a free loopback port; undefined where docker-registry is not installed. */
async function startRegistry(at) {
  if (!existsSync('/usr/bin/docker-registry')) return undefined;
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const data = at('registry-data');
  const config = at('registry.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${data}}}\nhttp: {addr: 127.0.0.1:${port}}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let tries = 0; tries < 200; tries++) {
    const up = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { host: `127.0.0.1:${port}`, data, stop: () => child.kill() };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('docker-registry did not start');
}

/** Builds the corpus once into a registry and a storage directory; the rounds restore it from each. */
export async function ociRounds({ terrarium, requirements, at }) {
  const registry = await startRegistry(at);
  if (!registry) {
    console.log('  (no docker-registry here: the OCI rounds are skipped)');
    return { rounds: {}, registry: undefined };
  }
  const repository = `${registry.host}/bench/envs`;
  const dir = at('store-oci-dir');
  await terrarium(['--storage-dir', dir, '--oci-repository', repository, '--no-cache', '-t', at('oci-built'), 'install', requirements]);
  const rounds = {
    ociWarm: {
      label: 'format 2 warm: OCI registry on loopback',
      run: (i) => terrarium(['--oci-repository', repository, '--no-cache', '--require-download', '-t', at(`oci-warm-${i}`), 'install', requirements]),
    },
    ociDirWarm: {
      label: 'format 2 warm: storage dir, same archive',
      run: (i) => terrarium(['--storage-dir', dir, '--no-cache', '--require-download', '-t', at(`oci-dir-warm-${i}`), 'install', requirements]),
    },
  };
  return { rounds, registry: { ...registry, repository } };
}

/** The second key (one pin changed): what it uploads to the registry, and downloads to a machine whose cache holds the first. */
export async function ociPinScenario({ terrarium, requirements, pinChanged, at, registry }) {
  if (!registry) return undefined;
  const machine = at('oci-machine-cache');
  mkdirSync(machine, { recursive: true });
  await terrarium(['--oci-repository', registry.repository, '--cache-dir', machine, '--require-download', '-t', at('oci-first'), 'install', requirements]);
  const firstDownload = blobBytes(machine);
  const before = treeBytes(path.join(registry.data, 'docker', 'registry', 'v2', 'blobs'));
  await terrarium(['--oci-repository', registry.repository, '--no-cache', '-t', at('oci-pin-built'), 'install', pinChanged]);
  const uploaded = treeBytes(path.join(registry.data, 'docker', 'registry', 'v2', 'blobs')) - before;
  const cached = blobBytes(machine);
  await terrarium(['--oci-repository', registry.repository, '--cache-dir', machine, '--require-download', '-t', at('oci-second'), 'install', pinChanged]);
  const downloaded = blobBytes(machine) - cached;
  registry.stop();
  console.log(
    `  (OCI, one pin changed: the second key uploaded ${(uploaded / 1e6).toFixed(2)} MB; a machine that restored the first ` +
      `(${(firstDownload / 1e6).toFixed(1)} MB) downloaded ${(downloaded / 1e6).toFixed(2)} MB for the second)`,
  );
  return { uploadedBytes: uploaded, firstDownloadBytes: firstDownload, secondDownloadBytes: downloaded };
}
