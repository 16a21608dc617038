// One search over a SearchIndex, the same for every store that keeps one: take candidates newest first,
// skip those the store no longer holds, read the rest in their latest state and keep the ones whose
// text still has every word (a candidate can be a hash collision, an edit's old words, or deleted).
// Stops at one more hit than the page needs, which is how it knows there are more.
import type { ChatMessage } from '../../protocol/messages.js';
import { searchTerms } from '../../protocol/search-terms.js';
import type { SearchDoc, SearchIndex } from './search-index.js';
import type { ConvKey, SearchHit, SearchPage, SearchQuery } from './store.js';

export interface SearchSource {
  index: SearchIndex;
  /** The store still holds this message (retained, readable). */
  alive(conv: ConvKey, seq: number): boolean;
  /** The messages in their latest state (amendments applied), undefined where one could not be read. */
  load(docs: SearchDoc[]): Promise<(ChatMessage | undefined)[]>;
}

/** Candidates read per round beyond what the page still needs, so a few misses do not cost a round each. */
const SLACK = 8;

export async function runSearch(src: SearchSource, q: SearchQuery): Promise<SearchPage> {
  const want = q.limit + 1;
  const convs = new Set(q.convs);
  const inScope = (conv: ConvKey): boolean => convs.has(conv) || (q.dmsOf !== undefined && isSideOf(conv, q.dmsOf));
  const hits: { hit: SearchHit; key: number }[] = [];
  let before = q.before;
  while (hits.length < want) {
    const docs = src.index.find(q.terms, inScope, before, want - hits.length + SLACK);
    if (docs.length === 0) break;
    before = docs[docs.length - 1]!.key;
    const live = docs.filter((d) => src.alive(d.conv, d.seq));
    const msgs = await src.load(live);
    for (let i = 0; i < live.length && hits.length < want; i++) {
      const m = msgs[i];
      if (m === undefined || m.deleted || !hasAll(m.text, q.terms)) continue;
      hits.push({ hit: { conv: live[i]!.conv, msg: m }, key: live[i]!.key });
    }
  }
  const page = hits.slice(0, q.limit);
  if (hits.length <= q.limit) return { hits: page.map((h) => h.hit), more: false };
  return { hits: page.map((h) => h.hit), more: true, next: page[page.length - 1]!.key };
}

/** An account conversation (`p:a|b`) with `user` as one side. */
export function isSideOf(conv: ConvKey, user: string): boolean {
  if (!conv.startsWith('p:')) return false;
  const bar = conv.indexOf('|');
  return conv.slice(2, bar) === user || conv.slice(bar + 1) === user;
}

export function hasAll(text: string, terms: readonly string[]): boolean {
  const words = new Set(searchTerms(text));
  return terms.every((t) => words.has(t));
}
