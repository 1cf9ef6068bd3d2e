import { existsSync } from 'node:fs';
import path from 'node:path';
import { EXIT, TerrariumError } from '../../errors.js';
import { configureStores, describeStores, lookupOrder } from '../../install/configure-stores.js';
import { describeChange } from '../../install/nearest.js';
import { lineChanges, shownLine } from '../../key/line-diff.js';
import { resolveDigest } from '../../key/resolve.js';
import { formatAge, formatCount } from '../../report/format.js';
import { printable } from '../../stores/lease.js';
import type { Store } from '../../stores/store.js';
import type { CommandHandler, CommandInput } from '../context.js';

interface Side {
  /** As given: a file or a key. */
  name: string;
  /** Where its lines come from, in words. */
  from: string;
  lines: string[];
  /** A stored portable environment: the interpreter it carries (`cpython-3.12.1`). */
  carries?: string | undefined;
}

/** `terrarium diff A B`: what differs between two environments, each a key in a store or a requirement or lock file. */
export const diffCommand: CommandHandler = async (input) => {
  const { files, settings, reporter } = input;
  if (files.length !== 2) {
    throw new TerrariumError('USAGE', `diff compares two environments; ${files.length} given`, {
      hint: 'terrarium diff KEY_OR_FILE KEY_OR_FILE (keys as terrarium key or ls print them)',
    });
  }
  // Configured once, and only when a side is a key.
  let stores: Store[] | undefined;
  const configured = () => (stores ??= lookupOrder(configureStores(settings.storage, reporter)));
  const [a, b] = [await side(input, files[0]!, configured), await side(input, files[1]!, configured)];
  const changes = lineChanges(a.lines, b.lines);
  if (settings.json) {
    const about = (s: Side) => ({ name: s.name, from: s.from, lines: s.lines.length, carries: s.carries ?? null });
    reporter.document({ a: about(a), b: about(b), same: changes.length === 0, changes });
  } else {
    reporter.info(`${a.name} (${a.from}) -> ${b.name} (${b.from}): ${changes.length ? formatCount(changes.length, 'change') : 'the same lines'}`);
    for (const change of changes) reporter.result(change.kind === 'changed' ? `  ${describeChange(change)}` : describeChange(change));
  }
  return changes.length ? EXIT.notStored : EXIT.ok;
};

async function side({ settings, context }: CommandInput, given: string, configured: () => Store[]): Promise<Side> {
  if (existsSync(path.resolve(context.cwd, given))) {
    const { inputs } = await resolveDigest({ ...settings, requirementFiles: [given], cwd: context.cwd, env: context.env });
    return {
      name: given,
      from: inputs.locked ? `${formatCount(inputs.locked.packages.length, 'locked package')}` : 'file',
      lines: inputs.lines.map(shownLine),
    };
  }
  const stores = configured();
  for (const store of stores) {
    const record = await store.lookup(given);
    if (!record) continue;
    if (!record.requirements) {
      throw new TerrariumError('ARCHIVE_REQUIRED', `${given} in ${store.description} was published without its requirement lines (before terrarium 0.2)`, {
        hint: `terrarium inspect ${given} lists them; compare with a key published since`,
      });
    }
    const age = formatAge(Date.now() - Date.parse(record.created));
    const carries = record.portable?.interpreter;
    return {
      name: given,
      from: `built ${age} ago, in ${store.description}${carries ? `, carrying ${carries}` : ''}`,
      lines: record.requirements.map((line) => printable(line, 300)),
      carries,
    };
  }
  throw new TerrariumError('ARCHIVE_REQUIRED', `no file or stored key "${given}" in ${describeStores(stores)}`, {
    hint: 'pass a requirements or lock file, or a key that terrarium ls lists (with the same --storage-dir / --s3-bucket)',
  });
}
