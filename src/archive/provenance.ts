import { createHash } from 'node:crypto';
import type { Platform } from '../python/fingerprint.js';
import { SHA256_HEX } from './checksum.js';

/**
 * Where a distribution's layer came from: the wheel pip installed (by sha256), for which interpreter.
 * Two layers of the same provenance hold the same install, so a miss can reuse one rather than run pip
 * for it (docs/layers.md). It is part of the layers document: a signature covers it.
 */
export interface Provenance {
  /** The distribution's name in PEP 503 normal form, and its version as its metadata gives it. */
  dist: string;
  version: string;
  /** The sha256 of the wheel it was installed from. */
  artifact: string;
  /** The interpreter it was installed for (interpreterTag). */
  tag: string;
}

/** What a provenance's text fields may hold: they are words of the layers document. */
const TOKEN = /^[A-Za-z0-9._+!-]{1,200}$/;

export function isProvenance(value: unknown): value is Provenance {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return (
    [p.dist, p.version, p.tag].every((word) => typeof word === 'string' && TOKEN.test(word)) && typeof p.artifact === 'string' && SHA256_HEX.test(p.artifact)
  );
}

/** Only a provenance's own fields, in order. */
export const provenanceFields = ({ dist, version, artifact, tag }: Provenance): Provenance => ({ dist, version, artifact, tag });

/**
 * The interpreter an installed wheel's files are for: implementation, version and ABI (the SOABI names
 * them all, and a free-threaded build's `t`), OS, CPU and libc family. Undefined where the interpreter
 * has no SOABI: then nothing it installs is reused.
 */
export function interpreterTag(platform: Pick<Platform, 'soabi' | 'system' | 'machine' | 'libc'>): string | undefined {
  const tag = [platform.soabi, platform.system, platform.machine, platform.libc || 'none'].join('.').toLowerCase();
  return platform.soabi && TOKEN.test(tag) ? tag : undefined;
}

/** The name of an index entry: the same for every layer of one distribution's version for one interpreter, whatever wheel it came from. */
export function provenanceId(p: Pick<Provenance, 'dist' | 'version' | 'tag'>): string {
  return createHash('sha256').update(`terrarium-provenance 1\n${p.dist}\n${p.version}\n${p.tag}\n`).digest('hex');
}

/** Its words in the layers document. */
export const provenanceWords = (p: Provenance | undefined): string => (p ? `${p.dist} ${p.version} ${p.artifact} ${p.tag}` : '-');
