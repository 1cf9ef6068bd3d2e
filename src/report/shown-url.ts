/**
 * A URL as it may be printed: a user name or password in it, and the value of every query parameter
 * (`?token=`, a signed URL's `X-Amz-Signature`), replaced by ***.
 */
export function shownUrl(url: string): string {
  const [head = '', ...rest] = url.split('?');
  const withoutUser = head.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
  if (!rest.length) return withoutUser;
  const [query = '', fragment] = rest.join('?').split('#');
  const masked = query
    .split('&')
    .map((pair) => (pair.includes('=') ? `${pair.slice(0, pair.indexOf('='))}=***` : pair))
    .join('&');
  return `${withoutUser}?${masked}${fragment === undefined ? '' : '#***'}`;
}

/** The values of a URL's query, which may be tokens: never printed, wherever they appear. */
export function queryValues(url: string | undefined): string[] {
  if (!url || !URL.canParse(url)) return [];
  return [...new URL(url).searchParams.values()].filter((value) => value.length >= MIN_SECRET_LENGTH);
}

/** Shorter values (`?v=2`) are masked in URLs only: masked everywhere, they would garble the output. */
const MIN_SECRET_LENGTH = 6;
