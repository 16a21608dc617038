// The file store's search index on disk: `search.snapshot`, a snapshot of the whole index (search-index.ts)
// taken when a segment is sealed and at a clean close, saying which log position it covers. Opening
// loads it and indexes only the messages written after that position (after a crash: at most the
// segments since the last seal), so a restart never reads the whole log for search. Without a
// snapshot that can be trusted (none, damaged, or its position is in a segment compaction has deleted
// since) the index is rebuilt from every segment once, and the next snapshot makes that the last time.
//
// A snapshot is a shortcut, like a sidecar: written to a temp file and renamed, without fsync; a torn
// or stale one only costs a longer start. One whole-index file instead of one per segment because
// compaction moves retained messages between segments, while a message's place in the index (its
// original position, which orders results) must not move with it.
//
// Layout (little-endian): "PSRCH1\n\0", f64 covered position, u32 conversations then each as u32
// byte length + UTF-8, u32 documents then f64 keys[], f64 seqs[], u32 conversation[], u32 words then
// u32 hash[], u32 count[], then every word's documents one after the other (u32), and a u32 CRC-32 of
// everything before it. Loading puts all documents lists in one array (a typed array per word would
// cost an allocation each, which dominated loading a million messages).
import * as fs from 'node:fs';
import { join } from 'node:path';
import { searchTerms } from '../../protocol/search-terms.js';
import { crc32 } from './crc32.js';
import { HEADER_BYTES, scanRecords } from './log-format.js';
import { segmentName } from './log-writer.js';
import { decodeRecord } from './record-codec.js';
import type { IndexState, SearchIndex } from './search-index.js';
import type { ConvKey } from './store.js';
import { writeFileAtomic } from './atomic-file.js';

export const SEARCH_FILE = 'search.snapshot';
/** Typed arrays use the host's byte order; where it is little-endian (as the file) they are copied whole. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const MAGIC = Buffer.from('PSRCH1\n\0', 'latin1');
/** Positions are segment * 2^32 + byte offset, as the file store's inbox order (segments stay below 4 GiB). */
export const SEG_SPAN = 2 ** 32;

export function encodeSnapshot(s: IndexState, covered: number): Buffer {
  const convs = s.convs.map((c) => Buffer.from(c, 'utf8'));
  let size = MAGIC.length + 8 + 4 + 4 + 4 + 4;
  for (const c of convs) size += 4 + c.length;
  size += s.keys.length * 20;
  for (const ids of s.postings.values()) size += 8 + (typeof ids === 'number' ? 4 : ids.length * 4);
  const buf = Buffer.allocUnsafe(size);
  let p = MAGIC.copy(buf, 0);
  p = buf.writeDoubleLE(covered, p);
  p = buf.writeUInt32LE(convs.length, p);
  for (const c of convs) {
    p = buf.writeUInt32LE(c.length, p);
    p += c.copy(buf, p);
  }
  p = buf.writeUInt32LE(s.keys.length, p);
  p = putF64s(buf, p, s.keys);
  p = putF64s(buf, p, s.seqs);
  p = putU32s(buf, p, s.convOf);
  const words = s.postings.size;
  const hashes = new Uint32Array(words);
  const counts = new Uint32Array(words);
  let total = 0;
  let w = 0;
  for (const [h, ids] of s.postings) {
    hashes[w] = h;
    counts[w] = typeof ids === 'number' ? 1 : ids.length;
    total += counts[w++]!;
  }
  const flat = new Uint32Array(total);
  let at = 0;
  for (const ids of s.postings.values()) {
    if (typeof ids === 'number') flat[at++] = ids;
    else {
      flat.set(ids, at);
      at += ids.length;
    }
  }
  p = buf.writeUInt32LE(words, p);
  p = putU32s(buf, p, hashes);
  p = putU32s(buf, p, counts);
  p = putU32s(buf, p, flat);
  buf.writeUInt32LE(crc32(buf, 0, p), p);
  return buf;
}

/** The snapshot in `buf`, or why it cannot be used. Every count is checked against what is left. */
export function decodeSnapshot(buf: Buffer): { state: IndexState; covered: number } | string {
  if (buf.length < MAGIC.length + 28 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return 'not a search index';
  const end = buf.length - 4;
  if (crc32(buf, 0, end) !== buf.readUInt32LE(end)) return 'checksum mismatch';
  let p = MAGIC.length;
  const need = (bytes: number): boolean => p + bytes <= end;
  const covered = buf.readDoubleLE(p);
  p += 8;
  const nConvs = buf.readUInt32LE(p);
  p += 4;
  const convs: ConvKey[] = [];
  for (let i = 0; i < nConvs; i++) {
    if (!need(4)) return 'truncated';
    const len = buf.readUInt32LE(p);
    p += 4;
    if (!need(len)) return 'truncated';
    convs.push(buf.toString('utf8', p, p + len));
    p += len;
  }
  if (!need(4)) return 'truncated';
  const n = buf.readUInt32LE(p);
  p += 4;
  if (!need(n * 20 + 4)) return 'truncated';
  const keys = getF64s(buf, p, n);
  const seqs = getF64s(buf, (p += n * 8), n);
  const convOf = getU32s(buf, (p += n * 8), n);
  p += n * 4;
  for (let i = 0; i < n; i++) {
    if (convOf[i]! >= nConvs) return 'document of an unknown conversation';
    if (i > 0 && keys[i]! <= keys[i - 1]!) return 'documents out of order';
  }
  const nWords = buf.readUInt32LE(p);
  p += 4;
  if (!need(nWords * 8)) return 'truncated';
  const hashes = getU32s(buf, p, nWords);
  const counts = getU32s(buf, p + nWords * 4, nWords);
  p += nWords * 8;
  if ((end - p) % 4 !== 0) return 'truncated';
  // Every word's documents, in one array; each word gets a view of its part (checked first).
  const all = getU32s(buf, p, (end - p) / 4);
  let used = 0;
  const postings = new Map<number, number | Uint32Array>();
  for (let w = 0; w < nWords; w++) {
    const count = counts[w]!;
    if (count === 0 || used + count > all.length) return 'truncated';
    for (let i = used; i < used + count; i++) if (all[i]! >= n || (i > used && all[i]! <= all[i - 1]!)) return 'postings out of range or order';
    postings.set(hashes[w]!, count === 1 ? all[used]! : all.subarray(used, used + count));
    used += count;
  }
  if (used !== all.length) return 'trailing bytes';
  return { state: { convs, keys, seqs, convOf, postings }, covered };
}

function putU32s(buf: Buffer, p: number, a: Uint32Array): number {
  if (LITTLE_ENDIAN) buf.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), p);
  else for (let i = 0; i < a.length; i++) buf.writeUInt32LE(a[i]!, p + i * 4);
  return p + a.length * 4;
}

function putF64s(buf: Buffer, p: number, a: Float64Array): number {
  if (LITTLE_ENDIAN) buf.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), p);
  else for (let i = 0; i < a.length; i++) buf.writeDoubleLE(a[i]!, p + i * 8);
  return p + a.length * 8;
}

/** `count` u32 from `p` (bounds checked by the caller), copied: the buffer need not be aligned. */
function getU32s(buf: Buffer, p: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(buf.subarray(p, p + count * 4));
  else for (let i = 0; i < count; i++) out[i] = buf.readUInt32LE(p + i * 4);
  return out;
}

function getF64s(buf: Buffer, p: number, count: number): Float64Array {
  const out = new Float64Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(buf.subarray(p, p + count * 8));
  else for (let i = 0; i < count; i++) out[i] = buf.readDoubleLE(p + i * 8);
  return out;
}

/** Writes a snapshot beside the segments: synchronously at close, else in the background (`done` after). */
export function writeSnapshot(dir: string, bytes: Buffer, sync: boolean, fail: (err: Error) => void, done: () => void = () => {}): void {
  writeFileAtomic(join(dir, SEARCH_FILE), bytes, sync, fail, done);
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
  let buf: Buffer | undefined;
  try {
    buf = fs.readFileSync(join(dir, SEARCH_FILE));
  } catch {
    // No snapshot yet (a new directory, or one from before search): rebuilt below.
  }
  if (buf) {
    const snap = decodeSnapshot(buf);
    if (typeof snap === 'string') opts.log(`store: ${SEARCH_FILE}: ${snap}; rebuilding the search index`);
    else {
      const seg = Math.floor(snap.covered / SEG_SPAN);
      const off = snap.covered - seg * SEG_SPAN;
      // Compaction deletes only the oldest segments: when the covered one is still here, every record
      // after the covered position is too. When it is gone, messages written after the snapshot may
      // survive only as compaction copies, which the tail below does not index: rebuild instead.
      const size = segments.includes(seg) ? fs.statSync(join(dir, segmentName(seg))).size : -1;
      if (size >= off || (segments.length === 0 && snap.covered === 0)) {
        index.restore(snap.state);
        from = { seg, off };
      } else opts.log(`store: ${SEARCH_FILE} covers a part of the log that is gone; rebuilding the search index`);
    }
  }
  if (from === undefined) index.restore({ convs: [], keys: new Float64Array(0), seqs: new Float64Array(0), convOf: new Uint32Array(0), postings: new Map() });
  indexLog(index, opts, from);
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
