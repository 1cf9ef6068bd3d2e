import { describe, expect, it } from 'vitest';
import { PipProgress } from '../../src/env/pip-progress.js';

describe("pip's progress, from its output", () => {
  it.each<[string, string[], string]>([
    ['nothing yet', [], '0 distributions collected'],
    [
      'collecting',
      ['Looking in links: /w', 'Processing /w/terra_demo-1.0-py3-none-any.whl', 'Collecting terra-dep'],
      '2 distributions collected · Collecting terra-dep',
    ],
    ['already there counts too', ['Requirement already satisfied: pip in ./lib'], '1 distribution collected · Requirement already satisfied: pip in ./lib'],
    ['installing', ['Collecting a', 'Collecting b', 'Installing collected packages: b, a'], '0 of 2 installed · Installing collected packages: b, a'],
    ['done', ['Collecting a', 'Installing collected packages: a', 'Successfully installed a-1.0'], '1 of 1 installed · Successfully installed a-1.0'],
  ])('%s', (_, lines, wanted) => {
    const progress = new PipProgress();
    for (const line of lines) progress.feed(line);
    expect(progress.describe()).toBe(wanted);
  });
});
