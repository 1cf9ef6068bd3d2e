import { describe, expect, it } from 'vitest';
import { BytecodeProgress, PipProgress } from '../../src/env/build-progress.js';

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

  it('counts what pip has put in place as it installs, from the dist-info folders site-packages gains', () => {
    let site = ['pip', 'pip-24.0.dist-info'];
    const progress = new PipProgress(() => site);
    for (const line of ['Collecting a', 'Collecting b', 'Collecting c', 'Installing collected packages: c, b, a']) progress.feed(line);
    expect(progress.describe()).toMatch(/^0 of 3 installed/);
    site = [...site, 'c', 'c-1.0.dist-info', 'b'];
    expect(progress.describe()).toMatch(/^1 of 3 installed/);
    site = [...site, 'b-2.0.dist-info', 'a-1.0.dist-info', 'extra-9.dist-info'];
    expect(progress.describe()).toMatch(/^3 of 3 installed/);
    // A second run (a lock's artifacts, then the rest) counts from what is there when it begins.
    progress.feed('Installing collected packages: d');
    expect(progress.describe()).toMatch(/^0 of 1 installed/);
  });
});

describe("compileall's progress, from its output", () => {
  it('counts the modules it names as compiled, of the sources counted', () => {
    const progress = new BytecodeProgress();
    expect(progress.describe()).toBe('0 modules compiled');
    for (const line of ["Listing '/e/lib'...", "Compiling '/e/lib/a.py'...", "Compiling '/e/lib/b.py'...", '*** Error compiling']) progress.feed(line);
    expect(progress.describe()).toBe('2 modules compiled');
    progress.counted(12345);
    expect(progress.describe()).toBe('2 of 12,345 modules compiled');
  });
});
