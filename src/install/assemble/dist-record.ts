import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What pip writes into a distribution's `.dist-info` besides the wheel's own files, made again for a
 * distribution restored from another key's layer (whose environment layer held them): `REQUESTED`
 * where the user asked for it, and `RECORD`, which lists every file installed with its sha256 and size
 * (bytecode compiled after pip is not listed, as pip ran with --no-compile), sorted and written as
 * Python's csv module writes it. The files' digests are `known` as they were unpacked; any other is read.
 */
export async function writeRecord(
  root: string,
  siteRel: string,
  distInfoRel: string,
  files: readonly string[],
  requested: boolean,
  known: ReadonlyMap<string, FileDigest>,
): Promise<void> {
  const listed = files.filter((file) => !/\/__pycache__\/[^/]+\.pyc$/.test(file));
  if (requested) {
    await fs.writeFile(path.join(root, distInfoRel, 'REQUESTED'), '');
    listed.push(`${distInfoRel}/REQUESTED`);
  }
  const rows: string[][] = [[path.posix.relative(siteRel, `${distInfoRel}/RECORD`), '', '']];
  for (const file of listed) {
    const digest = known.get(file) ?? digestOf(readFileSync(path.join(root, file)));
    rows.push([path.posix.relative(siteRel, file), `sha256=${digest.sha256.toString('base64url')}`, String(digest.size)]);
  }
  await fs.writeFile(path.join(root, distInfoRel, 'RECORD'), recordText(rows));
}

/** A file's sha256 and size, as a RECORD lists them. */
export interface FileDigest {
  sha256: Buffer;
  size: number;
}

export const digestOf = (content: Buffer): FileDigest => ({ sha256: createHash('sha256').update(content).digest(), size: content.length });

/** RECORD's text: rows sorted as Python sorts tuples of strings, each as csv.writer writes it (minimal quoting, CRLF). */
export function recordText(rows: readonly string[][]): string {
  const sorted = [...rows].sort((a, b) => Buffer.compare(Buffer.from(a.join('\0')), Buffer.from(b.join('\0'))));
  return sorted.map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

const csvField = (field: string): string => (/[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field);

/**
 * A distribution pip installed that a full build would have installed as a dependency: pip wrote
 * REQUESTED because the assembly named it; removed, with its RECORD row, as pip would never have written it.
 */
export async function unrequest(site: string, folder: string): Promise<void> {
  await fs.rm(path.join(site, folder, 'REQUESTED'), { force: true });
  const record = path.join(site, folder, 'RECORD');
  const text = await fs.readFile(record, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const row = `${folder}/REQUESTED,`;
  await fs.writeFile(
    record,
    text
      .split('\r\n')
      .filter((line) => !line.startsWith(row))
      .join('\r\n'),
  );
}
