// The file store's search index on disk: `search.snapshot`, the frozen part of the word index
// (search-index.ts, search-postings.ts) with the documents it refers to, written by each freeze (when a
// segment is sealed, at a clean close, at a retention sweep) and saying which log position it covers.
// Opening reads the documents and the word table, checks the whole file, and from then on reads a
// word's postings from the file when a search needs them; it indexes only the messages written after
// the covered position (after a crash: at most the segments since the last seal), so a restart never
// reads the whole log for search. Without a snapshot that can be trusted (none, damaged, or its
// position is in a segment compaction has deleted since) the index is rebuilt from every segment once
// and frozen at once.
//
// A snapshot is a shortcut, like a sidecar: written to a temp file and renamed, without fsync; a torn
// or stale one only costs a longer start. One whole-index file instead of one per segment because
// compaction moves retained messages between segments, while a message's place in the index (its
// original position, which orders results) must not move with it. The open file is kept for reading
// after the rename, so a search never sees a half-written successor.
//
// Layout (little-endian): "PSRCH2\n\0", f64 covered position, u32 conversations then each as u32 byte
// length + UTF-8, u32 documents then f64 keys[], u32 seqs[], u32 conversation[]; at P every word's
// documents one after the other (u32, ascending per word); at T u32 words then u32 hash[] (ascending)
// and u32 count[]; then f64 P, f64 T and a u32 CRC-32 of everything before it.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { searchTerms } from '../../protocol/search-terms.js';
import { crc32 } from './crc32.js';
import { HEADER_BYTES, scanRecords } from './log-format.js';
import { segmentName } from './log-writer.js';
import { decodeRecord } from './record-codec.js';
import type { IndexDocs, SearchIndex } from './search-index.js';
import { appendTo, FrozenPostings, WordTable, type PostingsSink } from './search-postings.js';
import type { ConvKey } from './store.js';

export const SEARCH_FILE = 'search.snapshot';
/** Typed arrays use the host's byte order; where it is little-endian (as the file) they are copied whole. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const MAGIC = Buffer.from('PSRCH2\n\0', 'latin1');
const TRAILER = 20;
/** The smallest file: magic, covered, no conversations, no documents, no words, trailer. */
const MIN_SIZE = MAGIC.length + 8 + 4 + 4 + 4 + TRAILER;
/** Bytes written or checked per system call. */
const CHUNK = 1 << 20;
/** Postings read ahead of a small request: a freeze and a search's blocks read neighbouring words. */
const WINDOW_IDS = 16384;
/** Positions are segment * 2^32 + byte offset, as the file store's inbox order (segments stay below 4 GiB). */
export const SEG_SPAN = 2 ** 32;

/** Writes a snapshot as a freeze merges: header and documents first, then words as they come. */
export class SnapshotSink implements PostingsSink {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly out = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private pos = 0;
  private crc = 0;
  private postingsAt = 0;
  private hashes: Uint32Array = new Uint32Array(1024);
  private counts: Uint32Array = new Uint32Array(1024);
  private nWords = 0;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly covered: number,
    private readonly docs: IndexDocs,
  ) {
    this.tmp = `${file}.tmp`;
    this.fd = fs.openSync(this.tmp, 'w+');
  }

  *start(slice: number): Generator<void, void> {
    try {
      const docs = this.docs;
      this.put(MAGIC);
      this.f64(this.covered);
      this.u32(docs.convs.length);
      for (const c of docs.convs) {
        const b = Buffer.from(c, 'utf8');
        this.u32(b.length);
        this.put(b);
      }
      this.u32(docs.keys.length);
      for (const a of [docs.keys, docs.seqs, docs.convOf]) yield* this.putInSlices(bytesOf(a), slice);
      this.postingsAt = this.pos + this.used;
    } catch (err) {
      this.abandon();
      throw err;
    }
  }

  words(hashes: Uint32Array, counts: Uint32Array): void {
    this.hashes = appendTo(this.hashes, this.nWords, hashes);
    this.counts = appendTo(this.counts, this.nWords, counts);
    this.nWords += hashes.length;
  }

  ids(ids: Uint32Array): void {
    this.put(bytesOf(ids));
  }

  *finish(slice: number): Generator<void, FrozenPostings> {
    try {
      const tableAt = this.pos + this.used;
      const hashes = this.hashes.slice(0, this.nWords);
      const counts = this.counts.slice(0, this.nWords);
      this.u32(this.nWords);
      yield* this.putInSlices(bytesOf(hashes), slice);
      yield* this.putInSlices(bytesOf(counts), slice);
      this.f64(this.postingsAt);
      this.f64(tableAt);
      this.flush();
      const crc = Buffer.allocUnsafe(4);
      crc.writeUInt32LE(this.crc);
      writeAll(this.fd, crc, this.pos);
      fs.renameSync(this.tmp, this.file);
      this.closed = true;
      return new FilePostings(this.fd, this.docs.keys.length, WordTable.fromCounts(hashes, counts), this.postingsAt);
    } catch (err) {
      this.abandon();
      throw err;
    }
  }

  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fs.closeSync(this.fd);
      fs.rmSync(this.tmp, { force: true });
    } catch {
      // Already failing: the temp file is overwritten by the next freeze.
    }
  }

  /** `bytes` a slice of `slice` ids (4 bytes each) at a time, yielding after each. */
  private *putInSlices(bytes: Uint8Array, slice: number): Generator<void, void> {
    const step = Math.min(bytes.length, slice * 4);
    for (let p = 0; p < bytes.length; p += step) {
      this.put(bytes.subarray(p, p + step));
      if (p + step < bytes.length) yield;
    }
  }

  private put(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.out.length) this.flush();
    if (bytes.length >= this.out.length) {
      this.crc = crc32(bytes, 0, bytes.length, this.crc);
      writeAll(this.fd, bytes, this.pos);
      this.pos += bytes.length;
      return;
    }
    this.out.set(bytes, this.used);
    this.used += bytes.length;
  }

  private flush(): void {
    if (this.used === 0) return;
    this.crc = crc32(this.out, 0, this.used, this.crc);
    writeAll(this.fd, this.out.subarray(0, this.used), this.pos);
    this.pos += this.used;
    this.used = 0;
  }

  private u32(v: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(v);
    this.put(b);
  }

  private f64(v: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(v);
    this.put(b);
  }
}

/** Frozen postings read from an open snapshot, a window at a time. */
class FilePostings extends FrozenPostings {
  private window = new Uint32Array(0);
  private windowAt = 0;
  private open = true;

  constructor(
    private readonly fd: number,
    docs: number,
    table: WordTable,
    private readonly postingsAt: number,
  ) {
    super(docs, table);
  }

  readFlat(from: number, to: number): Uint32Array {
    const n = to - from;
    if (from >= this.windowAt && to <= this.windowAt + this.window.length) return this.window.subarray(from - this.windowAt, to - this.windowAt);
    if (!this.open) throw new Error(`${SEARCH_FILE} is closed`);
    const total = this.table.starts[this.table.words]!;
    // A new array each time: views handed out earlier stay valid.
    const ids = new Uint32Array(Math.max(n, Math.min(WINDOW_IDS, total - from)));
    readAll(this.fd, new Uint8Array(ids.buffer), this.postingsAt + from * 4);
    if (!LITTLE_ENDIAN) swapInPlace(ids);
    this.window = ids;
    this.windowAt = from;
    return ids.subarray(0, n);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    fs.closeSync(this.fd);
  }
}

export interface Snapshot {
  docs: IndexDocs;
  postings: FrozenPostings;
  covered: number;
}

/**
 * Opens a snapshot: the whole file is checked (CRC, then every count against what is there and every
 * posting against the documents), the documents and the word table are read, the postings stay in
 * the file. A string says why it cannot be used.
 */
export function openSnapshot(file: string): Snapshot | string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return 'none';
  }
  let ok = false;
  try {
    const snap = readSnapshot(fd);
    ok = typeof snap !== 'string';
    return snap;
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  } finally {
    if (!ok) fs.closeSync(fd);
  }
}

function readSnapshot(fd: number): Snapshot | string {
  const size = fs.fstatSync(fd).size;
  const magic = Buffer.alloc(MAGIC.length);
  if (size >= MAGIC.length) readAll(fd, magic, 0);
  if (size < MIN_SIZE || !magic.equals(MAGIC)) return 'not a search index';
  const end = size - 4;
  const chunk = Buffer.allocUnsafe(CHUNK);
  let crc = 0;
  for (let p = 0; p < end; p += CHUNK) {
    const n = Math.min(CHUNK, end - p);
    readAll(fd, chunk.subarray(0, n), p);
    crc = crc32(chunk, 0, n, crc);
  }
  const trailer = Buffer.allocUnsafe(TRAILER);
  readAll(fd, trailer, size - TRAILER);
  if (crc !== trailer.readUInt32LE(16)) return 'checksum mismatch';
  const postingsAt = trailer.readDoubleLE(0);
  const tableAt = trailer.readDoubleLE(8);
  const tableEnd = size - TRAILER;
  if (!(postingsAt >= MAGIC.length + 16 && postingsAt <= tableAt && tableAt + 4 <= tableEnd) || (tableAt - postingsAt) % 4 !== 0) return 'truncated';

  // The conversations: usually within the first chunk; the whole head only when they are not.
  let head = chunk.subarray(0, Math.min(CHUNK, postingsAt));
  readAll(fd, head, 0);
  let convs = readConvs(head);
  if (convs === undefined && head.length < postingsAt) {
    head = Buffer.allocUnsafe(postingsAt);
    readAll(fd, head, 0);
    convs = readConvs(head);
  }
  if (convs === undefined) return 'truncated';
  const { names, docsAt } = convs;
  const n = head.readUInt32LE(docsAt);
  let p = docsAt + 4;
  if (p + n * 16 !== postingsAt) return 'truncated';
  // Straight into their arrays: no copy of the documents' 16 bytes each.
  const keys = new Float64Array(n);
  const seqs = new Uint32Array(n);
  const convOf = new Uint32Array(n);
  for (const a of [keys, seqs, convOf]) {
    readAll(fd, new Uint8Array(a.buffer), p);
    p += a.byteLength;
    if (!LITTLE_ENDIAN) swapInPlace(a);
  }
  for (let i = 0; i < n; i++) {
    if (convOf[i]! >= names.length) return 'document of an unknown conversation';
    if (i > 0 && keys[i]! <= keys[i - 1]!) return 'documents out of order';
  }

  const table = Buffer.allocUnsafe(tableEnd - tableAt);
  readAll(fd, table, tableAt);
  const nWords = table.readUInt32LE(0);
  if (table.length !== 4 + nWords * 8) return 'truncated';
  const hashes = getU32s(table, 4, nWords);
  const counts = getU32s(table, 4 + nWords * 4, nWords);
  let total = 0;
  for (let w = 0; w < nWords; w++) {
    if (counts[w] === 0 || (w > 0 && hashes[w]! <= hashes[w - 1]!)) return 'words out of order';
    total += counts[w]!;
  }
  if (total * 4 !== tableAt - postingsAt) return 'truncated';
  // Every posting names a document, ascending within its word: checked once here, in one pass over
  // the postings, and trusted after.
  const ids = new Uint32Array(CHUNK / 4);
  let w = 0;
  let left = nWords > 0 ? counts[0]! : 0;
  let prev = -1;
  for (let at = 0; at < total; at += ids.length) {
    const got = Math.min(ids.length, total - at);
    readAll(fd, new Uint8Array(ids.buffer, 0, got * 4), postingsAt + at * 4);
    if (!LITTLE_ENDIAN) swapInPlace(ids);
    for (let i = 0; i < got; i++) {
      const d = ids[i]!;
      if (d >= n || d <= prev) return 'postings out of range or order';
      prev = d;
      if (--left === 0 && ++w < nWords) {
        left = counts[w]!;
        prev = -1;
      }
    }
  }
  return { docs: { convs: names, keys, seqs, convOf }, postings: new FilePostings(fd, n, WordTable.fromCounts(hashes, counts), postingsAt), covered: head.readDoubleLE(MAGIC.length) };
}

/** The conversation names after magic and covered position, and where the documents start; undefined when cut off. */
function readConvs(head: Buffer): { names: ConvKey[]; docsAt: number } | undefined {
  let p = MAGIC.length + 8;
  const need = (bytes: number): boolean => p + bytes <= head.length;
  if (!need(4)) return undefined;
  const count = head.readUInt32LE(p);
  p += 4;
  const names: ConvKey[] = [];
  for (let i = 0; i < count; i++) {
    if (!need(4)) return undefined;
    const len = head.readUInt32LE(p);
    p += 4;
    if (!need(len)) return undefined;
    names.push(head.toString('utf8', p, p + len));
    p += len;
  }
  return need(4) ? { names, docsAt: p } : undefined;
}

export interface LoadSearchOptions {
  dir: string;
  /** The segment ids present, ascending. */
  segments: readonly number[];
  /** Where the store holds this message now (segment * SEG_SPAN + offset), undefined when it does not. */
  placeOf: (conv: ConvKey, seq: number) => number | undefined;
  log: (line: string) => void;
}

/**
 * Fills `index` from the snapshot and the log written after it, or from the whole log when the
 * snapshot cannot be used. Runs after the store has loaded its own index (placeOf() must work).
 */
export function loadSearchIndex(index: SearchIndex, opts: LoadSearchOptions): void {
  const { dir, segments } = opts;
  let from: { seg: number; off: number } | undefined;
  const snap = openSnapshot(join(dir, SEARCH_FILE));
  // None: a new directory, or one from before search; rebuilt below without a word.
  if (snap !== 'none') {
    if (typeof snap === 'string') opts.log(`store: ${SEARCH_FILE}: ${snap}; rebuilding the search index`);
    else {
      const seg = Math.floor(snap.covered / SEG_SPAN);
      const off = snap.covered - seg * SEG_SPAN;
      // Compaction deletes only the oldest segments: when the covered one is still here, every record
      // after the covered position is too. When it is gone, messages written after the snapshot may
      // survive only as compaction copies, which the tail below does not index: rebuild instead.
      const size = segments.includes(seg) ? fs.statSync(join(dir, segmentName(seg))).size : -1;
      if (size >= off || (segments.length === 0 && snap.covered === 0)) {
        index.restore(snap.docs, snap.postings);
        from = { seg, off };
      } else {
        snap.postings.close();
        opts.log(`store: ${SEARCH_FILE} covers a part of the log that is gone; rebuilding the search index`);
      }
    }
  }
  indexLog(index, opts, from);
  // A rebuild held every posting in the heap: freeze them to the file now, not at the next seal.
  if (from === undefined && index.size > 0) index.freeze();
}

/**
 * Indexes the message records after `from` (everything when undefined). After a snapshot only
 * originals (`M`) are indexed: a compaction copy (`H`) is of a message indexed already, in the snapshot
 * or as its original in this tail. A rebuild from the whole log also takes the copies whose original
 * is gone: a conversation's originals still present form one run of seqs, and a copy of a seq below the
 * first of them seen so far has no original left.
 */
function indexLog(index: SearchIndex, opts: LoadSearchOptions, from: { seg: number; off: number } | undefined): void {
  const firstOriginal = new Map<ConvKey, number>();
  for (const seg of opts.segments) {
    if (from && seg < from.seg) continue;
    const start = from && seg === from.seg ? from.off : 0;
    const file = join(opts.dir, segmentName(seg));
    const bytes = readFrom(file, start);
    scanRecords(bytes, (b, at, len) => {
      const p = at + HEADER_BYTES;
      // Cheap test before parsing: message records begin {"t":"M" or {"t":"H" (v1: m, h).
      const t = b[p + 6];
      if (t !== 0x4d && t !== 0x48 && t !== 0x6d && t !== 0x68) return;
      const rec = decodeRecord(b.toString('utf8', p, p + len));
      if (!rec || (rec.t !== 'M' && rec.t !== 'H')) return;
      const seq = rec.msg.seq;
      const here = seg * SEG_SPAN + start + at;
      if (rec.t === 'M' && !firstOriginal.has(rec.conv)) firstOriginal.set(rec.conv, seq);
      const place = opts.placeOf(rec.conv, seq);
      // Only retained messages are indexed (place is undefined for one that aged out).
      if (place === undefined) return;
      if (rec.t === 'H') {
        // A copy counts only where the store holds the message now, so copies of copies count once.
        const first = firstOriginal.get(rec.conv);
        if (from || (first !== undefined && seq >= first) || place !== here) return;
      }
      index.add(rec.conv, seq, here, searchTerms(rec.msg.text));
    });
  }
}

function readFrom(file: string, start: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(Math.max(0, size - start));
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

function bytesOf(a: Uint32Array | Float64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const b = Buffer.allocUnsafe(a.byteLength);
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float64Array) b.writeDoubleLE(a[i]!, i * 8);
    else b.writeUInt32LE(a[i]!, i * 4);
  }
  return b;
}

/** Little-endian file bytes read into a typed array on a big-endian host: into host order. */
function swapInPlace(a: Uint32Array | Float64Array): void {
  const v = new DataView(a.buffer, a.byteOffset, a.byteLength);
  if (a instanceof Float64Array) for (let i = 0; i < a.length; i++) a[i] = v.getFloat64(i * 8, true);
  else for (let i = 0; i < a.length; i++) a[i] = v.getUint32(i * 4, true);
}

/** `count` u32 from `p` (bounds checked by the caller), copied: the buffer need not be aligned. */
function getU32s(buf: Buffer, p: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(buf.subarray(p, p + count * 4));
  else for (let i = 0; i < count; i++) out[i] = buf.readUInt32LE(p + i * 4);
  return out;
}

function writeAll(fd: number, bytes: Uint8Array, at: number): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done, at + done);
}

function readAll(fd: number, into: Uint8Array, at: number): void {
  for (let got = 0; got < into.length; ) {
    const n = fs.readSync(fd, into, got, into.length - got, at + got);
    if (n === 0) throw new Error('file ends early');
    got += n;
  }
}
