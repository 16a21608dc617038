// Said once at start: a --max-store-bytes budget larger than the data dir's disk can hold means the
// disk, not the budget, would end the history — writes would then fail (`unavailable`) instead of the
// oldest history going. The budget is kept as given (the disk may grow, other files may go); only the
// operator can tell.
import { statfsSync } from 'node:fs';
import { humanBytes } from './store/byte-size.js';

/** The warning to log, or undefined when the budget fits in what is used plus what is free. */
export function diskBudgetWarning(dir: string, budget: number, used: number, free: number | undefined): string | undefined {
  if (budget <= 0 || free === undefined || budget <= used + free) return undefined;
  return `store: --max-store-bytes ${humanBytes(budget)} is more than the disk of ${dir} can hold (${humanBytes(used)} used by the store, ${humanBytes(free)} free): the disk may fill before old history is dropped; lower --max-store-bytes`;
}

/** Bytes the disk holding `dir` has free for us; undefined when it cannot be told. */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
