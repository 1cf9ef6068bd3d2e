import { readFileSync } from 'node:fs';

/** Recorded in every archive, so that an archive can be traced to the terrarium that made it. */
export const TOOL_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
