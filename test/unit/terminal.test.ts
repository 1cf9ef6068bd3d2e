import { describe, expect, it } from 'vitest';
import { outputStyle } from '../../src/cli/terminal.js';

describe('output style', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  it.each<[string, Parameters<typeof outputStyle>, { live: boolean; color: boolean }]>([
    ['a terminal', [{ progress: true, color: 'auto' }, tty, {}], { live: true, color: true }],
    ['a pipe', [{ progress: true, color: 'auto' }, pipe, {}], { live: false, color: false }],
    ['TERM=dumb', [{ progress: true, color: 'auto' }, tty, { TERM: 'dumb' }], { live: false, color: false }],
    ['NO_COLOR on a terminal', [{ progress: true, color: 'auto' }, tty, { NO_COLOR: '1' }], { live: true, color: false }],
    ['NO_COLOR set to nothing', [{ progress: true, color: 'auto' }, tty, { NO_COLOR: '' }], { live: true, color: true }],
    ['FORCE_COLOR in a pipe', [{ progress: true, color: 'auto' }, pipe, { FORCE_COLOR: '1' }], { live: false, color: true }],
    ['FORCE_COLOR=0', [{ progress: true, color: 'auto' }, pipe, { FORCE_COLOR: '0' }], { live: false, color: false }],
    ['--color always in a pipe', [{ progress: true, color: 'always' }, pipe, { NO_COLOR: '1' }], { live: false, color: true }],
    ['--color never on a terminal', [{ progress: true, color: 'never' }, tty, { FORCE_COLOR: '1' }], { live: true, color: false }],
    ['--no-progress on a terminal', [{ progress: false, color: 'auto' }, tty, {}], { live: false, color: true }],
  ])('%s', (_, args, wanted) => expect(outputStyle(...args)).toEqual(wanted));
});
