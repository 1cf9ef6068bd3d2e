import { CODECS, type Codec } from '../archive/codec-names.js';
import { type Layer, layersDigest } from '../archive/layers.js';
import { isProvenance, provenanceFields } from '../archive/provenance.js';
import type { LocalArchive } from '../archive/save.js';
import type { Platform } from '../python/fingerprint.js';
import { type BundleFacts, isBundleFacts } from '../python/portable.js';
import { type ArchiveRecord, MAX_LAYERS, MAX_VARIANTS, RECORD_FORMATS, type RecordFormat, SHA256_HEX, type VariantFields } from './store.js';

/**
 * A record as a store holds it, both ways: written for a packed archive, and read back from shared
 * storage, where anything malformed is absent and nothing unknown survives.
 */

/** A layer's own fields, and nothing else a packer or a hostile record put beside them. */
const ownFields = ({ name, sha256, size, unpackedSize, entries, tree, provenance }: Layer): Layer => ({
  name,
  sha256,
  size,
  unpackedSize,
  entries,
  ...(tree ? { tree } : {}),
  ...(provenance ? { provenance: provenanceFields(provenance) } : {}),
});

/** A carried interpreter's facts, and nothing else beside them. */
const bundleFields = ({ interpreter, libraries, optionalLibraries, glibc, modules }: BundleFacts): BundleFacts => ({
  interpreter,
  libraries,
  optionalLibraries,
  ...(glibc ? { glibc } : {}),
  modules,
});

/** The record a store writes for a packed archive. */
export function recordFor(key: string, archive: LocalArchive, tool: string): ArchiveRecord {
  const { sha256, size, codec, unpackedSize, entries } = archive;
  const requirements = keptLines(archive.requirements);
  const layers = archive.layers?.map(ownFields);
  return {
    format: layers ? 2 : 1,
    key,
    sha256,
    size,
    codec,
    created: new Date().toISOString(),
    tool,
    unpackedSize,
    entries,
    ...(requirements ? { requirements } : {}),
    ...(archive.platform ? { platform: archive.platform } : {}),
    ...(archive.portable ? { portable: bundleFields(archive.portable) } : {}),
    ...(layers ? { layers } : {}),
  };
}

/** A record keeps its requirement lines only while they are short enough to leave it well under MAX_RECORD_BYTES. */
const MAX_KEPT_LINES = { count: 2000, line: 300, total: 32 << 10 };

function keptLines(lines: unknown): string[] | undefined {
  if (!Array.isArray(lines) || lines.length > MAX_KEPT_LINES.count) return undefined;
  if (!lines.every((line) => typeof line === 'string' && line.length <= MAX_KEPT_LINES.line)) return undefined;
  return lines.reduce((sum: number, line: string) => sum + line.length + 4, 0) <= MAX_KEPT_LINES.total ? (lines as string[]) : undefined;
}

/** Records come from shared storage: anything malformed is treated as absent, never trusted. */
export function parseRecord(json: string, key: string): ArchiveRecord | undefined {
  try {
    const r = JSON.parse(json) as Partial<ArchiveRecord>;
    if (!RECORD_FORMATS.includes(r.format as RecordFormat) || r.key !== key || !archiveFields(r)) return undefined;
    r.format = r.layers ? 2 : 1;
    // Lines only explain; malformed ones are dropped, and the archive stays usable.
    const requirements = keptLines(r.requirements);
    if (requirements) r.requirements = requirements;
    else delete r.requirements;
    // A malformed variant is no archive of this key's; the others stay.
    const variants = Array.isArray(r.variants) ? r.variants.slice(0, MAX_VARIANTS).filter((v) => typeof v === 'object' && v !== null && archiveFields(v)) : [];
    if (variants.length) r.variants = variants;
    else delete r.variants;
    return r as ArchiveRecord;
  } catch {
    return undefined;
  }
}

/** Checks one archive's fields in place (a platform that is not one is dropped); false when the archive is unusable. */
function archiveFields(r: Partial<VariantFields>): boolean {
  if (typeof r.sha256 !== 'string' || !SHA256_HEX.test(r.sha256)) return false;
  if (!isCount(r.size) || !CODECS.includes(r.codec as Codec)) return false;
  if ((r.unpackedSize !== undefined && !isCount(r.unpackedSize)) || (r.entries !== undefined && !isCount(r.entries))) return false;
  if (typeof r.created !== 'string' || typeof r.tool !== 'string') return false;
  if (r.layers !== undefined && !layersFields(r)) return false;
  // A portable archive read as another would be installed without its interpreter: malformed facts make it unusable.
  if (r.portable !== undefined) {
    if (!isBundleFacts(r.portable) || !r.layers) return false;
    r.portable = bundleFields(r.portable);
  }
  const platform = parsePlatform(r.platform);
  if (platform) r.platform = platform;
  else delete r.platform;
  return true;
}

const LAYER_NAME = /^[A-Za-z0-9._+!-]{1,200}$/;

/** A layered archive's layers: well formed, held to its sha256 (so a signature of it covers them) and summing to its counts. */
function layersFields(r: Partial<VariantFields>): boolean {
  const checked = recordedLayers(r.layers, r.sha256);
  if (!checked) return false;
  const sum = (field: 'size' | 'unpackedSize' | 'entries') => checked.reduce((total, layer) => total + layer[field], 0);
  if (sum('size') !== r.size || sum('unpackedSize') !== r.unpackedSize || sum('entries') !== r.entries) return false;
  r.layers = checked;
  return true;
}

/**
 * Layers as a record lists them (input from a store or the cache), when well formed and their layers
 * document has this sha256; only their known fields are kept.
 */
export function recordedLayers(value: unknown, sha256: unknown): Layer[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LAYERS) return undefined;
  const wellFormed = (l: Partial<Layer> | null) =>
    typeof l === 'object' &&
    l !== null &&
    typeof l.name === 'string' &&
    LAYER_NAME.test(l.name) &&
    typeof l.sha256 === 'string' &&
    SHA256_HEX.test(l.sha256) &&
    isCount(l.size) &&
    isCount(l.unpackedSize) &&
    isCount(l.entries) &&
    (l.tree === undefined || (typeof l.tree === 'string' && SHA256_HEX.test(l.tree))) &&
    (l.provenance === undefined || isProvenance(l.provenance));
  if (!value.every(wellFormed)) return undefined;
  // Every layer's tree digest or none: the document that is signed has them all or is of version 1.
  const trees = value.filter((l: Layer) => l.tree !== undefined).length;
  if (trees !== 0 && trees !== value.length) return undefined;
  // A provenance is signed only in a document of version 3, which has every tree.
  if (trees === 0 && value.some((l: Layer) => l.provenance !== undefined)) return undefined;
  const checked = value.map(ownFields);
  return layersDigest(checked) === sha256 ? checked : undefined;
}

const PLATFORM_TEXT = ['implementation', 'abiflags', 'soabi', 'system', 'machine', 'libc', 'libcVersion'] as const;

/** A platform from a record, or undefined; only its known fields are kept, so nothing else of a hostile record is written back with it. */
function parsePlatform(value: unknown): Platform | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const p = value as Record<string, unknown>;
  const text = (name: string) => typeof p[name] === 'string' && (p[name] as string).length <= 64 && /^[\x20-\x7e]*$/.test(p[name] as string);
  if (!PLATFORM_TEXT.every(text) || typeof p.gilDisabled !== 'boolean') return undefined;
  if (!Array.isArray(p.version) || p.version.length !== 2 || !p.version.every((n) => Number.isSafeInteger(n))) return undefined;
  const fields = Object.fromEntries(PLATFORM_TEXT.map((name) => [name, p[name]])) as Record<(typeof PLATFORM_TEXT)[number], string>;
  return { ...fields, gilDisabled: p.gilDisabled, version: [p.version[0] as number, p.version[1] as number] };
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
