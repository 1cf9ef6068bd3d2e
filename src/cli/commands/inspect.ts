import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { ChecksumStream } from '../../archive/checksum.js';
import { type Codec, codecOfFile } from '../../archive/codec-names.js';
import { inspectArchive } from '../../archive/inspect.js';
import { type ArchivePart, unpackLimits } from '../../archive/parts.js';
import { describeCause, EXIT, TerrariumError } from '../../errors.js';
import { configureStores, describeStores, lookupOrder } from '../../install/configure-stores.js';
import { readBoundedSync } from '../../io/fs.js';
import { describeInterpreter } from '../../python/fingerprint.js';
import { formatBytes, formatCount } from '../../report/format.js';
import { describeSignature, loadTrustedKeys } from '../../sign/archive-signature.js';
import { acceptSignature } from '../../stores/acceptance.js';
import { type ArchiveRecord, MAX_SIGNATURE_BYTES } from '../../stores/store.js';
import { describePlatform } from '../../stores/variants.js';
import { storedParts } from '../../stores/verify.js';
import type { CommandHandler, CommandInput } from '../context.js';

interface Opened {
  parts: [ArchivePart, ...ArchivePart[]];
  where: string;
  size: number;
  codec: Codec;
  record?: ArchiveRecord;
  /** The .minisig text stored beside it, if any. */
  signature: string | undefined;
  /** The key's archives in that store, one per platform (this one among them). */
  variants: ArchiveRecord[];
  /** Once read: the archive's sha256 (of its layers document, for format 2), and what a signature of it signs. */
  sha256(): string;
  prehash(): Buffer;
}

/** `terrarium inspect KEY|ARCHIVE`: what an archive holds, read as it streams; nothing is unpacked. */
export const inspectCommand: CommandHandler = async (input) => {
  const { settings, reporter } = input;
  const opened = await open(input);
  const trusted = loadTrustedKeys(settings.trustKeys, input.context.cwd);
  const contents = await inspectArchive(opened.parts, opened.codec, opened.record ? unpackLimits(opened.record) : undefined);
  const { manifest } = contents;
  const sha256 = opened.sha256();
  const signer = describeSignature(opened.signature);
  // With --trust-key, say whether an install here would accept it (and why not).
  let trust: string | null = null;
  if (trusted.length) {
    try {
      acceptSignature(opened.signature, { key: manifest.key, sha256 }, trusted)!.confirm(opened.prehash());
      trust = 'trusted';
    } catch (error) {
      trust = describeCause(error);
    }
  }
  const summary = {
    key: manifest.key,
    archive: { where: opened.where, size: opened.size, codec: opened.codec, sha256, layers: opened.record?.layers ?? null },
    created: manifest.created,
    tool: manifest.tool,
    python: manifest.python,
    portable: Boolean(manifest.portable),
    carried: manifest.portable ?? null,
    // A layered archive's text files name a placeholder; where it was really built is buildPath.
    builtAt: manifest.origin ?? manifest.buildPath ?? manifest.prefix,
    requirements: manifest.requirements,
    files: contents.files,
    bytes: contents.bytes,
    packages: contents.packages,
    signature: signer ? { ...signer, trust } : null,
    variants: opened.variants.map((v) => ({ sha256: v.sha256, size: v.size, created: v.created, platform: v.platform ?? null })),
  };
  if (settings.json) {
    reporter.document(summary);
    return EXIT.ok;
  }
  const layers = opened.record?.layers;
  // The summary first; the long lists (requirements, packages, layers) after it.
  const lines = [
    `key           ${summary.key}`,
    `archive       ${opened.where} (${formatBytes(opened.size)}, ${opened.codec}, sha256 ${summary.archive.sha256})`,
    `created       ${summary.created} by terrarium ${summary.tool}`,
    manifest.portable
      ? `python        ${describeInterpreter(manifest.python)}, carried in python/ (needs ${manifest.portable.libraries.join(', ') || 'no library'}${manifest.portable.glibc ? `, glibc ${manifest.portable.glibc}` : ''})`
      : `python        ${describeInterpreter(manifest.python)}, ${manifest.python.executable}`,
    `built at      ${summary.builtAt}`,
    ...(opened.variants.length > 1
      ? [
          `variants      (${opened.variants.length}, one per platform)`,
          ...opened.variants.map((v) => `  ${describePlatform(v.platform)}, ${formatBytes(v.size)}${v.sha256 === opened.record?.sha256 ? ' (this one)' : ''}`),
        ]
      : []),
    `signed        ${signer ? `by key ${signer.keyId} ("${signer.trustedComment}")${trust ? `: ${trust}` : ''}` : 'no'}`,
    `contents      ${formatCount(contents.files, 'file')}, ${formatBytes(contents.bytes)} unpacked${layers ? `, in ${formatCount(layers.length, 'layer')}` : ''}`,
    `requirements  (${formatCount(manifest.requirements.length, 'line')})`,
    ...manifest.requirements.map((line) => `  ${line}`),
    `packages      (${contents.packages.length}, as pip freeze --all lists them)`,
    ...contents.packages.map((release) => `  ${release}`),
    ...(layers
      ? [
          `layers        (${layers.length}, format 2)`,
          ...layers.map((l) => `  ${l.name}, ${formatBytes(l.size)} (${formatCount(l.entries, 'entry', 'entries')}), sha256 ${l.sha256}`),
        ]
      : []),
  ];
  for (const line of lines) reporter.result(line);
  return EXIT.ok;
};

/** A file path names an archive on disk; anything else is a key, looked up in the cache and the stores. */
async function open({ files, settings, context, reporter }: CommandInput): Promise<Opened> {
  const what = files[0]!;
  const file = path.resolve(context.cwd, what);
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat?.isFile()) {
    const codec = codecOfFile(file);
    if (!codec) throw new TerrariumError('USAGE', `cannot tell how ${what} is compressed`, { hint: 'archives end in .tar.zst, .tar.gz or .tar' });
    const signature = statSync(`${file}.minisig`, { throwIfNoEntry: false })?.isFile()
      ? readBoundedSync(`${file}.minisig`, MAX_SIGNATURE_BYTES).toString('utf8')
      : undefined;
    return { ...wholeFile(file), where: file, size: stat.size, codec, signature, variants: [] };
  }
  const stores = lookupOrder(configureStores(settings.storage, reporter));
  for (const store of stores) {
    const variants = await store.archives(what);
    const record = variants[0];
    if (record)
      return {
        ...storedParts(store, record),
        sha256: () => record.sha256,
        where: store.description,
        size: record.size,
        codec: record.codec,
        record,
        signature: await store.signature(record),
        variants,
      };
  }
  throw new TerrariumError('ARCHIVE_REQUIRED', `no archive file or stored key "${what}" in ${describeStores(stores)}`, {
    hint: 'pass an archive file, or a key that terrarium ls lists (with the same --storage-dir / --s3-bucket)',
  });
}

/** An archive file on disk: nothing recorded to hold it to. */
function wholeFile(file: string): Pick<Opened, 'parts' | 'sha256' | 'prehash'> {
  const checksum = new ChecksumStream({ prehash: true });
  return { parts: [{ open: async () => [createReadStream(file), checksum] }], sha256: () => checksum.hex(), prehash: () => checksum.prehash()! };
}
