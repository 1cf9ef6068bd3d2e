import { accessSync, constants, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Scratch space on a RAM disk where the machine has one with room: the tests' environments are
 * thousands of small files, and on an ext4 disk of these machines copying or unpacking one spends
 * 20 times longer in the kernel than on tmpfs (cp -a of a 1,700-file environment: 1.67 s against
 * 0.07 s), which made the crash tests alone take 229 s instead of 87 s. The file systems tests mount
 * what they need themselves. Set before the workers start, so that they and every process they spawn
 * (os.tmpdir() reads TMPDIR) use it.
 */
function ramDiskScratch(): string | undefined {
  const shm = '/dev/shm';
  try {
    accessSync(shm, constants.W_OK);
    const { bavail, bsize } = statfsSync(shm);
    if (bavail * bsize < 8 * 2 ** 30) return undefined;
    return mkdtempSync(path.join(shm, 'terrarium-tests-'));
  } catch {
    return undefined;
  }
}

const scratch = ramDiskScratch();
if (scratch) {
  process.env.TMPDIR = scratch;
  // Whatever a failed test left there goes with the run: RAM is not a place to keep it.
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
}

/**
 * The files that take longest start first, so that neither waits behind the other at the end of a run
 * (vitest orders a first run, with no timings cached, by file size): the matrix builds an environment
 * per interpreter and builder, the crash tests kill and recover a run some thirty times.
 */
const LONGEST = ['relocation-matrix', 'crash-safety', 'fleet', 'signing', 'install-options', 's3', 'portable', 'trust-archives'];
const rank = (spec: TestSpecification) => {
  const found = LONGEST.findIndex((name) => spec.moduleId.endsWith(`/${name}.test.ts`));
  return found === -1 ? LONGEST.length : found;
};
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Integration tests build real environments with real pip: seconds each, not milliseconds.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two files at once (vitest's default on two cores is one): most of a test's time is spent in the
    // processes it starts.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
  },
});
