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

export interface FrozenPostings {
  /** Documents covered (every posting is below this). */
  readonly docs: number;
  /** Number of words. */
  readonly words: number;
  /** The word's hash, for words in 0..words-1 (ascending). */
  hashAt(word: number): number;
  /** How many documents the word has. */
  countAt(word: number): number;
  /** The span of a word hash, or undefined when no frozen document has it. */
  find(hash: number): WordSpan | undefined;
  /** The word's documents [from, to), ascending: possibly a view, of memory nobody writes to again. */
  read(word: number, from: number, to: number): Uint32Array;
  /** Releases what it holds (a file). */
  close(): void;
}

/** Where a freeze writes the new frozen part: words in ascending hash order, each once. */
export interface PostingsSink {
  word(hash: number, ids: Uint32Array): void;
  /** The postings written, readable (the sink's job is over). Throws when they could not be kept. */
  finish(): FrozenPostings;
  /** Gives up (after a failure elsewhere): nothing written is kept. */
  abandon(): void;
}

/** Sorted word hashes with prefix sums of their counts: the lookup both kinds share. */
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

  find(hash: number): WordSpan | undefined {
    const h = this.hashes;
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (h[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return h[lo] === hash ? { word: lo, count: this.countAt(lo) } : undefined;
  }

  /** From hashes ascending and each word's count. */
  static fromCounts(hashes: Uint32Array, counts: Uint32Array): WordTable {
    const starts = new Uint32Array(hashes.length + 1);
    for (let w = 0; w < counts.length; w++) starts[w + 1] = starts[w]! + counts[w]!;
    return new WordTable(hashes, starts);
  }
}

export class MemoryPostings implements FrozenPostings {
  constructor(
    readonly docs: number,
    private readonly table: WordTable,
    private readonly flat: Uint32Array,
  ) {}

  static empty(): MemoryPostings {
    return new MemoryPostings(0, new WordTable(new Uint32Array(0), new Uint32Array(1)), new Uint32Array(0));
  }

  get words(): number {
    return this.table.words;
  }
  hashAt(word: number): number {
    return this.table.hashes[word]!;
  }
  countAt(word: number): number {
    return this.table.countAt(word);
  }
  find(hash: number): WordSpan | undefined {
    return this.table.find(hash);
  }
  read(word: number, from: number, to: number): Uint32Array {
    const s = this.table.starts[word]!;
    return this.flat.subarray(s + from, s + to);
  }
  close(): void {}
}

/** Builds MemoryPostings: what the memory store freezes into. */
export class MemorySink implements PostingsSink {
  private hashes: number[] = [];
  private counts: number[] = [];
  private flat = new Uint32Array(1024);
  private used = 0;

  constructor(private readonly docs: number) {}

  word(hash: number, ids: Uint32Array): void {
    if (this.used + ids.length > this.flat.length) {
      const bigger = new Uint32Array(Math.max(this.flat.length * 2, this.used + ids.length));
      bigger.set(this.flat.subarray(0, this.used));
      this.flat = bigger;
    }
    this.flat.set(ids, this.used);
    this.used += ids.length;
    this.hashes.push(hash);
    this.counts.push(ids.length);
  }

  finish(): FrozenPostings {
    const table = WordTable.fromCounts(Uint32Array.from(this.hashes), Uint32Array.from(this.counts));
    return new MemoryPostings(this.docs, table, this.flat.slice(0, this.used));
  }

  abandon(): void {}
}
