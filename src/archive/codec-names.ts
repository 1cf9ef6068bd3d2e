// The codecs by name, apart from the codecs themselves: the command line checks --compress against
// these without loading zlib (start-up time is what `key` and `hash` cost).

export const CODECS = ['zstd', 'gzip', 'none'] as const;
export type Codec = (typeof CODECS)[number];

export const CODEC_EXTENSION: Record<Codec, string> = { zstd: '.tar.zst', gzip: '.tar.gz', none: '.tar' };

/** The codec an archive file's name says it has (`.tar.zst`, `.tar.gz`/`.tgz`, `.tar`), or undefined. */
export function codecOfFile(name: string): Codec | undefined {
  if (/\.(tar\.zst|tzst|zst)$/.test(name)) return 'zstd';
  if (/\.(tar\.gz|tgz)$/.test(name)) return 'gzip';
  return name.endsWith('.tar') ? 'none' : undefined;
}
