// What `search` treats as a word, in one place: the server indexes and matches with it, and the
// clients highlight with it, so a word the server matched is the word a client marks. A word is a run
// of letters, digits and combining marks (any script); everything else separates words. Words are
// compared after NFKC (so `ﬁ` is `fi` and full-width `Ａ` is `A`) and lower-casing, so search is
// case-insensitive in every script that has case.
import { LIMITS } from './messages.js';

const WORD = /[\p{L}\p{N}\p{M}]+/gu;

/** One word as search compares it. Words longer than the cap are cut: both sides cut them alike. */
export function normaliseWord(word: string): string {
  const w = word.normalize('NFKC').toLowerCase();
  return w.length > LIMITS.searchWordMaxChars ? w.slice(0, LIMITS.searchWordMaxChars) : w;
}

/** The distinct words of a text, normalised, in order of first appearance. */
export function searchTerms(text: string): string[] {
  const seen = new Set<string>();
  // NFKC first: it can turn a separator-looking character into letters (and back), and the split
  // must agree with what normaliseWord compares.
  for (const m of text.normalize('NFKC').matchAll(WORD)) seen.add(normaliseWord(m[0]));
  return [...seen];
}

/** Where in `text` (UTF-16 offsets, in order) the words equal to one of `terms` are, for highlighting. */
export function matchRanges(text: string, terms: readonly string[]): { start: number; end: number }[] {
  if (terms.length === 0) return [];
  const wanted = new Set(terms);
  const out: { start: number; end: number }[] = [];
  // Matched on the text as shown (not its NFKC form) so the offsets point into what the client prints;
  // each word is normalised on its own, which agrees with searchTerms for all but exotic compositions.
  for (const m of text.matchAll(WORD)) {
    if (wanted.has(normaliseWord(m[0]))) out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}
