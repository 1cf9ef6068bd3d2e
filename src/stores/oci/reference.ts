import { TerrariumError } from '../../errors.js';

/** Where an OCI store lives: a registry (host, port) and a repository in it. */
export interface OciReference {
  /** The registry as its credentials are filed (`ghcr.io`, `localhost:5000`, `docker.io`). */
  registry: string;
  /** The host[:port] requests go to (Docker Hub's API is at registry-1.docker.io). */
  endpoint: string;
  repository: string;
  /** Plain HTTP: a loopback registry, or --oci-insecure. */
  plainHttp: boolean;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

/**
 * Parses `--oci-repository` as container tools read an image name without tag: `REGISTRY/PATH`, where
 * a first part without a dot or a port (and other than localhost) means Docker Hub.
 */
export function parseOciReference(text: string, insecure: boolean): OciReference {
  const bad = (why: string) =>
    new TerrariumError('USAGE', `bad --oci-repository "${text}": ${why}`, {
      hint: 'name a repository such as ghcr.io/acme/python-envs or 127.0.0.1:5000/envs (no tag, no digest)',
    });
  const name = text.replace(/^oci:\/\//, '');
  if (/^[a-z]+:\/\//i.test(name)) throw bad('no URL scheme is needed');
  if (name.includes('@')) throw bad('a repository has no digest');
  const parts = name.split('/');
  const first = parts[0] ?? '';
  const hasRegistry = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : 'docker.io';
  const path = hasRegistry ? parts.slice(1) : parts;
  if (registry === 'docker.io' && path.length === 1) path.unshift('library');
  if (path.length === 0 || path.some((part) => part.includes(':'))) throw bad('a repository has no tag (keys become its tags)');
  if (!path.every((part) => COMPONENT.test(part))) throw bad('each part of the path is lower-case letters, digits and single . _ -');
  const repository = path.join('/');
  if (repository.length > 255) throw bad('longer than 255 characters');
  if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-f:]+\](?::\d{1,5})?$/i.test(registry)) throw bad(`"${registry}" is no host name`);
  return {
    registry,
    endpoint: registry === 'docker.io' ? 'registry-1.docker.io' : registry,
    repository,
    plainHttp: insecure || LOOPBACK.test(registry),
  };
}

/** A repository of the same registry to mount blobs from (`acme/base-envs`): its path only. */
export function parseMountSource(text: string): string {
  const parts = text.split('/');
  if (text.length > 255 || !parts.every((part) => COMPONENT.test(part))) {
    throw new TerrariumError('USAGE', `bad --oci-mount-from "${text}"`, {
      hint: 'name a repository of the same registry by its path, such as acme/base-envs',
    });
  }
  return text;
}

/** A tag is 1-128 of these, the first no `.` or `-` (distribution-spec). */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Keys that are tags and do not start with `_` are their own tag; any other key's tag starts with `_`. */
const PLAIN_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The tag a key is kept under: the key itself when it is a tag not starting with `_` (the default
 * keys are); otherwise `_` followed by the key with each `_` and each character no tag may hold written
 * `_XX` (its hex code). One key, one tag, and back (keyOfTag); undefined when the result is longer than
 * a tag may be.
 */
export function tagFor(key: string): string | undefined {
  const tag = PLAIN_KEY.test(key) ? key : `_${key.replace(/[^A-Za-z0-9.-]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
  return TAG.test(tag) ? tag : undefined;
}

/** The key a tag holds, or undefined for a tag terrarium does not write (`latest`, another tool's). */
export function keyOfTag(tag: string): string | undefined {
  if (!TAG.test(tag)) return undefined;
  const key = tag.startsWith('_') ? tag.slice(1).replace(/_([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))) : tag;
  return tagFor(key) === tag ? key : undefined;
}

/** A key no tag can hold: refused with the reason, at publish and lookup alike. */
export function untaggableKey(key: string): TerrariumError {
  return new TerrariumError('USAGE', `key ${key} is too long for an OCI tag (at most 128 characters once / and other signs are escaped)`, {
    hint: 'use a shorter --remote-key-format, or a storage directory or bucket for keys this long',
  });
}
