// The sidecar of a segment file (`0000000007.idx` beside `0000000007.log`): the segment's records as
// the index needs them — kind, conversation, seq, position, inbox user; users; delivery markers —
// without the message bodies, in log order, in compact binary. Startup replays sidecars instead of
// reading and parsing hundreds of megabytes of records. A sidecar is only ever a shortcut: when it is
// missing, unreadable, or does not match its segment, the segment is scanned instead (and a new
// sidecar written), so it needs no fsync; its own CRC and the checks below catch a torn or stale one.
//
// Written when a segment is sealed (covering all of it) and at a clean close for the segment being
// written (a checkpoint covering what was durable; the loader scans only what follows it).
// Checked against the segment: its size must reach `covered`, and the CRC stored in the frame of the
// last covered record must match, so a segment replaced by another file of the same size is noticed.
//
// Layout: little-endian u32 words throughout (the body is read through one Uint32Array: replaying a
// million entries field by field with readUInt32LE cost more than everything else at startup).
//   word 0 'PLX2'  1 version  2 flags (1 = sealed)  3 segment  4 covered bytes  5 records
//   6 last record offset (~0 = none)  7 last record CRC  8 string count  9 string bytes (a multiple
//   of 4)  10 body words  11 summary count; then the strings (u16 length + UTF-8 each, zero-padded to
//   a word), the body, the summaries, and a CRC-32 of all before it.
// Body entries (kind, then fields; strings by table index):
//   1 M conv seq off len inbox+1 | 2 H conv seq off len | 3 U name lastSeen
//   4 D user n (conv seq)*n | 5 I user conv seq order/2^32 order%2^32
// Summaries: the newest message (M or H) of each conversation in this segment: conv seq ts room+1 —
// the room's spelling and the ts the next message may not go below.
import { crc32 } from './crc32.js';
import type { ConvKey, MessageRef } from './store.js';

const MAGIC = 0x3258_4c50; // 'PLX2' little endian
const VERSION = 2;
const HEADER_WORDS = 12;
const HEADER = HEADER_WORDS * 4;
const NONE = 0xffffffff;
const K_M = 1;
const K_H = 2;
const K_U = 3;
const K_D = 4;
const K_I = 5;
const MAX_STRING = 0xffff;
/** Uint32Array reads the host's byte order; the format is little endian (big-endian hosts scan). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function sidecarName(seg: number): string {
  return `${String(seg).padStart(10, '0')}.idx`;
}

export function parseSidecarName(file: string): number | undefined {
  const m = /^(\d{1,10})\.idx$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

export interface Summary {
  conv: ConvKey;
  seq: number;
  ts: string;
  room: string | undefined;
}

/** The events of one segment, in log order, as both a sidecar and a scan deliver them. */
export interface SegmentSink {
  message(t: 'M' | 'H', conv: ConvKey, seq: number, off: number, len: number, inbox: string | undefined): void;
  user(name: string, lastSeen: string): void;
  delivered(user: string, refs: MessageRef[]): void;
  inboxCopy(user: string, conv: ConvKey, seq: number, order: number): void;
}

export interface Sidecar {
  seg: number;
  sealed: boolean;
  covered: number;
  records: number;
  /** Offset of the last covered record's frame, or -1 when it covers nothing. */
  lastOff: number;
  lastCrc: number;
  strings: string[];
  body: Uint32Array;
  summaries: Summary[];
}

/** Accumulates a segment's sidecar as its records become durable (or are scanned). */
export class SidecarBuilder {
  records = 0;
  covered = 0;
  lastOff = -1;
  lastCrc = 0;
  private readonly index = new Map<string, number>();
  private readonly strings: string[] = [];
  private body = new Uint32Array(1024);
  private used = 0;
  private readonly summaries = new Map<ConvKey, Summary>();
  /** A string too long for the format: this sidecar is not written, the segment will be scanned. */
  private unencodable = !LITTLE_ENDIAN;

  constructor(readonly seg: number) {}

  /** Continues a checkpoint sidecar of the segment being written. */
  static adopt(sc: Sidecar): SidecarBuilder {
    const b = new SidecarBuilder(sc.seg);
    b.records = sc.records;
    b.covered = sc.covered;
    b.lastOff = sc.lastOff;
    b.lastCrc = sc.lastCrc;
    for (const s of sc.strings) b.str(s);
    b.ensure(sc.body.length);
    b.body.set(sc.body);
    b.used = sc.body.length;
    for (const s of sc.summaries) b.summaries.set(s.conv, s);
    return b;
  }

  /** Every valid record, of any kind, counts (the denominator of compaction's "mostly dead"). */
  record(off: number, len: number, crc: number): void {
    this.records++;
    if (off + len > this.covered) {
      this.covered = off + len;
      this.lastOff = off;
      this.lastCrc = crc;
    }
  }

  message(t: 'M' | 'H', conv: ConvKey, seq: number, off: number, len: number, inbox: string | undefined, ts: string, room: string | undefined): void {
    this.ensure(6);
    const w = this.body;
    let u = this.used;
    w[u++] = t === 'M' ? K_M : K_H;
    w[u++] = this.str(conv);
    w[u++] = seq;
    w[u++] = off;
    w[u++] = len;
    if (t === 'M') w[u++] = inbox === undefined ? 0 : this.str(inbox) + 1;
    this.used = u;
    // Copies count too: a quiet room whose only messages are copies still has a name.
    const prev = this.summaries.get(conv);
    if (!prev || seq > prev.seq) this.summaries.set(conv, { conv, seq, ts, room });
  }

  user(name: string, lastSeen: string): void {
    this.words(K_U, this.str(name), this.str(lastSeen));
  }

  delivered(user: string, refs: readonly MessageRef[]): void {
    this.words(K_D, this.str(user), refs.length);
    for (const r of refs) this.words(this.str(r.conv), r.seq);
  }

  inboxCopy(user: string, conv: ConvKey, seq: number, order: number): void {
    this.words(K_I, this.str(user), this.str(conv), seq, Math.floor(order / 2 ** 32), order % 2 ** 32);
  }

  /** The file's bytes, or undefined when this segment cannot have a sidecar. */
  encode(sealed: boolean): Buffer | undefined {
    if (this.unencodable) return undefined;
    // Summaries may name strings (ts, room) not yet in the table: add them before laying it out.
    const sums = [...this.summaries.values()].map((s) => [this.index.get(s.conv)!, s.seq, this.str(s.ts), s.room === undefined ? 0 : this.str(s.room) + 1]);
    if (this.unencodable) return undefined;
    const strs = this.strings.map((s) => Buffer.from(s, 'utf8'));
    const stringBytes = align(strs.reduce((n, s) => n + 2 + s.length, 0));
    const total = HEADER + stringBytes + 4 * (this.used + 4 * sums.length) + 4;
    const out = Buffer.alloc(total);
    const header = [MAGIC, VERSION, sealed ? 1 : 0, this.seg, this.covered, this.records, this.lastOff < 0 ? NONE : this.lastOff, this.lastCrc, strs.length, stringBytes, this.used, sums.length];
    header.forEach((v, i) => out.writeUInt32LE(v >>> 0, 4 * i));
    let p = HEADER;
    for (const s of strs) {
      out.writeUInt16LE(s.length, p);
      s.copy(out, p + 2);
      p += 2 + s.length;
    }
    p = HEADER + stringBytes;
    Buffer.from(this.body.buffer, this.body.byteOffset, this.used * 4).copy(out, p);
    p += this.used * 4;
    for (const sum of sums) for (const v of sum) p = out.writeUInt32LE(v!, p);
    out.writeUInt32LE(crc32(out, 0, p), p);
    return out;
  }

  private words(...vs: number[]): void {
    this.ensure(vs.length);
    for (const v of vs) this.body[this.used++] = v;
  }

  private str(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      if (Buffer.byteLength(s) > MAX_STRING) this.unencodable = true;
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }

  private ensure(n: number): void {
    if (this.used + n <= this.body.length) return;
    let size = this.body.length * 2;
    while (size < this.used + n) size *= 2;
    const grown = new Uint32Array(size);
    grown.set(this.body.subarray(0, this.used));
    this.body = grown;
  }
}

function align(n: number): number {
  return (n + 3) & ~3;
}

/** Parses and checks a sidecar file; a string says why it cannot be used. */
export function parseSidecar(file: Buffer, seg: number): Sidecar | string {
  if (!LITTLE_ENDIAN) return 'big-endian host';
  if (file.length < 8 || file.readUInt32LE(0) !== MAGIC) return 'not a sidecar';
  const version = file.readUInt32LE(4) & 0xff;
  if (version !== VERSION) return `version ${version}`;
  if (file.length < HEADER + 4 || file.length % 4 !== 0) return 'bad length';
  // One word-aligned copy if the file's bytes do not start on a word boundary.
  const buf = file.byteOffset % 4 === 0 ? file : Buffer.from(file);
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const end = buf.length - 4;
  if (crc32(buf, 0, end) !== buf.readUInt32LE(end)) return 'bad CRC';
  if (words[3] !== seg) return 'wrong segment';
  const count = words[8]!;
  const stringBytes = words[9]!;
  const bodyWords = words[10]!;
  const sumCount = words[11]!;
  // Every length is checked against the file before it is trusted.
  if (stringBytes % 4 !== 0 || HEADER + stringBytes + 4 * (bodyWords + 4 * sumCount) !== end || count * 2 > stringBytes) return 'bad lengths';
  const strings: string[] = [];
  let p = HEADER;
  const stringsEnd = HEADER + stringBytes;
  for (let i = 0; i < count; i++) {
    if (p + 2 > stringsEnd) return 'bad string table';
    const len = buf.readUInt16LE(p);
    if (p + 2 + len > stringsEnd) return 'bad string table';
    strings.push(buf.toString('utf8', p + 2, p + 2 + len));
    p += 2 + len;
  }
  if (align(p) !== stringsEnd) return 'bad string table';
  const bodyAt = stringsEnd / 4;
  // The body is checked entry by entry as it is replayed (replaySidecar), not walked twice.
  const body = words.subarray(bodyAt, bodyAt + bodyWords);
  const summaries: Summary[] = [];
  for (let i = 0, w = bodyAt + bodyWords; i < sumCount; i++, w += 4) {
    const conv = strings[words[w]!];
    const ts = strings[words[w + 2]!];
    const room = words[w + 3]!;
    if (conv === undefined || ts === undefined || room > strings.length) return 'bad summary';
    summaries.push({ conv, seq: words[w + 1]!, ts, room: room === 0 ? undefined : strings[room - 1] });
  }
  return {
    seg,
    sealed: (words[2]! & 1) === 1,
    covered: words[4]!,
    records: words[5]!,
    lastOff: words[6] === NONE ? -1 : words[6]!,
    lastCrc: words[7]!,
    strings,
    body,
    summaries,
  };
}

/**
 * Replays a parsed sidecar's entries into `sink`, in log order, checking every index and length on the
 * way. A string says why it stopped: the CRC matched, so only a bug could make that happen, and the
 * caller must then forget what was replayed (the store reloads without this sidecar).
 */
export function replaySidecar(sc: Sidecar, sink: SegmentSink): string | undefined {
  const w = sc.body;
  const strings = sc.strings;
  const n = w.length;
  let p = 0;
  while (p < n) {
    const kind = w[p]!;
    switch (kind) {
      case K_M:
      case K_H: {
        const size = kind === K_M ? 6 : 5;
        if (p + size > n) return 'truncated entry';
        const conv = strings[w[p + 1]!];
        const inboxIx = kind === K_M ? w[p + 5]! : 0;
        if (conv === undefined || inboxIx > strings.length) return 'bad string index';
        sink.message(kind === K_M ? 'M' : 'H', conv, w[p + 2]!, w[p + 3]!, w[p + 4]!, inboxIx === 0 ? undefined : strings[inboxIx - 1]);
        p += size;
        break;
      }
      case K_U: {
        if (p + 3 > n) return 'truncated entry';
        const name = strings[w[p + 1]!];
        const lastSeen = strings[w[p + 2]!];
        if (name === undefined || lastSeen === undefined) return 'bad string index';
        sink.user(name, lastSeen);
        p += 3;
        break;
      }
      case K_D: {
        if (p + 3 > n) return 'truncated entry';
        const user = strings[w[p + 1]!];
        const count = w[p + 2]!;
        if (user === undefined) return 'bad string index';
        if (count > (n - p - 3) / 2) return 'truncated entry';
        const refs: MessageRef[] = [];
        for (let i = 0, at = p + 3; i < count; i++, at += 2) {
          const conv = strings[w[at]!];
          if (conv === undefined) return 'bad string index';
          refs.push({ conv, seq: w[at + 1]! });
        }
        sink.delivered(user, refs);
        p += 3 + 2 * count;
        break;
      }
      case K_I: {
        if (p + 6 > n) return 'truncated entry';
        const user = strings[w[p + 1]!];
        const conv = strings[w[p + 2]!];
        if (user === undefined || conv === undefined) return 'bad string index';
        sink.inboxCopy(user, conv, w[p + 3]!, w[p + 4]! * 2 ** 32 + w[p + 5]!);
        p += 6;
        break;
      }
      default:
        return `unknown entry kind ${kind}`;
    }
  }
  return undefined;
}
