// Where each retained message of one conversation lives on disk: (seq, segment, offset, length), four
// u32 words per message in chunked typed arrays. No object per message: a million retained messages
// cost 16 MB of index and nothing for the garbage collector to trace. Seqs only grow; retention drops
// from the front in O(1) and frees a whole chunk at a time, so no append ever copies a large array.
// A conversation with a handful of messages holds one small chunk that doubles as it fills.

const WORDS = 4;
const CHUNK = 1024;
const FIRST_CAPACITY = 4;

export interface Slot {
  seq: number;
  seg: number;
  off: number;
  len: number;
}

export class ConvIndex {
  /** Every chunk but the last holds exactly CHUNK entries; the last may be smaller and growing. */
  private chunks: Uint32Array[] = [];
  /** Index of the oldest entry inside chunks[0]. */
  private head = 0;
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Appends an entry whose seq is above every other one's. */
  push(seq: number, seg: number, off: number, len: number): void {
    if (this.chunks.length === 0) this.chunks.push(new Uint32Array(FIRST_CAPACITY * WORDS));
    let tail = this.chunks[this.chunks.length - 1]!;
    // Slots used in the tail chunk, counting the dead ones before `head` when it is the only one.
    let used = this.head + this.n - (this.chunks.length - 1) * CHUNK;
    if (used * WORDS === tail.length) {
      if (this.chunks.length === 1 && this.head >= this.n) {
        // Mostly dead space (a short retention): slide the live entries down instead of growing.
        tail.copyWithin(0, this.head * WORDS, used * WORDS);
        this.head = 0;
        used = this.n;
      } else if (tail.length < CHUNK * WORDS) {
        const grown = new Uint32Array(Math.min(CHUNK * WORDS, tail.length * 2));
        grown.set(tail);
        this.chunks[this.chunks.length - 1] = tail = grown;
      } else {
        this.chunks.push((tail = new Uint32Array(CHUNK * WORDS)));
        used = 0;
      }
    }
    const at = used * WORDS;
    tail[at] = seq;
    tail[at + 1] = seg;
    tail[at + 2] = off;
    tail[at + 3] = len;
    this.n++;
  }

  /** Drops the oldest entry and returns the segment it lived in (for live-byte accounting). */
  shift(): number {
    const seg = this.word(0, 1);
    this.n--;
    if (++this.head === CHUNK) {
      this.chunks.shift();
      this.head = 0;
    }
    if (this.n === 0) {
      this.chunks = [];
      this.head = 0;
    }
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
    this.chunks = [];
    this.head = 0;
    this.n = 0;
    for (const s of all) this.push(s.seq, s.seg, s.off, s.len);
  }

  slots(): Slot[] {
    const out: Slot[] = [];
    for (let p = 0; p < this.n; p++) out.push(this.slot(p));
    return out;
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
