// The frozen part of the word index: for each word hash, its documents ascending, written once by a
// freeze (search-index.ts) and never changed, so it can live in one flat array or in a file. The memory
// store keeps it in memory (MemoryPostings); the file store reads it from search.snapshot on demand
// (search-snapshot.ts), so a million messages' postings cost no heap.
//
// Words are kept sorted by hash with their counts, so a word is found by binary search over two typed
// arrays (8 bytes a word, no object per word) and a freeze can merge the frozen words with the recent
// ones in one ordered pass.

/** A word's place: its index among the frozen words and how many documents it has. */
export interface WordSpan {
  readonly word: number;
  readonly count: number;
}

/** Where a freeze writes the new frozen part: words in ascending hash order, each once. */
export interface PostingsSink {
  /** Words to come: their hashes and counts; their ids follow (in any number of `ids` calls). */
  words(hashes: Uint32Array, counts: Uint32Array): void;
  ids(ids: Uint32Array): void;
  /** Writes what comes before the words (a file: the documents), yielding after each `slice` ids' worth. */
  start(slice: number): Generator<void, void>;
  /** Writes what comes after them, yielding likewise, and hands over the postings written, readable. Throws when they could not be kept. */
  finish(slice: number): Generator<void, FrozenPostings>;
  /** Gives up (after a failure elsewhere): nothing written is kept. */
  abandon(): void;
}

/** One word into a sink. */
export function putWord(sink: PostingsSink, hash: number, ids: Uint32Array): void {
  sink.words(Uint32Array.of(hash), Uint32Array.of(ids.length));
  sink.ids(ids);
}

/** Sorted word hashes with prefix sums of their counts. */
export class WordTable {
  constructor(
    readonly hashes: Uint32Array,
    /** starts[w] is the first posting of word w; starts[words] the total. */
    readonly starts: Uint32Array,
  ) {}

  get words(): number {
    return this.hashes.length;
  }

  countAt(word: number): number {
    return this.starts[word + 1]! - this.starts[word]!;
  }

  /** The first word whose hash is >= `hash`. */
  lowerBound(hash: number): number {
    const h = this.hashes;
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (h[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  find(hash: number): WordSpan | undefined {
    const w = this.lowerBound(hash);
    return this.hashes[w] === hash ? { word: w, count: this.countAt(w) } : undefined;
  }

  /** The counts of words [from, to). */
  counts(from: number, to: number): Uint32Array {
    const out = new Uint32Array(to - from);
    for (let w = from; w < to; w++) out[w - from] = this.countAt(w);
    return out;
  }

  /** From hashes ascending and each word's count. */
  static fromCounts(hashes: Uint32Array, counts: Uint32Array): WordTable {
    const starts = new Uint32Array(hashes.length + 1);
    for (let w = 0; w < counts.length; w++) starts[w + 1] = starts[w]! + counts[w]!;
    return new WordTable(hashes, starts);
  }
}

/**
 * The frozen part: a word table, and every word's documents one after the other (posting k of the
 * whole list is word w's posting k - starts[w]), kept in memory or read from a file.
 */
export abstract class FrozenPostings {
  constructor(
    /** Documents covered (every posting is below this). */
    readonly docs: number,
    readonly table: WordTable,
  ) {}

  /** Postings [from, to) of the whole list: possibly a view, of memory nobody writes to again. */
  abstract readFlat(from: number, to: number): Uint32Array;
  /** Releases what it holds (a file). */
  abstract close(): void;

  /** The word's documents [from, to), ascending. */
  read(word: number, from: number, to: number): Uint32Array {
    const s = this.table.starts[word]!;
    return this.readFlat(s + from, s + to);
  }
}

export class MemoryPostings extends FrozenPostings {
  constructor(docs: number, table: WordTable, private readonly flat: Uint32Array) {
    super(docs, table);
  }

  static empty(): MemoryPostings {
    return new MemoryPostings(0, new WordTable(new Uint32Array(0), new Uint32Array(1)), new Uint32Array(0));
  }

  readFlat(from: number, to: number): Uint32Array {
    return this.flat.subarray(from, to);
  }
  close(): void {}
}

/** Builds MemoryPostings: what the memory store freezes into. */
export class MemorySink implements PostingsSink {
  private hashes: Uint32Array = new Uint32Array(1024);
  private counts: Uint32Array = new Uint32Array(1024);
  private words_ = 0;
  private flat: Uint32Array = new Uint32Array(1024);
  private used = 0;

  constructor(private readonly docs: number) {}

  words(hashes: Uint32Array, counts: Uint32Array): void {
    this.hashes = appendTo(this.hashes, this.words_, hashes);
    this.counts = appendTo(this.counts, this.words_, counts);
    this.words_ += hashes.length;
  }

  ids(ids: Uint32Array): void {
    this.flat = appendTo(this.flat, this.used, ids);
    this.used += ids.length;
  }

  /** Nothing comes before the words in memory, nor after them but the handing over. */
  *start(): Generator<void, void> {}

  *finish(): Generator<void, FrozenPostings> {
    const table = WordTable.fromCounts(this.hashes.slice(0, this.words_), this.counts.slice(0, this.words_));
    return new MemoryPostings(this.docs, table, this.flat.slice(0, this.used));
  }

  abandon(): void {}
}

/** `a` (of which `used` are in use) with `more` after them: `a` itself when it has room, else a bigger copy. */
export function appendTo(a: Uint32Array, used: number, more: Uint32Array): Uint32Array {
  let out = a;
  if (used + more.length > a.length) {
    out = new Uint32Array(Math.max(a.length * 2, used + more.length));
    out.set(a.subarray(0, used));
  }
  out.set(more, used);
  return out;
}
