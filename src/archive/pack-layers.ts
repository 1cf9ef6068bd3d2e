import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Codec } from './codec-names.js';
import { compressors } from './codecs.js';
import { type PackTransform, packEnvironment } from './create.js';
import { type LayerPlan, layersDigest } from './layers.js';
import type { Manifest } from './manifest.js';
import { type LocalArchive, type LocalLayer, saveArchive } from './save.js';
import { TreeDigest } from './tree-digest.js';
import type { TreeProgress } from './writer-protocol.js';

/**
 * Packs each planned layer into its own file under `dir` (made here; removed on failure, else by the caller), the
 * manifest at the start of the environment's layer, and returns the layered archive they make.
 * `transform` gives the packed bytes of files that differ from those on disk; `wrap` lets the caller
 * attach an abort signal to each stream.
 */
export async function packLayers(
  root: string,
  plans: readonly LayerPlan[],
  manifest: Manifest,
  codec: Codec,
  dir: string,
  options: {
    progress?: TreeProgress;
    transform?: PackTransform;
    wrap?: (stream: Readable) => void;
    /** A planned layer that is, byte for byte, one already stored (its blob at hand): taken as it is, not packed again. */
    stored?: (plan: LayerPlan) => LocalLayer | undefined;
  } = {},
): Promise<LocalArchive> {
  await fs.mkdir(dir, { mode: 0o755 });
  const progress = options.progress ?? { files: 0, bytes: 0 };
  const layers: LocalLayer[] = [];
  const next = compressors(codec);
  try {
    await packEach();
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
  const sum = (field: 'size' | 'unpackedSize' | 'entries') => layers.reduce((total, layer) => total + layer[field], 0);
  return { path: dir, layers, sha256: layersDigest(layers), size: sum('size'), codec, unpackedSize: sum('unpackedSize'), entries: sum('entries') };

  async function packEach(): Promise<void> {
    for (const [index, plan] of plans.entries()) {
      const stored = index === 0 ? undefined : options.stored?.(plan);
      if (stored) {
        layers.push(stored);
        progress.files += plan.entries.length;
        progress.bytes += stored.unpackedSize;
        continue;
      }
      const before = progress.bytes;
      const tree = new TreeDigest();
      const packed = packEnvironment(root, plan.entries, index === 0 ? manifest : undefined, next(), progress, options.transform, tree);
      options.wrap?.(packed);
      // Counted as a restore counts them: the manifest is neither an entry nor unpacked bytes.
      const saved = await saveArchive(packed, path.join(dir, `${index}`), codec, { unpackedSize: 0, entries: plan.entries.length });
      layers.push({
        name: plan.name,
        path: saved.path,
        sha256: saved.sha256,
        size: saved.size,
        unpackedSize: progress.bytes - before,
        entries: plan.entries.length,
        tree: tree.digest(),
        ...(plan.provenance ? { provenance: plan.provenance } : {}),
      });
    }
  }
}
