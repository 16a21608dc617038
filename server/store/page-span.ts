// Which positions of a conversation's seq-ordered retained messages a history query returns. Both
// stores keep their messages (or their positions) in seq order and answer with this one rule.
import type { HistoryQuery } from './store.js';

export interface Span {
  start: number;
  end: number;
  /** Matching messages were left out beyond the page's far end (older from newest, newer from oldest). */
  more: boolean;
}

/** `lowerBound(seq)` = first position whose seq is >= seq; `count` retained messages in all. */
export function pageSpan(count: number, lowerBound: (seq: number) => number, q: HistoryQuery): Span {
  const lo = q.after === undefined ? 0 : lowerBound(q.after + 1);
  const hi = q.before === undefined ? count : lowerBound(q.before);
  if (hi <= lo) return { start: lo, end: lo, more: false };
  const limit = Math.max(0, Math.floor(q.limit));
  if (q.from === 'oldest') {
    const end = Math.min(hi, lo + limit);
    return { start: lo, end, more: end < hi };
  }
  const start = Math.max(lo, hi - limit);
  return { start, end: hi, more: start > lo };
}
