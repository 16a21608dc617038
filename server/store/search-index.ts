// The word index behind `search`, shared by the memory and the file store: which messages (documents)
// hold which words, so a search reads the few messages it returns instead of every message.
//
// Memory: everything lives in typed arrays (outside the JS heap, no object per posting), because a
// 1M-message store must not hold ten million small objects. Per document 20 bytes (its order key, seq
// and conversation); per posting 4 bytes (a u32 document number in a growable Uint32Array per word);
// a word seen once costs one Map entry and no array. Roughly 60 MB per million messages of ten distinct
// words each. Postings on disk would cost less heap but a disk read per word per query and a merge
// scheme for appends; at this scale compact arrays are the simpler right choice, and the file store
// persists them (search-snapshot.ts) so a restart does not rebuild them from the log.
//
// Words are stored as 32-bit FNV-1a hashes of their normalised form: two words may share a hash, so a
// posting only makes a message a candidate. The store then reads the candidate in its latest state and
// checks it (search-query.ts), which also takes care of edits (the new text is indexed beside the old,
// `edited`) and deletions. Documents that left retention stay until a sweep (`sweep`) drops them and
// renumbers the rest; searches skip them meanwhile because the store no longer holds them.
//
// Order: every document has a key, a positive integer in the order the store stored the message (the
// file store: its log position; the memory store: a counter). Document numbers follow key order, so
// reading postings from the highest number down is newest first, and a page continues below a key.
import type { ConvKey } from './store.js';

export function termHash(term: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < term.length; i++) {
    h ^= term.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A growable list of u32: one word's documents, or one conversation's. */
class IdList {
  ids: Uint32Array;
  n = 0;
  constructor(capacity = 4) {
    this.ids = new Uint32Array(capacity);
  }
  push(id: number): void {
    if (this.n === this.ids.length) {
      const bigger = new Uint32Array(this.ids.length * 2);
      bigger.set(this.ids);
      this.ids = bigger;
    }
    this.ids[this.n++] = id;
  }
  /** The ids in use (a view, not a copy). */
  view(): Uint32Array {
    return this.ids.subarray(0, this.n);
  }
}

export interface SearchDoc {
  conv: ConvKey;
  seq: number;
  key: number;
}

/** The index's contents as plain arrays, for the snapshot file (search-snapshot.ts). */
export interface IndexState {
  convs: ConvKey[];
  keys: Float64Array;
  seqs: Float64Array;
  convOf: Uint32Array;
  /** Per word hash, its documents ascending. */
  postings: Map<number, Uint32Array>;
}

export class SearchIndex {
  private keys = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private convOf = new Uint32Array(1024);
  private count = 0;
  private readonly convIds = new Map<ConvKey, number>();
  private convNames: ConvKey[] = [];
  /** Word hash -> documents holding it, ascending; a bare number while only one does. */
  private postings = new Map<number, number | IdList>();
  /** Per conversation id, its documents in seq order: finds the document an edit is about. */
  private byConv: IdList[] = [];
  /** Words of edited texts: word hash -> documents. Only edited messages, so few. */
  private edits = new Map<number, Set<number>>();
  /** False once a document came in below the newest key (the file store's rebuild): sorted before use. */
  private ordered = true;
  /** A conversation's documents came in out of seq order (the file store's rebuild meets copies late). */
  private byConvUnsorted = false;
  /** Documents the store said left retention since the last sweep. */
  private retiredSinceSweep = 0;

  get size(): number {
    return this.count;
  }

  /** Indexes a stored message's words. `key` orders it among all documents (see the file comment). */
  add(conv: ConvKey, seq: number, key: number, terms: readonly string[]): void {
    if (this.count === this.keys.length) this.grow();
    const d = this.count++;
    if (d > 0 && key < this.keys[d - 1]!) this.ordered = false;
    const c = this.convId(conv);
    this.keys[d] = key;
    this.seqs[d] = seq;
    this.convOf[d] = c;
    const mine = this.byConv[c]!;
    if (mine.n > 0 && this.seqs[mine.ids[mine.n - 1]!]! > seq) this.byConvUnsorted = true;
    mine.push(d);
    for (const t of terms) {
      const h = termHash(t);
      const p = this.postings.get(h);
      if (p === undefined) this.postings.set(h, d);
      else if (typeof p === 'number') {
        const list = new IdList();
        list.push(p);
        list.push(d);
        this.postings.set(h, list);
      } else if (p.ids[p.n - 1] !== d) p.push(d);
    }
  }

  /** A message's text was edited: it is found by the new words too (the old ones are checked away). */
  edited(conv: ConvKey, seq: number, terms: readonly string[]): void {
    const d = this.docOf(conv, seq);
    if (d < 0) return;
    for (const t of terms) {
      const h = termHash(t);
      let set = this.edits.get(h);
      if (!set) this.edits.set(h, (set = new Set()));
      set.add(d);
    }
  }

  /**
   * A message left retention. Its document stays until enough have gone that a sweep pays for itself
   * (half the index), so the cost is amortised over the messages that made it necessary.
   */
  retired(alive: (conv: ConvKey, seq: number) => boolean): void {
    if (++this.retiredSinceSweep > Math.max(4096, this.count / 2)) this.sweep(alive);
  }

  /** Drops the documents that are not `alive`, renumbers the rest in key order, rebuilds the postings. */
  sweep(alive: (conv: ConvKey, seq: number) => boolean): void {
    this.retiredSinceSweep = 0;
    const order: number[] = [];
    for (let d = 0; d < this.count; d++) if (alive(this.convNames[this.convOf[d]!]!, this.seqs[d]!)) order.push(d);
    if (!this.ordered) order.sort((a, b) => this.keys[a]! - this.keys[b]!);
    const renumber = new Int32Array(this.count).fill(-1);
    for (let i = 0; i < order.length; i++) renumber[order[i]!] = i;
    const cap = Math.max(1024, order.length);
    const keys = new Float64Array(cap);
    const seqs = new Float64Array(cap);
    const convOf = new Uint32Array(cap);
    for (let i = 0; i < order.length; i++) {
      keys[i] = this.keys[order[i]!]!;
      seqs[i] = this.seqs[order[i]!]!;
      convOf[i] = this.convOf[order[i]!]!;
    }
    const postings = new Map<number, number | IdList>();
    for (const [h, p] of this.postings) {
      const ids = typeof p === 'number' ? [p] : p.view();
      const kept: number[] = [];
      for (const d of ids) if (renumber[d]! >= 0) kept.push(renumber[d]!);
      if (kept.length === 0) continue;
      if (!this.ordered) kept.sort((a, b) => a - b);
      if (kept.length === 1) postings.set(h, kept[0]!);
      else {
        const list = new IdList(kept.length);
        for (const d of kept) list.push(d);
        postings.set(h, list);
      }
    }
    const edits = new Map<number, Set<number>>();
    for (const [h, set] of this.edits) {
      const kept = new Set<number>();
      for (const d of set) if (renumber[d]! >= 0) kept.add(renumber[d]!);
      if (kept.size > 0) edits.set(h, kept);
    }
    this.keys = keys;
    this.seqs = seqs;
    this.convOf = convOf;
    this.count = order.length;
    this.postings = postings;
    this.edits = edits;
    this.ordered = true;
    this.rebuildByConv();
  }

  /**
   * Up to `max` documents holding every word (`terms`), in a conversation `inScope` accepts, with a
   * key below `before` (all when undefined), newest first. Synchronous, so the index cannot change
   * under it; a caller continues below the last key returned.
   */
  find(terms: readonly string[], inScope: (conv: ConvKey) => boolean, before: number | undefined, max: number): SearchDoc[] {
    if (!this.ordered) this.sweep(() => true);
    const lists = terms.map((t) => {
      const h = termHash(t);
      const p = this.postings.get(h);
      const ids = p === undefined ? new Uint32Array(0) : typeof p === 'number' ? Uint32Array.of(p) : p.view();
      const extra = this.edits.get(h);
      return { ids, extra, size: ids.length + (extra?.size ?? 0) };
    });
    if (lists.some((l) => l.size === 0)) return [];
    lists.sort((a, b) => a.size - b.size);
    const [driver, ...others] = lists;
    // Conversations are few next to documents: decide each one once per call.
    const scope = new Uint8Array(this.convNames.length);
    const inScopeId = (c: number): boolean => {
      if (scope[c] === 0) scope[c] = inScope(this.convNames[c]!) ? 1 : 2;
      return scope[c] === 1;
    };
    const below = before === undefined ? this.count : this.lowerBoundKey(before);
    const out: SearchDoc[] = [];
    // Walk the driver's postings and its edited documents together, from the top down, each doc once.
    const extra = driver!.extra ? [...driver!.extra].filter((d) => d < below).sort((a, b) => b - a) : [];
    let i = upperIndex(driver!.ids, below) - 1;
    let j = 0;
    let last = -1;
    while (out.length < max && (i >= 0 || j < extra.length)) {
      let d: number;
      if (j >= extra.length || (i >= 0 && driver!.ids[i]! >= extra[j]!)) d = driver!.ids[i--]!;
      else d = extra[j++]!;
      if (d === last) continue;
      last = d;
      if (!inScopeId(this.convOf[d]!)) continue;
      if (!others.every((l) => contains(l.ids, d) || l.extra?.has(d) === true)) continue;
      out.push({ conv: this.convNames[this.convOf[d]!]!, seq: this.seqs[d]!, key: this.keys[d]! });
    }
    return out;
  }

  /** The contents, compacted (documents no longer `alive` dropped), for the snapshot file. */
  state(alive: (conv: ConvKey, seq: number) => boolean): IndexState {
    this.sweep(alive);
    const postings = new Map<number, Uint32Array>();
    for (const [h, p] of this.postings) postings.set(h, typeof p === 'number' ? Uint32Array.of(p) : p.view());
    return { convs: this.convNames, keys: this.keys.subarray(0, this.count), seqs: this.seqs.subarray(0, this.count), convOf: this.convOf.subarray(0, this.count), postings };
  }

  /** Replaces the contents with a snapshot's (documents ascending by key, postings ascending). */
  restore(s: IndexState): void {
    const cap = Math.max(1024, s.keys.length);
    this.keys = new Float64Array(cap);
    this.keys.set(s.keys);
    this.seqs = new Float64Array(cap);
    this.seqs.set(s.seqs);
    this.convOf = new Uint32Array(cap);
    this.convOf.set(s.convOf);
    this.count = s.keys.length;
    this.convNames = [...s.convs];
    this.convIds.clear();
    this.convNames.forEach((c, i) => this.convIds.set(c, i));
    this.postings = new Map();
    for (const [h, ids] of s.postings) {
      if (ids.length === 1) this.postings.set(h, ids[0]!);
      else {
        const list = new IdList(ids.length);
        list.ids.set(ids);
        list.n = ids.length;
        this.postings.set(h, list);
      }
    }
    this.edits.clear();
    this.ordered = true;
    this.rebuildByConv();
  }

  private convId(conv: ConvKey): number {
    let c = this.convIds.get(conv);
    if (c === undefined) {
      c = this.convNames.length;
      this.convIds.set(conv, c);
      this.convNames.push(conv);
      this.byConv.push(new IdList(1));
    }
    return c;
  }

  /** The document of a conversation's message, or -1. Within a conversation seqs grow with documents. */
  private docOf(conv: ConvKey, seq: number): number {
    const c = this.convIds.get(conv);
    if (c === undefined) return -1;
    if (this.byConvUnsorted) this.rebuildByConv();
    const ids = this.byConv[c]!.view();
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[ids[mid]!]! < seq) lo = mid + 1;
      else hi = mid;
    }
    const d = ids[lo];
    return d !== undefined && this.seqs[d] === seq ? d : -1;
  }

  private rebuildByConv(): void {
    this.byConvUnsorted = false;
    this.byConv = this.convNames.map(() => new IdList(1));
    for (let d = 0; d < this.count; d++) this.byConv[this.convOf[d]!]!.push(d);
    // A rebuild may have met a conversation's messages out of seq order (compaction copies).
    for (const list of this.byConv) {
      const v = list.view();
      for (let i = 1; i < v.length; i++) {
        if (this.seqs[v[i]!]! < this.seqs[v[i - 1]!]!) {
          const sorted = [...v].sort((a, b) => this.seqs[a]! - this.seqs[b]!);
          v.set(sorted);
          break;
        }
      }
    }
  }

  /** The first document whose key is >= `key` (documents are in key order). */
  private lowerBoundKey(key: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(): void {
    const cap = this.keys.length * 2;
    const keys = new Float64Array(cap);
    keys.set(this.keys);
    const seqs = new Float64Array(cap);
    seqs.set(this.seqs);
    const convOf = new Uint32Array(cap);
    convOf.set(this.convOf);
    this.keys = keys;
    this.seqs = seqs;
    this.convOf = convOf;
  }
}

/** The number of ids below `limit` in an ascending list. */
function upperIndex(ids: Uint32Array, limit: number): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function contains(ids: Uint32Array, d: number): boolean {
  const i = upperIndex(ids, d);
  return ids[i] === d;
}
