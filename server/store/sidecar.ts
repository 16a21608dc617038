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
// Layout (little endian):
//   0 'PLX2'   4 u8 version  5 u8 flags (1 = sealed)  6 u16 0
//   8 u32 segment  12 u32 covered bytes  16 u32 records  20 u32 last record offset (~0 = none)
//  24 u32 last record CRC  28 u32 string count  32 u32 string bytes  36 u32 body bytes
//  40 u32 summary count  44 strings (u16 length + UTF-8)  body  summaries  u32 CRC-32 of all before
// Body entries (u8 kind, then u32 fields; strings by table index):
//   1 M conv seq off len inbox+1 | 2 H conv seq off len | 3 U name lastSeen
//   4 D user n (conv seq)*n | 5 I user conv seq f64 order
// Summaries: the newest message (M or H) of each conversation in this segment: conv seq ts room+1 —
// the room's spelling and the ts the next message may not go below.
import { crc32 } from './crc32.js';
import type { ConvKey, MessageRef } from './store.js';

const MAGIC = 0x3258_4c50; // 'PLX2' little endian
const VERSION = 1;
const HEADER = 44;
const NONE = 0xffffffff;
const K_M = 1;
const K_H = 2;
const K_U = 3;
const K_D = 4;
const K_I = 5;
const MAX_STRING = 0xffff;

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
  body: Buffer;
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
  private body = Buffer.allocUnsafe(4096);
  private used = 0;
  private readonly summaries = new Map<ConvKey, Summary>();
  /** A string too long for the format: this sidecar is not written, the segment will be scanned. */
  private unencodable = false;

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
    sc.body.copy(b.body, 0);
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
    this.ensure(21);
    this.body[this.used++] = t === 'M' ? K_M : K_H;
    this.u32(this.str(conv));
    this.u32(seq);
    this.u32(off);
    this.u32(len);
    if (t === 'M') this.u32(inbox === undefined ? 0 : this.str(inbox) + 1);
    // Copies count too: a quiet room whose only messages are copies still has a name.
    const prev = this.summaries.get(conv);
    if (!prev || seq > prev.seq) this.summaries.set(conv, { conv, seq, ts, room });
  }

  user(name: string, lastSeen: string): void {
    this.ensure(9);
    this.body[this.used++] = K_U;
    this.u32(this.str(name));
    this.u32(this.str(lastSeen));
  }

  delivered(user: string, refs: readonly MessageRef[]): void {
    this.ensure(9 + 8 * refs.length);
    this.body[this.used++] = K_D;
    this.u32(this.str(user));
    this.u32(refs.length);
    for (const r of refs) {
      this.u32(this.str(r.conv));
      this.u32(r.seq);
    }
  }

  inboxCopy(user: string, conv: ConvKey, seq: number, order: number): void {
    this.ensure(21);
    this.body[this.used++] = K_I;
    this.u32(this.str(user));
    this.u32(this.str(conv));
    this.u32(seq);
    this.body.writeDoubleLE(order, this.used);
    this.used += 8;
  }

  /** The file's bytes, or undefined when this segment cannot have a sidecar. */
  encode(sealed: boolean): Buffer | undefined {
    if (this.unencodable) return undefined;
    const strs = this.strings.map((s) => Buffer.from(s, 'utf8'));
    const stringBytes = strs.reduce((n, s) => n + 2 + s.length, 0);
    const sums = [...this.summaries.values()];
    const total = HEADER + stringBytes + this.used + 16 * sums.length + 4;
    const out = Buffer.alloc(total);
    out.writeUInt32LE(MAGIC, 0);
    out[4] = VERSION;
    out[5] = sealed ? 1 : 0;
    out.writeUInt32LE(this.seg, 8);
    out.writeUInt32LE(this.covered, 12);
    out.writeUInt32LE(this.records, 16);
    out.writeUInt32LE(this.lastOff < 0 ? NONE : this.lastOff, 20);
    out.writeUInt32LE(this.lastCrc, 24);
    out.writeUInt32LE(strs.length, 28);
    out.writeUInt32LE(stringBytes, 32);
    out.writeUInt32LE(this.used, 36);
    out.writeUInt32LE(sums.length, 40);
    let p = HEADER;
    for (const s of strs) {
      out.writeUInt16LE(s.length, p);
      s.copy(out, p + 2);
      p += 2 + s.length;
    }
    this.body.copy(out, p, 0, this.used);
    p += this.used;
    for (const s of sums) {
      out.writeUInt32LE(this.index.get(s.conv)!, p);
      out.writeUInt32LE(s.seq, p + 4);
      out.writeUInt32LE(this.str(s.ts), p + 8);
      out.writeUInt32LE(s.room === undefined ? 0 : this.str(s.room) + 1, p + 12);
      p += 16;
    }
    // Summaries may have added strings (ts, room) after the table was laid out: encode again then.
    if (this.strings.length !== strs.length) return this.encode(sealed);
    out.writeUInt32LE(crc32(out, 0, p), p);
    return out;
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

  private u32(v: number): void {
    this.body.writeUInt32LE(v >>> 0, this.used);
    this.used += 4;
  }

  private ensure(n: number): void {
    if (this.used + n <= this.body.length) return;
    let size = this.body.length * 2;
    while (size < this.used + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.body.copy(grown, 0, 0, this.used);
    this.body = grown;
  }
}

/** Parses and checks a sidecar file; a string says why it cannot be used. */
export function parseSidecar(buf: Buffer, seg: number): Sidecar | string {
  if (buf.length < HEADER + 4) return 'too short';
  if (buf.readUInt32LE(0) !== MAGIC) return 'not a sidecar';
  if (buf[4] !== VERSION) return `version ${buf[4]}`;
  const end = buf.length - 4;
  if (crc32(buf, 0, end) !== buf.readUInt32LE(end)) return 'bad CRC';
  if (buf.readUInt32LE(8) !== seg) return 'wrong segment';
  const count = buf.readUInt32LE(28);
  const stringBytes = buf.readUInt32LE(32);
  const bodyBytes = buf.readUInt32LE(36);
  const sumCount = buf.readUInt32LE(40);
  // Every length is checked against the file before it is trusted.
  if (HEADER + stringBytes + bodyBytes + 16 * sumCount !== end || count * 2 > stringBytes) return 'bad lengths';
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
  if (p !== stringsEnd) return 'bad string table';
  // The body is checked entry by entry as it is replayed (replaySidecar), not walked twice.
  const body = buf.subarray(p, p + bodyBytes);
  p += bodyBytes;
  const summaries: Summary[] = [];
  for (let i = 0; i < sumCount; i++, p += 16) {
    const conv = strings[buf.readUInt32LE(p)];
    const ts = strings[buf.readUInt32LE(p + 8)];
    const room = buf.readUInt32LE(p + 12);
    if (conv === undefined || ts === undefined || room > strings.length) return 'bad summary';
    summaries.push({ conv, seq: buf.readUInt32LE(p + 4), ts, room: room === 0 ? undefined : strings[room - 1] });
  }
  const lastOff = buf.readUInt32LE(20);
  return {
    seg,
    sealed: (buf[5]! & 1) === 1,
    covered: buf.readUInt32LE(12),
    records: buf.readUInt32LE(16),
    lastOff: lastOff === NONE ? -1 : lastOff,
    lastCrc: buf.readUInt32LE(24),
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
  return walk(sc.body, sc.strings, sink);
}

function walk(body: Buffer, strings: string[], sink: SegmentSink): string | undefined {
  const n = body.length;
  let p = 0;
  const s = (at: number): string | undefined => strings[body.readUInt32LE(at)];
  while (p < n) {
    const kind = body[p]!;
    switch (kind) {
      case K_M:
      case K_H: {
        const size = kind === K_M ? 21 : 17;
        if (p + size > n) return 'truncated entry';
        const conv = s(p + 1);
        const inboxIx = kind === K_M ? body.readUInt32LE(p + 17) : 0;
        if (conv === undefined || inboxIx > strings.length) return 'bad string index';
        const inbox = inboxIx === 0 ? undefined : strings[inboxIx - 1];
        sink.message(kind === K_M ? 'M' : 'H', conv, body.readUInt32LE(p + 5), body.readUInt32LE(p + 9), body.readUInt32LE(p + 13), inbox);
        p += size;
        break;
      }
      case K_U: {
        if (p + 9 > n) return 'truncated entry';
        const name = s(p + 1);
        const lastSeen = s(p + 5);
        if (name === undefined || lastSeen === undefined) return 'bad string index';
        sink.user(name, lastSeen);
        p += 9;
        break;
      }
      case K_D: {
        if (p + 9 > n) return 'truncated entry';
        const user = s(p + 1);
        const count = body.readUInt32LE(p + 5);
        if (user === undefined) return 'bad string index';
        if (count > (n - p - 9) / 8) return 'truncated entry';
        const refs: MessageRef[] = [];
        for (let i = 0; i < count; i++) {
          const at = p + 9 + 8 * i;
          const conv = s(at);
          if (conv === undefined) return 'bad string index';
          refs.push({ conv, seq: body.readUInt32LE(at + 4) });
        }
        sink.delivered(user, refs);
        p += 9 + 8 * count;
        break;
      }
      case K_I: {
        if (p + 21 > n) return 'truncated entry';
        const user = s(p + 1);
        const conv = s(p + 5);
        if (user === undefined || conv === undefined) return 'bad string index';
        sink.inboxCopy(user, conv, body.readUInt32LE(p + 9), body.readDoubleLE(p + 13));
        p += 21;
        break;
      }
      default:
        return `unknown entry kind ${kind}`;
    }
  }
  return undefined;
}
