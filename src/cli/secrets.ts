import { queryValues } from '../report/shown-url.js';
import { optionSpecs, type RawOptions } from './option-table.js';

/** What must never be printed: every credential given, wherever it came from, whatever its length. */
export function secretsOf(raw: Partial<RawOptions>, env: NodeJS.ProcessEnv): string[] {
  const fromUrls = [raw.storageUrl, raw.s3Endpoint].flatMap((url) => {
    const parsed = url && URL.canParse(url) ? new URL(url) : undefined;
    return parsed ? [parsed.username, parsed.password, decodeURIComponent(parsed.password), ...queryValues(url)] : [];
  });
  const fromOptions = optionSpecs()
    .filter(([, spec]) => spec.secret)
    .map(([name]) => raw[name]);
  return [...fromOptions, env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, env.TERRARIUM_OCI_PASSWORD, ...fromUrls].filter(
    (s): s is string => typeof s === 'string' && s !== '',
  );
}
