// The word index behind `search`, shared by the memory and the file store: which messages (documents)
// hold which words, so a search reads the few messages it returns instead of every message.
//
// Two parts. Documents (per document its order key, seq and conversation: 16 bytes in typed arrays;
// seqs fit in 32 bits as everywhere in the store)
// and the recent postings (word hash -> documents, for documents added since the last freeze) live in
// memory. The frozen postings (search-postings.ts), everything up to the last freeze, sit in one flat
// array for the memory store and in the file store's search.snapshot, read on demand. A freeze merges
// both into a new frozen part in one ordered pass; the file store freezes when it seals a segment, so its
// heap holds at most one segment's postings and a million messages' words cost it no heap at all.
//
// Words are stored as 30-bit hashes of their normalised form: two words may share a hash, so a
// posting only makes a message a candidate. The store then reads the candidate in its latest state and
// checks it (search-query.ts), which also takes care of edits (the new text is indexed beside the old,
// `edited`) and deletions. Documents that left retention stay until a sweep (a freeze that keeps only
// the live ones) drops them and renumbers the rest; searches skip them meanwhile because the store no
// longer holds them.
//
// Order: every document has a key, a positive integer in the order the store stored the message (the
// file store: its log position; the memory store: a counter). Document numbers follow key order, so
// reading postings from the highest number down is newest first, and a page continues below a key.
import { MemoryPostings, MemorySink, putWord, type FrozenPostings, type PostingsSink, type WordSpan } from './search-postings.js';
import type { ConvKey } from './store.js';

/**
 * FNV-1a folded to 30 bits: small integers are kept unboxed by V8, so a Map keyed by them costs a
 * fraction of one keyed by full 32-bit values (measured: ~5x). Collisions only add candidates.
 */
export function termHash(term: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < term.length; i++) {
    h ^= term.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

/** A growable list of u32: one word's documents, or one conversation's. */
class IdList {
  ids: Uint32Array;
  n = 0;
  constructor(capacity = 4) {
    this.ids = new Uint32Array(capacity);
  }
  /**
   * A full list over `view` without copying (a part of one shared array: a typed array per word would
   * cost an allocation each, the slowest part of loading). Its first push moves it to its own array.
   */
  static over(view: Uint32Array): IdList {
    const list = new IdList(0);
    list.ids = view;
    list.n = view.length;
    return list;
  }
  push(id: number): void {
    if (this.n === this.ids.length) {
      const bigger = new Uint32Array(Math.max(4, this.ids.length * 2));
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

/** The documents, as a freeze writes them and a snapshot restores them: ascending by key. */
export interface IndexDocs {
  convs: readonly ConvKey[];
  keys: Float64Array;
  seqs: Uint32Array;
  convOf: Uint32Array;
}

export interface SearchIndexOptions {
  /** Where a freeze writes its postings (default: memory). Called with the documents they refer to. */
  sink?: (docs: IndexDocs) => PostingsSink;
  /** A freeze into the sink failed: the index carries on as it was (reported, never thrown). */
  failed?: (err: Error) => void;
  /** Postings a sliced freeze handles per turn (default ~1 MiB of them; tests make it small). */
  sliceWork?: number;
}

export class SearchIndex {
  private keys: Float64Array = new Float64Array(1024);
  private seqs: Uint32Array = new Uint32Array(1024);
  private convOf: Uint32Array = new Uint32Array(1024);
  private count = 0;
  private readonly convIds = new Map<ConvKey, number>();
  private convNames: ConvKey[] = [];
  /** Postings of the documents below `frozen.docs`. */
  private frozen: FrozenPostings = MemoryPostings.empty();
  /** Word hash -> documents at or above `frozen.docs` holding it, ascending; a bare number while only one does. */
  private recent = new Map<number, number | IdList>();
  /** While a freeze runs in slices: the recent postings it is merging (the next ones go to `recent`). */
  private pending: Map<number, number | IdList> | undefined;
  /** The freeze running in slices, and whether another was asked for meanwhile. */
  private slices: Generator<void, boolean> | undefined;
  private againAfterSlices = false;
  /**
   * Per conversation id, its documents in seq order: finds the document an edit is about. Built at
   * the first edit (4 bytes a document a store without edits never spends), undefined until then.
   */
  private byConv: IdList[] | undefined;
  /** Words of edited texts: word hash -> documents. Only edited messages, so few. */
  private edits = new Map<number, Set<number>>();
  /** False once a document came in below the newest key (the file store's rebuild): frozen before use. */
  private ordered = true;
  /** A conversation's documents came in out of seq order (the file store's rebuild meets copies late). */
  private byConvUnsorted = false;
  /** Documents the store said left retention since the last sweep. */
  private retiredSinceSweep = 0;

  constructor(private readonly opts: SearchIndexOptions = {}) {}

  get size(): number {
    return this.count;
  }

  /** Documents added since the last freeze (whose postings are in the heap). */
  get unfrozen(): number {
    return this.count - this.frozen.docs;
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
    const mine = this.byConv?.[c];
    if (mine) {
      if (mine.n > 0 && this.seqs[mine.ids[mine.n - 1]!]! > seq) this.byConvUnsorted = true;
      mine.push(d);
    }
    for (const t of terms) {
      const h = termHash(t);
      const p = this.recent.get(h);
      if (p === undefined) this.recent.set(h, d);
      else if (typeof p === 'number') {
        if (p === d) continue;
        const list = new IdList();
        list.push(p);
        list.push(d);
        this.recent.set(h, list);
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
    if (++this.retiredSinceSweep > Math.max(4096, this.count / 2)) this.freeze(alive);
  }

  /**
   * Merges the frozen and the recent postings into a new frozen part written to the sink. With `alive`
   * (a sweep), only the documents it accepts are kept, renumbered in key order. False (reported to
   * `failed`) when the sink could not keep them: the index is then unchanged. `inMemory` freezes into
   * memory whatever the sink. A freeze running in slices is finished first.
   */
  freeze(alive?: (conv: ConvKey, seq: number) => boolean, inMemory = false): boolean {
    this.finishSlices();
    return drain(this.freezeSteps(alive, inMemory, false));
  }

  /**
   * The freeze at a seal, in slices of about a megabyte each, one per turn of the event loop: at a
   * million messages a freeze is a copy of ~50 MB, which in one go would stop every connection for a
   * few hundred milliseconds. Meanwhile searches read the old frozen part plus the postings being
   * merged plus the new ones, and adds go on. One at a time: asked for again meanwhile, it runs again
   * after. Falls back to freeze() when numbers must change (a rebuild's reorder).
   */
  freezeInSlices(): void {
    if (this.slices) {
      this.againAfterSlices = true;
      return;
    }
    if (!this.ordered) {
      this.freeze();
      return;
    }
    const slices = this.freezeSteps(undefined, false, true);
    this.slices = slices;
    const step = (): void => {
      // Finished meanwhile by a freeze() or close() that could not wait.
      if (this.slices !== slices) return;
      if (!slices.next().done) return void setImmediate(step);
      this.slices = undefined;
      if (this.againAfterSlices) {
        this.againAfterSlices = false;
        this.freezeInSlices();
      }
    };
    step();
  }

  /** A freeze is running in slices. */
  get freezing(): boolean {
    return this.slices !== undefined;
  }

  private finishSlices(): void {
    const slices = this.slices;
    if (!slices) return;
    this.slices = undefined;
    this.againAfterSlices = false;
    drain(slices);
  }

  /** A freeze, yielding between slices when `sliced` (only without renumbering: numbers must hold still). */
  private *freezeSteps(alive: ((conv: ConvKey, seq: number) => boolean) | undefined, inMemory: boolean, sliced: boolean): Generator<void, boolean> {
    if (alive) this.retiredSinceSweep = 0;
    // Nothing dropped and nothing out of order (the freeze at a seal): every number stays.
    const renumber = alive || !this.ordered ? this.renumbering(alive ?? (() => true)) : undefined;
    const n = renumber ? renumber.kept : this.count;
    let docs: IndexDocs = { convs: this.convNames, keys: this.keys, seqs: this.seqs, convOf: this.convOf };
    if (renumber) {
      const cap = Math.max(1024, n);
      docs = { convs: this.convNames, keys: new Float64Array(cap), seqs: new Uint32Array(cap), convOf: new Uint32Array(cap) };
      const order = renumber.order;
      for (let i = 0; i < n; i++) {
        docs.keys[i] = this.keys[order[i]!]!;
        docs.seqs[i] = this.seqs[order[i]!]!;
        docs.convOf[i] = this.convOf[order[i]!]!;
      }
    }
    const written = { convs: docs.convs, keys: docs.keys.subarray(0, n), seqs: docs.seqs.subarray(0, n), convOf: docs.convOf.subarray(0, n) };
    // What is merged is set aside: documents added meanwhile (sliced) start a new recent part.
    const merging = this.recent;
    this.recent = new Map();
    this.pending = merging;
    let sink: PostingsSink | undefined;
    let frozen: FrozenPostings;
    try {
      const slice = sliced ? (this.opts.sliceWork ?? SLICE_WORK) : Infinity;
      sink = inMemory || !this.opts.sink ? new MemorySink(n) : this.opts.sink(written);
      yield* sink.start(slice);
      yield* this.mergeSteps(sink, merging, renumber?.to, slice);
      frozen = yield* sink.finish(slice);
    } catch (err) {
      sink?.abandon();
      this.pending = undefined;
      this.recent = joined(merging, this.recent);
      this.opts.failed?.(err as Error);
      return false;
    }
    this.frozen.close();
    this.frozen = frozen;
    this.pending = undefined;
    if (!renumber) return true;
    const to = renumber.to;
    const edits = new Map<number, Set<number>>();
    for (const [h, set] of this.edits) {
      const kept = new Set<number>();
      for (const d of set) if (to[d]! >= 0) kept.add(to[d]!);
      if (kept.size > 0) edits.set(h, kept);
    }
    this.keys = docs.keys;
    this.seqs = docs.seqs;
    this.convOf = docs.convOf;
    this.count = n;
    this.edits = edits;
    this.ordered = true;
    this.byConv = undefined;
    return true;
  }

  /** The documents `alive` keeps in key order (`order`), and each document's new number (-1: dropped). */
  private renumbering(alive: (conv: ConvKey, seq: number) => boolean): { order: Uint32Array; to: Int32Array; kept: number } {
    const order = new Uint32Array(this.count);
    let kept = 0;
    for (let d = 0; d < this.count; d++) if (alive(this.convNames[this.convOf[d]!]!, this.seqs[d]!)) order[kept++] = d;
    const live = order.subarray(0, kept);
    if (!this.ordered) live.set(Array.from(live).sort((a, b) => this.keys[a]! - this.keys[b]!));
    const to = new Int32Array(this.count).fill(-1);
    for (let i = 0; i < kept; i++) to[live[i]!] = i;
    return { order: live, to, kept };
  }

  /**
   * Every word of the frozen part and of `recent` in ascending hash order, its documents renumbered
   * (dropped at -1) or not; yields after each `slice` of work.
   */
  private *mergeSteps(sink: PostingsSink, recent: Map<number, number | IdList>, renumber: Int32Array | undefined, slice: number): Generator<void, void> {
    const table = this.frozen.table;
    const recentHashes = Uint32Array.from(recent.keys()).sort();
    let work = 0;
    let scratch = new Uint32Array(1024);
    let i = 0;
    /** One word: its frozen documents (word i, when it has hash h) and its recent ones, renumbered. */
    const merge = (h: number): void => {
      const from = table.hashes[i] === h ? this.frozen.read(i, 0, table.countAt(i++)) : EMPTY;
      const more = idsOf(recent.get(h));
      work += from.length + more.length + 1;
      if (scratch.length < from.length + more.length) scratch = new Uint32Array(Math.max(scratch.length * 2, from.length + more.length));
      let n = 0;
      for (const list of [from, more]) {
        if (!renumber) {
          scratch.set(list, n);
          n += list.length;
          continue;
        }
        for (let k = 0; k < list.length; k++) {
          const d = renumber[list[k]!]!;
          if (d >= 0) scratch[n++] = d;
        }
      }
      if (n === 0) return;
      const ids = scratch.subarray(0, n);
      if (!this.ordered) ids.sort();
      putWord(sink, h, ids);
    };
    if (renumber) {
      // A sweep or a reorder: every word is rewritten.
      let j = 0;
      while (i < table.words || j < recentHashes.length) {
        const hb = i < table.words ? table.hashes[i]! : Infinity;
        const hr = j < recentHashes.length ? recentHashes[j]! : Infinity;
        if (hr <= hb) j++;
        merge(Math.min(hb, hr));
      }
      return;
    }
    // Numbers unchanged (the freeze at a seal): the frozen words between two recent ones are copied
    // as they are, table and postings in bulk, so a freeze costs a copy of the file, not a step per word.
    const frozen = this.frozen;
    function* copy(to: number): Generator<void, void> {
      if (to <= i) return;
      sink.words(table.hashes.subarray(i, to), table.counts(i, to));
      const end = table.starts[to]!;
      const step = Math.min(COPY_IDS, slice);
      for (let at = table.starts[i]!; at < end; at += step) {
        const upTo = Math.min(end, at + step);
        sink.ids(frozen.readFlat(at, upTo));
        work += upTo - at;
        if (work >= slice) {
          work = 0;
          yield;
        }
      }
      work += to - i;
      i = to;
    }
    for (const h of recentHashes) {
      yield* copy(table.lowerBound(h));
      merge(h);
      if (work >= slice) {
        work = 0;
        yield;
      }
    }
    yield* copy(table.words);
  }

  /**
   * Up to `max` documents holding every word (`terms`), in a conversation `inScope` accepts, with a
   * key below `before` (all when undefined), newest first. Synchronous, so the index cannot change
   * under it; a caller continues below the last key returned. Throws when the frozen part cannot be read.
   */
  find(terms: readonly string[], inScope: (conv: ConvKey) => boolean, before: number | undefined, max: number): SearchDoc[] {
    // Out of key order only while rebuilding: a freeze sorts, into memory if the sink cannot take it.
    if (!this.ordered && !this.freeze()) this.freeze(undefined, true);
    const lists = terms.map((t) => {
      const h = termHash(t);
      return new TermDocs(this.frozen, this.frozen.table.find(h), this.recentIds(h), this.edits.get(h));
    });
    if (lists.some((l) => l.size === 0)) return [];
    lists.sort((a, b) => a.size - b.size);
    const [driver, ...others] = lists as [TermDocs, ...TermDocs[]];
    // Conversations are few next to documents: decide each one once per call.
    const scope = new Uint8Array(this.convNames.length);
    const inScopeId = (c: number): boolean => {
      if (scope[c] === 0) scope[c] = inScope(this.convNames[c]!) ? 1 : 2;
      return scope[c] === 1;
    };
    const below = before === undefined ? this.count : this.lowerBoundKey(before);
    const out: SearchDoc[] = [];
    // Walk the driver's postings and its edited documents together, from the top down, each doc once.
    const extra = driver.extra ? [...driver.extra].filter((d) => d < below).sort((a, b) => b - a) : [];
    let i = driver.upperIndex(below) - 1;
    let j = 0;
    let last = -1;
    while (out.length < max && (i >= 0 || j < extra.length)) {
      let d: number;
      if (j >= extra.length || (i >= 0 && driver.at(i) >= extra[j]!)) d = driver.at(i--);
      else d = extra[j++]!;
      if (d === last) continue;
      last = d;
      if (!inScopeId(this.convOf[d]!)) continue;
      if (!others.every((l) => l.contains(d) || l.extra?.has(d) === true)) continue;
      out.push({ conv: this.convNames[this.convOf[d]!]!, seq: this.seqs[d]!, key: this.keys[d]! });
    }
    return out;
  }

  /** A word's unfrozen documents: those a sliced freeze is merging, then the newer ones. */
  private recentIds(h: number): Uint32Array {
    const older = idsOf(this.pending?.get(h));
    const newer = idsOf(this.recent.get(h));
    if (older.length === 0) return newer;
    if (newer.length === 0) return older;
    const out = new Uint32Array(older.length + newer.length);
    out.set(older);
    out.set(newer, older.length);
    return out;
  }

  /**
   * Replaces the contents with a snapshot's: documents ascending by key (their arrays are taken over,
   * not copied: the next add grows them), and their frozen postings.
   */
  restore(docs: IndexDocs, frozen: FrozenPostings): void {
    this.keys = docs.keys;
    this.seqs = docs.seqs;
    this.convOf = docs.convOf;
    this.count = docs.keys.length;
    this.convNames = [...docs.convs];
    this.convIds.clear();
    this.convNames.forEach((c, i) => this.convIds.set(c, i));
    this.frozen.close();
    this.frozen = frozen;
    this.recent = new Map();
    this.edits.clear();
    this.ordered = true;
    this.byConv = undefined;
  }

  /** Lets go of the frozen part (the file store's open snapshot), after finishing a sliced freeze. */
  close(): void {
    this.finishSlices();
    this.frozen.close();
    this.frozen = MemoryPostings.empty();
  }

  private convId(conv: ConvKey): number {
    let c = this.convIds.get(conv);
    if (c === undefined) {
      c = this.convNames.length;
      this.convIds.set(conv, c);
      this.convNames.push(conv);
      this.byConv?.push(new IdList(1));
    }
    return c;
  }

  /** The document of a conversation's message, or -1. Within a conversation seqs grow with documents. */
  private docOf(conv: ConvKey, seq: number): number {
    const c = this.convIds.get(conv);
    if (c === undefined) return -1;
    if (!this.byConv || this.byConvUnsorted) this.byConv = this.buildByConv();
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

  private buildByConv(): IdList[] {
    this.byConvUnsorted = false;
    const byConv = this.convNames.map(() => new IdList(1));
    for (let d = 0; d < this.count; d++) byConv[this.convOf[d]!]!.push(d);
    // A rebuild may have met a conversation's messages out of seq order (compaction copies).
    for (const list of byConv) {
      const v = list.view();
      for (let i = 1; i < v.length; i++) {
        if (this.seqs[v[i]!]! < this.seqs[v[i - 1]!]!) {
          const sorted = [...v].sort((a, b) => this.seqs[a]! - this.seqs[b]!);
          v.set(sorted);
          break;
        }
      }
    }
    return byConv;
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
    const cap = Math.max(1024, this.keys.length * 2);
    const keys = new Float64Array(cap);
    keys.set(this.keys);
    const seqs = new Uint32Array(cap);
    seqs.set(this.seqs);
    const convOf = new Uint32Array(cap);
    convOf.set(this.convOf);
    this.keys = keys;
    this.seqs = seqs;
    this.convOf = convOf;
  }
}

const EMPTY = new Uint32Array(0);
/** Postings (or words) a sliced freeze handles per turn of the event loop: ~1 MiB of copying. */
const SLICE_WORK = 1 << 18;

function idsOf(p: number | IdList | undefined): Uint32Array {
  return p === undefined ? EMPTY : typeof p === 'number' ? Uint32Array.of(p) : p.view();
}

/** `older`'s lists with `newer`'s after them (a failed sliced freeze puts its part back). */
function joined(older: Map<number, number | IdList>, newer: Map<number, number | IdList>): Map<number, number | IdList> {
  for (const [h, p] of newer) {
    const before = older.get(h);
    if (before === undefined) {
      older.set(h, p);
      continue;
    }
    const list = typeof before === 'number' ? IdList.over(Uint32Array.of(before)) : before;
    for (const d of idsOf(p)) list.push(d);
    older.set(h, list);
  }
  return older;
}

function drain<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}
/** Postings copied per read when a freeze copies frozen words whole (1 MiB). */
const COPY_IDS = 1 << 18;
/** Frozen postings are read in blocks of this many ids, each at most once per search round. */
const BLOCK = 1024;

/**
 * One word's documents for one search round, ascending: its frozen ones (read block by block as the
 * walk needs them, so a common word costs a few blocks, not its whole list), then its recent ones.
 */
class TermDocs {
  readonly size: number;
  private readonly frozenCount: number;
  private readonly blocks = new Map<number, Uint32Array>();

  constructor(
    private readonly frozen: FrozenPostings,
    private readonly span: WordSpan | undefined,
    private readonly recent: Uint32Array,
    readonly extra: Set<number> | undefined,
  ) {
    this.frozenCount = span?.count ?? 0;
    this.size = this.frozenCount + recent.length + (extra?.size ?? 0);
  }

  /** The i-th document (i below frozenCount + recent.length). */
  at(i: number): number {
    if (i >= this.frozenCount) return this.recent[i - this.frozenCount]!;
    const b = Math.floor(i / BLOCK);
    let block = this.blocks.get(b);
    if (!block) {
      const from = b * BLOCK;
      block = this.frozen.read(this.span!.word, from, Math.min(this.frozenCount, from + BLOCK));
      this.blocks.set(b, block);
    }
    return block[i - b * BLOCK]!;
  }

  /** The number of documents below `limit`. */
  upperIndex(limit: number): number {
    let lo = 0;
    let hi = this.frozenCount + this.recent.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid) < limit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  contains(d: number): boolean {
    const i = this.upperIndex(d);
    return i < this.frozenCount + this.recent.length && this.at(i) === d;
  }
}
