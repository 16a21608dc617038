// Where each retained message of one conversation lives on disk: (seq, segment, offset, length), four
// u32 words per message in chunked typed arrays (so: at most 2^32 - 1 messages a conversation, and
// segments below 4 GiB; the store caps segments at 1 GiB and the record codec refuses larger seqs). No object per message: a million retained messages
// cost 16 MB of index and nothing for the garbage collector to trace. Seqs only grow; retention drops
// from the front in O(1) and frees a whole chunk at a time, so no append ever copies a large array.
// A conversation with a handful of messages holds one small chunk that grows as it fills. Chunks are
// views on shared slabs (SlabPool): a typed array of its own costs tens of microseconds to allocate
// here (an ArrayBuffer the GC tracks), which made loading a million positions spend most of its time
// allocating; a view costs nearly nothing, and a freed chunk is reused by the next one of its size.

const WORDS = 4;
const CHUNK = 1024;
const FIRST_CAPACITY = 4;
/** A growing first chunk is reallocated (and zero-filled) at each step: few, large steps. */
const GROWTH = 8;

/** Fixed-size chunks carved from large slabs; freed chunks are kept for reuse, never returned. */
class SlabPool {
  private readonly free: Uint32Array[] = [];
  private slab: ArrayBuffer | undefined;
  private carved = 0;

  constructor(
    private readonly words: number,
    private readonly perSlab: number,
  ) {}

  take(): Uint32Array {
    const reused = this.free.pop();
    if (reused) return reused;
    if (!this.slab || this.carved === this.perSlab) {
      this.slab = new ArrayBuffer(this.words * this.perSlab * 4);
      this.carved = 0;
    }
    return new Uint32Array(this.slab, this.words * 4 * this.carved++, this.words);
  }

  give(chunk: Uint32Array): void {
    this.free.push(chunk);
  }
}

/** One pool per chunk size: 4, 32, 256 and CHUNK entries; each slab is 256 KiB. */
const POOLS = new Map<number, SlabPool>();
for (let entries = FIRST_CAPACITY; entries <= CHUNK; entries *= GROWTH) POOLS.set(entries * WORDS, new SlabPool(entries * WORDS, (256 * 1024) / (entries * WORDS * 4)));
if (!POOLS.has(CHUNK * WORDS)) POOLS.set(CHUNK * WORDS, new SlabPool(CHUNK * WORDS, 16));

function takeChunk(words: number): Uint32Array {
  return POOLS.get(words)!.take();
}

function giveChunk(chunk: Uint32Array): void {
  POOLS.get(chunk.length)!.give(chunk);
}

export interface Slot {
  seq: number;
  seg: number;
  off: number;
  len: number;
}

export class ConvIndex {
  /** Every chunk but the last holds exactly CHUNK entries; the last may be smaller and growing. */
  private chunks: Uint32Array[] = [];
  /** The last chunk, and how many of its slots are used (dead ones before `head` included). */
  private tail: Uint32Array | undefined;
  private tailUsed = 0;
  /** Index of the oldest entry inside chunks[0]. */
  private head = 0;
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Appends an entry whose seq is above every other one's. */
  push(seq: number, seg: number, off: number, len: number): void {
    let tail = this.tail;
    if (tail === undefined || this.tailUsed * WORDS === tail.length) tail = this.makeRoom();
    const at = this.tailUsed * WORDS;
    tail[at] = seq;
    tail[at + 1] = seg;
    tail[at + 2] = off;
    tail[at + 3] = len;
    this.tailUsed++;
    this.n++;
  }

  /** The tail chunk is full (or there is none): slide, grow, or start another chunk. */
  private makeRoom(): Uint32Array {
    let tail = this.tail;
    if (tail === undefined) {
      tail = takeChunk(FIRST_CAPACITY * WORDS);
      this.chunks.push(tail);
      this.tailUsed = 0;
    } else if (this.chunks.length === 1 && this.head >= this.n) {
      // Mostly dead space (a short retention): slide the live entries down instead of growing.
      tail.copyWithin(0, this.head * WORDS, this.tailUsed * WORDS);
      this.head = 0;
      this.tailUsed = this.n;
    } else if (tail.length < CHUNK * WORDS) {
      const grown = takeChunk(Math.min(CHUNK * WORDS, tail.length * GROWTH));
      grown.set(tail);
      giveChunk(tail);
      tail = grown;
      this.chunks[this.chunks.length - 1] = tail;
    } else {
      tail = takeChunk(CHUNK * WORDS);
      this.chunks.push(tail);
      this.tailUsed = 0;
    }
    this.tail = tail;
    return tail;
  }

  /** Drops the oldest entry and returns the segment it lived in (for live-byte accounting). */
  shift(): number {
    const seg = this.word(0, 1);
    this.n--;
    if (++this.head === CHUNK) {
      giveChunk(this.chunks.shift()!);
      this.head = 0;
    }
    if (this.n === 0) this.reset();
    return seg;
  }

  seqAt(pos: number): number {
    return this.word(pos, 0);
  }

  slot(pos: number): Slot {
    const [c, i] = this.locate(pos);
    return { seq: c[i]!, seg: c[i + 1]!, off: c[i + 2]!, len: c[i + 3]! };
  }

  segAt(pos: number): number {
    return this.word(pos, 1);
  }

  /** Points an entry at a new copy of its record (compaction moved it). */
  move(pos: number, seg: number, off: number, len: number): void {
    const [c, i] = this.locate(pos);
    c[i + 1] = seg;
    c[i + 2] = off;
    c[i + 3] = len;
  }

  /** First position whose seq is >= seq. */
  lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.word(mid, 0) < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Position of `seq`, or -1. */
  find(seq: number): number {
    const pos = this.lowerBound(seq);
    return pos < this.n && this.word(pos, 0) === seq ? pos : -1;
  }

  /** Removes one entry (its record turned out unreadable). Rare, so O(count). */
  removeAt(pos: number): void {
    const all = this.slots();
    all.splice(pos, 1);
    this.reset();
    for (const s of all) this.push(s.seq, s.seg, s.off, s.len);
  }

  slots(): Slot[] {
    const out: Slot[] = [];
    for (let p = 0; p < this.n; p++) out.push(this.slot(p));
    return out;
  }

  private reset(): void {
    for (const c of this.chunks) giveChunk(c);
    this.chunks = [];
    this.tail = undefined;
    this.tailUsed = 0;
    this.head = 0;
    this.n = 0;
  }

  private locate(pos: number): [Uint32Array, number] {
    if (pos < 0 || pos >= this.n) throw new RangeError(`position ${pos} outside 0..${this.n - 1}`);
    const p = this.head + pos;
    if (this.chunks.length === 1) return [this.chunks[0]!, p * WORDS];
    return [this.chunks[Math.floor(p / CHUNK)]!, (p % CHUNK) * WORDS];
  }

  private word(pos: number, w: number): number {
    const [c, i] = this.locate(pos);
    return c[i + w]!;
  }
}

/**
 * Slots in no particular order, 16 bytes each: the compaction copies of a conversation met while
 * loading (they come after newer messages in the log), kept compact until they are merged.
 */
export class SlotList {
  private words = new Uint32Array(16 * WORDS);
  private n = 0;

  get count(): number {
    return this.n;
  }

  add(seq: number, seg: number, off: number, len: number): void {
    if ((this.n + 1) * WORDS > this.words.length) {
      const grown = new Uint32Array(this.words.length * 4);
      grown.set(this.words);
      this.words = grown;
    }
    const at = this.n++ * WORDS;
    this.words[at] = seq;
    this.words[at + 1] = seg;
    this.words[at + 2] = off;
    this.words[at + 3] = len;
  }

  /**
   * These slots and `index`'s as one seq-ordered list, one slot per seq (the one latest in the log:
   * a copy is newer than its original), only the newest `keep` of them.
   */
  mergedWith(index: ConvIndex, keep: number): Slot[] {
    for (let p = 0; p < index.count; p++) {
      const s = index.slot(p);
      this.add(s.seq, s.seg, s.off, s.len);
    }
    const w = this.words;
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    order.sort((a, b) => w[a * WORDS]! - w[b * WORDS]! || w[a * WORDS + 1]! - w[b * WORDS + 1]! || w[a * WORDS + 2]! - w[b * WORDS + 2]!);
    const out: Slot[] = [];
    for (let k = this.n - 1; k >= 0 && out.length < keep; k--) {
      const i = order[k]! * WORDS;
      // Sorted by (seq, segment, offset): the last of equal seqs is the latest copy.
      if (out.length > 0 && out[out.length - 1]!.seq === w[i]) continue;
      out.push({ seq: w[i]!, seg: w[i + 1]!, off: w[i + 2]!, len: w[i + 3]! });
    }
    return out.reverse();
  }
}
