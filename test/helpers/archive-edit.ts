import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { DecompressStream } from 'zstd-napi';
import { MANIFEST_PATH, type Manifest } from '../../src/archive/manifest.js';

export interface EditableEntry {
  header: tar.Headers;
  body: Buffer;
}

/** Every entry of a stored zstd archive, with its content: what an attacker starts from. */
export async function readEntries(file: string): Promise<EditableEntry[]> {
  const extract = tar.extract();
  Readable.from([readFileSync(file)])
    .pipe(new DecompressStream())
    .pipe(extract);
  const entries: EditableEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ header: { ...entry.header }, body: Buffer.concat(chunks) });
  }
  return entries;
}

/** The manifest entry's JSON, edited by `change`. */
export function editManifest(entries: EditableEntry[], change: (manifest: Manifest) => void): EditableEntry[] {
  return entries.map((entry) => {
    if (entry.header.name !== MANIFEST_PATH) return entry;
    const manifest = JSON.parse(entry.body.toString()) as Manifest;
    change(manifest);
    return { header: entry.header, body: Buffer.from(JSON.stringify(manifest)) };
  });
}

/** The zstd archive a storage directory holds for `key`. */
export function storedArchive(store: string, key: string): string {
  return path.join(store, readdirSync(store).find((name) => name.startsWith(`${key}.`) && name.endsWith('.tar.zst'))!);
}

/**
 * Replaces what a storage directory holds for `key` with these entries (an uncompressed tar) and a
 * record whose sha256 matches them, as someone who can write the store would. `record` overrides fields.
 */
export async function plantArchive(store: string, key: string, entries: EditableEntry[], record: Record<string, unknown> = {}): Promise<string> {
  const bytes = await tarOf(entries);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  for (const name of readdirSync(store)) if (name.startsWith(`${key}.`)) rmSync(path.join(store, name));
  const file = path.join(store, `${key}.${sha256.slice(0, 16)}.tar`);
  writeFileSync(file, bytes);
  writeFileSync(
    path.join(store, `${key}.json`),
    JSON.stringify({ format: 1, key, sha256, size: bytes.length, codec: 'none', created: new Date().toISOString(), tool: 'attacker', ...record }),
  );
  return file;
}

/** These entries as an uncompressed tar. */
export async function tarOf(entries: EditableEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  // Read while writing: a large entry waits for its bytes to be taken.
  const chunks: Buffer[] = [];
  const read = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const { header, body } of entries) {
    await new Promise<void>((resolve, reject) => pack.entry({ ...header, size: body.length }, body, (e) => (e ? reject(e) : resolve())));
  }
  pack.finalize();
  await read;
  return Buffer.concat(chunks);
}
