// Startup: turns one segment file into index events, from its sidecar when that can be trusted, by
// scanning the file otherwise. A scan reads message heads without parsing the records (readHead) and
// parses only what is not a v2 message head (users, markers, v1 records).
//
// Damage policy (scans): a record whose frame or CRC is bad is skipped with a warning and reading
// resumes at the next valid record, so one bad sector costs the records it hit, not everything after
// them; bad bytes at the end of the newest segment (a torn write) are truncated so appends continue
// after the last good record. A sidecar is trusted only when its CRC is right, the segment reaches the
// size it covers and the last covered record's CRC matches; a checkpoint (written at a clean close of
// the segment then being written) covers a prefix, and what follows it is scanned.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { ConvKey } from './store.js';
import { HEADER_BYTES, scanRecords } from './log-format.js';
import { segmentName } from './log-writer.js';
import { decodeRecord, readHead } from './record-codec.js';
import { parseSidecar, replaySidecar, sidecarName, SidecarBuilder, type SegmentSink, type Sidecar } from './sidecar.js';

export interface LoadSink extends SegmentSink {
  /** The spelling and ts of message `seq` of `conv`: the newest such pair names the room. */
  named(conv: ConvKey, seq: number, ts: string, room: string | undefined): void;
}

export interface LoadedSegment {
  /** Where appending may continue (the newest segment) or where the good records end. */
  size: number;
  records: number;
  /** The sidecar as it should be (set when the segment was scanned, and for the newest segment). */
  builder: SidecarBuilder | undefined;
  /** True when the segment was scanned, so a sealed segment's sidecar should be (re)written. */
  scanned: boolean;
}

type Log = (line: string) => void;

/** A sidecar whose CRC matched turned out inconsistent while replaying: reload without it. */
export class SidecarInconsistent extends Error {
  constructor(
    readonly seg: number,
    why: string,
  ) {
    super(`${sidecarName(seg)}: ${why}`);
  }
}

/** `distrusted`: segments whose sidecar must not be used (it turned out inconsistent). */
export function loadSegment(dir: string, id: number, newest: boolean, sink: LoadSink, log: Log, distrusted: ReadonlySet<number>): LoadedSegment {
  const file = join(dir, segmentName(id));
  const size = fs.statSync(file).size;
  const sc = distrusted.has(id) ? undefined : trustedSidecar(dir, id, file, size, log);
  if (sc) {
    const bad = replaySidecar(sc, sink);
    if (bad) throw new SidecarInconsistent(id, bad);
    for (const s of sc.summaries) sink.named(s.conv, s.seq, s.ts, s.room);
    if (sc.sealed && size > sc.covered) {
      // Records written after the segment was sealed were failed ones whose truncation failed.
      log(`store: ${file}: ${size - sc.covered} bytes after the sealed end ignored${newest ? ', truncated' : ''}`);
      if (newest) truncateDurably(file, sc.covered);
    }
    if (sc.sealed || size === sc.covered) {
      return { size: sc.covered, records: sc.records, builder: newest ? SidecarBuilder.adopt(sc) : undefined, scanned: false };
    }
    // A checkpoint: scan only what was appended after it.
    const builder = SidecarBuilder.adopt(sc);
    const end = scan(file, sc.covered, size, newest, builder, sink, log);
    return { size: end, records: builder.records, builder, scanned: false };
  }
  const builder = new SidecarBuilder(id);
  const end = scan(file, 0, size, newest, builder, sink, log);
  return { size: end, records: builder.records, builder, scanned: true };
}

function trustedSidecar(dir: string, id: number, file: string, size: number, log: Log): Sidecar | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(join(dir, sidecarName(id)));
  } catch {
    return undefined;
  }
  const sc = parseSidecar(buf, id);
  const why = typeof sc === 'string' ? sc : sc.covered > size ? 'segment is shorter than it covers' : lastRecordMismatch(file, sc);
  if (why !== undefined || typeof sc === 'string') {
    log(`store: ${sidecarName(id)}: ${why}; scanning ${segmentName(id)} instead`);
    return undefined;
  }
  return sc;
}

function lastRecordMismatch(file: string, sc: Sidecar): string | undefined {
  if (sc.lastOff < 0) return sc.covered === 0 ? undefined : 'no last record';
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(HEADER_BYTES);
    if (fs.readSync(fd, head, 0, HEADER_BYTES, sc.lastOff) !== HEADER_BYTES) return 'last record missing';
    if (sc.lastOff + HEADER_BYTES + head.readUInt32LE(0) !== sc.covered) return 'last record does not end where it should';
    return head.readUInt32LE(4) === sc.lastCrc ? undefined : 'last record differs';
  } finally {
    fs.closeSync(fd);
  }
}

/** Scans bytes [from, size) of a segment into the sink and the builder; returns the good end. */
function scan(file: string, from: number, size: number, newest: boolean, builder: SidecarBuilder, sink: LoadSink, log: Log): number {
  const buf = Buffer.allocUnsafe(size - from);
  const fd = fs.openSync(file, 'r');
  try {
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  let bad = 0;
  const result = scanRecords(buf, (b, at, len) => {
    const off = from + at;
    const frameLen = HEADER_BYTES + len;
    builder.record(off, frameLen, b.readUInt32LE(at + 4));
    const p = at + HEADER_BYTES;
    const head = readHead(b, p, p + len);
    if (head) {
      sink.message(head.t, head.conv, head.seq, off, frameLen, head.inbox);
      sink.named(head.conv, head.seq, head.ts, head.room);
      builder.message(head.t, head.conv, head.seq, off, frameLen, head.t === 'M' ? head.inbox : undefined, head.ts, head.room);
      return;
    }
    const rec = decodeRecord(b.toString('utf8', p, p + len));
    if (!rec) return void bad++;
    switch (rec.t) {
      case 'M':
      case 'H':
        sink.message(rec.t, rec.conv, rec.msg.seq, off, frameLen, rec.inbox);
        sink.named(rec.conv, rec.msg.seq, rec.msg.ts, rec.msg.room);
        builder.message(rec.t, rec.conv, rec.msg.seq, off, frameLen, rec.inbox, rec.msg.ts, rec.msg.room);
        return;
      case 'u':
        sink.user(rec.name, rec.lastSeen);
        builder.user(rec.name, rec.lastSeen);
        return;
      case 'd':
        sink.delivered(rec.user, rec.refs);
        builder.delivered(rec.user, rec.refs);
        return;
      case 'I':
        sink.inboxCopy(rec.user, rec.conv, rec.seq, rec.order);
        builder.inboxCopy(rec.user, rec.conv, rec.seq, rec.order);
        return;
      case 'x':
        return;
    }
  });
  if (bad > 0) log(`store: ${file}: ${bad} unreadable record(s) skipped`);
  for (const d of result.damage) {
    const what = d.tail ? 'torn or corrupt tail' : 'corrupt record(s)';
    log(`store: ${file}: ${what} at byte ${from + d.offset} (${d.length} bytes) skipped${d.tail && newest ? ', truncated' : ''}`);
  }
  const goodEnd = from + result.goodEnd;
  if (newest && goodEnd < size) truncateDurably(file, goodEnd);
  return newest ? goodEnd : size;
}

function truncateDurably(file: string, size: number): void {
  fs.truncateSync(file, size);
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

