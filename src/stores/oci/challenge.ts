/** A registry's `WWW-Authenticate` answer: how it wants to be asked again. */
export type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined; scope: string | undefined };

/**
 * Parses `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params, quoted or
 * not); undefined for any other scheme or a bearer challenge without an HTTP(S) realm.
 */
export function parseChallenge(header: string | null | undefined): Challenge | undefined {
  const match = header ? /^\s*(\w+)\s*(.*)$/s.exec(header) : null;
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  const params = new Map<string, string>();
  for (const param of match[2]!.matchAll(/([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params.set(param[1]!.toLowerCase(), param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3]!);
  }
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme !== 'bearer') return undefined;
  const realm = params.get('realm');
  if (!realm || !URL.canParse(realm) || !['http:', 'https:'].includes(new URL(realm).protocol)) return undefined;
  return { scheme: 'bearer', realm, service: params.get('service'), scope: params.get('scope') };
}

/** Scopes as a token request lists them: ours, and any other the registry asked for (a mount's source repository), once each. */
export function scopesFor(ours: string, challenged: string | undefined): string[] {
  return [...new Set([ours, ...(challenged ? challenged.split(' ') : [])].filter(Boolean))];
}
