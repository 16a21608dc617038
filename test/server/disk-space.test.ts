// The start-up warning for a --max-store-bytes the disk cannot hold, row by row.
import { describe, expect, it } from 'vitest';
import { diskBudgetWarning, freeBytes } from '../../server/disk-space.js';

const GiB = 1024 ** 3;

describe('diskBudgetWarning', () => {
  it.each([
    ['no budget', 0, 0, 1 * GiB, undefined],
    ['a budget the free space holds', 10 * GiB, 0, 50 * GiB, undefined],
    ['a budget what is used plus what is free holds', 10 * GiB, 6 * GiB, 4 * GiB, undefined],
    ['free space unknown (statfs failed)', 10 * GiB, 0, undefined, undefined],
    ['a budget larger than the disk can hold', 10 * GiB, 1 * GiB, 2 * GiB, /--max-store-bytes 10\.0 GiB is more than the disk of \/data can hold \(1\.0 GiB used by the store, 2\.0 GiB free\).*lower --max-store-bytes/],
  ] as const)('%s', (_what, budget, used, free, expected) => {
    const line = diskBudgetWarning('/data', budget, used, free);
    if (expected === undefined) expect(line).toBeUndefined();
    else expect(line).toMatch(expected);
  });

  it('reads the free space of a real directory, and none of a missing one', () => {
    expect(freeBytes('.')).toBeGreaterThan(0);
    expect(freeBytes('/no/such/dir/here')).toBeUndefined();
  });
});
