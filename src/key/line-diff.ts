import { normaliseName } from './markers.js';

/** How one requirement line set differs from another, by package where a line names one. */
export type LineChange = { kind: 'changed'; from: string; to: string } | { kind: 'added'; line: string } | { kind: 'removed'; line: string };

const NAME = /^(-c\s+)?([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)/;

/** A line as records keep it and diffs show it: without its hashes, which only a lock's tool reads. */
export function shownLine(line: string): string {
  return line.replace(/\s+--hash(?:=|\s+)\S+/g, '');
}

/** What a line is about: the package it names (constraints apart), else the line itself (options). */
function subject(line: string): string {
  if (line.startsWith('-') && !line.startsWith('-c ')) return line;
  const match = NAME.exec(line);
  return match ? `${match[1] ? '-c ' : ''}${normaliseName(match[2]!)}` : line;
}

export function linesInCommon(a: readonly string[], b: readonly string[]): number {
  const other = new Set(b);
  return new Set(a.filter((line) => other.has(line))).size;
}

/** The changes that turn `from` into `to`: a package whose line differs is changed, others added or removed; sorted by package. */
export function lineChanges(from: readonly string[], to: readonly string[]): LineChange[] {
  const before = new Set(from);
  const after = new Set(to);
  const removed = [...before].filter((line) => !after.has(line));
  const added = [...after].filter((line) => !before.has(line));
  const changes: Array<{ subject: string; change: LineChange }> = [];
  const addedBySubject = new Map<string, string[]>();
  for (const line of added) addedBySubject.set(subject(line), [...(addedBySubject.get(subject(line)) ?? []), line]);
  for (const line of removed) {
    const match = addedBySubject.get(subject(line))?.shift();
    changes.push({ subject: subject(line), change: match ? { kind: 'changed', from: line, to: match } : { kind: 'removed', line } });
  }
  for (const [name, lines] of addedBySubject) for (const line of lines) changes.push({ subject: name, change: { kind: 'added', line } });
  return changes.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0)).map((entry) => entry.change);
}
