// The durable store: the shared in-memory index (conversations.ts) rebuilt at startup from an
// append-only log of numbered segment files in --data-dir (log-writer.ts, log-format.ts).
//
// Records (one JSON object each):
//   m {c, m, o?}   a message of conversation c; o = user key whose inbox it also joins
//   u {n, s}       a known user and when they were last seen
//   d {u, k}       inbox entries (keys conv#seq) of user u were delivered
//   h {c, m}       compaction copy of a still-retained message whose segment is being deleted
//   i {u, c, m, p} compaction copy of an undelivered inbox entry; p keeps its place in the inbox
//   x {}           compaction barrier (ignored)
// Damage policy: a record whose frame or CRC is bad is skipped with a warning and reading resumes at
// the next valid record, so one bad sector costs the records it hit, not everything after them; bad
// bytes at the end of the newest segment (a torn write) are truncated so appends continue after the
// last good record.
//
// Compaction: when the writer moves to a new segment, the oldest segments whose messages are mostly
// beyond retention are deleted after the state still living in them (retained messages, users,
// undelivered inbox entries) has been copied to the head and made durable. Only a prefix of the log
// is ever deleted, so a delivery marker never outlives the message it refers to.
import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { ChatMessage } from '../../protocol/messages.js';
import type { FsyncMode } from '../config.js';
import { nameKey } from '../../protocol/validate.js';
import { inboxKey, type InboxEntry } from './conversations.js';
import { lockDir, type DirLock } from './dir-lock.js';
import { IndexedStore } from './indexed-store.js';
import { encodeRecord, scanRecords } from './log-format.js';
import { LogWriter, nodeIo, parseSegmentName, segmentName, type LogIo } from './log-writer.js';
import type { ConvKey, Done, KnownUser } from './store.js';

export interface FileStoreOptions {
  dir: string;
  fsync: FsyncMode;
  historyPerRoom: number;
  log: (line: string) => void;
  /** A new segment file is started once the current one would exceed this (default 64 MiB). */
  segmentBytes?: number;
  /** File operations used for appends; tests pass a shim to count fsyncs or inject failures. */
  io?: LogIo;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Compaction copies this many records per event-loop turn so it never stalls the server. */
const COPY_SLICE = 500;
/** Keys per delivery record, so a huge inbox delivered at once stays within the record size limit. */
const KEYS_PER_MARKER = 1000;
/** Inbox order keys: segment * 2^32 + offset sorts like log position (segments stay below 4 GiB). */
const SEG_SPAN = 2 ** 32;

interface SegmentInfo {
  /** Lowest and highest seq of each conversation's messages (m and h records) in this segment. */
  convs: Map<ConvKey, { min: number; max: number }>;
  messages: number;
  /** Every record, of any kind: the denominator of "mostly dead". */
  records: number;
}

type Rec =
  | { t: 'm'; c: ConvKey; m: ChatMessage; o?: string }
  | { t: 'h'; c: ConvKey; m: ChatMessage }
  | { t: 'u'; n: string; s: string }
  | { t: 'd'; u: string; k: string[] }
  | { t: 'i'; u: string; c: ConvKey; m: ChatMessage; p: number }
  | { t: 'x' };

function isMessage(v: unknown): v is ChatMessage {
  const m = v as ChatMessage | null;
  return typeof m === 'object' && m !== null && typeof m.seq === 'number' && typeof m.from === 'string' && typeof m.text === 'string';
}

/** Validates a parsed record; anything else is treated like damage. */
function asRecord(v: unknown): Rec | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  switch (r.t) {
    case 'm':
    case 'h':
      return typeof r.c === 'string' && isMessage(r.m) && (r.o === undefined || typeof r.o === 'string') ? (r as Rec) : undefined;
    case 'u':
      return typeof r.n === 'string' && typeof r.s === 'string' ? (r as Rec) : undefined;
    case 'd':
      return typeof r.u === 'string' && Array.isArray(r.k) && r.k.every((k) => typeof k === 'string') ? (r as Rec) : undefined;
    case 'i':
      return typeof r.u === 'string' && typeof r.c === 'string' && isMessage(r.m) && typeof r.p === 'number' ? (r as Rec) : undefined;
    case 'x':
      return r as Rec;
    default:
      return undefined;
  }
}

export class FileStore extends IndexedStore {
  private readonly segments = new Map<number, SegmentInfo>();
  /** Segment holding each user's newest `u` record. */
  private readonly userSeg = new Map<string, number>();
  private writer: LogWriter | undefined;
  private lastAppendSeg = 0;
  private compacting = false;
  private closed = false;
  private lock: DirLock | undefined;

  constructor(private readonly opts: FileStoreOptions) {
    super(opts.historyPerRoom);
  }

  async open(): Promise<void> {
    mkdirSync(this.opts.dir, { recursive: true });
    const lock = lockDir(this.opts.dir);
    try {
      this.load();
    } catch (err) {
      lock.release();
      throw err;
    }
    this.lock = lock;
  }

  /** Rebuilds the index from the segments and opens the writer after the newest good record. */
  private load(): void {
    const ids = readdirSync(this.opts.dir)
      .map(parseSegmentName)
      .filter((id): id is number => id !== undefined)
      .sort((a, b) => a - b);
    const copies = new Map<ConvKey, ChatMessage[]>();
    let sawInboxCopies = false;
    let lastSize = 0;
    for (const [n, id] of ids.entries()) {
      const file = join(this.opts.dir, segmentName(id));
      const buf = readFileSync(file);
      const info: SegmentInfo = { convs: new Map(), messages: 0, records: 0 };
      this.segments.set(id, info);
      let bad = 0;
      const result = scanRecords(buf, (payload, offset) => {
        info.records++;
        let rec: Rec | undefined;
        try {
          rec = asRecord(JSON.parse(payload));
        } catch {
          rec = undefined;
        }
        if (!rec) return void bad++;
        if (rec.t === 'h') {
          let list = copies.get(rec.c);
          if (!list) copies.set(rec.c, (list = []));
          list.push(rec.m);
          this.noteMessage(info, rec.c, rec.m.seq);
        } else if (rec.t === 'i') sawInboxCopies = true;
        this.replay(rec, id, offset, info);
      });
      if (bad > 0) this.opts.log(`store: ${file}: ${bad} unreadable record(s) skipped`);
      const last = n === ids.length - 1;
      for (const d of result.damage) {
        const what = d.tail ? 'torn or corrupt tail' : 'corrupt record(s)';
        this.opts.log(`store: ${file}: ${what} at byte ${d.offset} (${d.length} bytes) skipped${d.tail && last ? ', truncated' : ''}`);
      }
      if (last) {
        lastSize = result.goodEnd;
        if (result.goodEnd < buf.length) {
          truncateSync(file, result.goodEnd);
          const fd = openSync(file, 'r+');
          fsyncSync(fd);
          closeSync(fd);
        }
      }
    }
    for (const [conv, list] of copies) this.index.restore(conv, list);
    if (sawInboxCopies) this.index.sortInboxes();

    const segmentBytes = this.opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const lastId = ids[ids.length - 1];
    const cont = lastId !== undefined && lastSize < segmentBytes;
    const segment = cont ? lastId : (lastId ?? 0) + 1;
    this.writer = new LogWriter({
      dir: this.opts.dir,
      fsync: this.opts.fsync,
      segmentBytes,
      io: this.opts.io ?? nodeIo,
      segment,
      size: cont ? lastSize : 0,
      exists: cont,
    });
    this.lastAppendSeg = segment;
    setImmediate(() => this.maybeCompact());
  }

  async close(): Promise<void> {
    this.closed = true;
    try {
      await this.writer?.close();
    } finally {
      this.lock?.release();
    }
  }

  appendMessage(conv: ConvKey, msg: ChatMessage, offlineRecipient: string | undefined, done: Done): void {
    this.index.add(conv, msg);
    const rec: Rec = offlineRecipient === undefined ? { t: 'm', c: conv, m: msg } : { t: 'm', c: conv, m: msg, o: offlineRecipient };
    const key = inboxKey(conv, msg.seq);
    const at = this.append(rec, (err) => {
      if (err) {
        // Not durable, so never served: not in history, not in the inbox.
        this.index.remove(conv, msg.seq);
        if (offlineRecipient !== undefined) this.index.inboxRemove(offlineRecipient, [key]);
      }
      done(err);
    });
    this.noteMessage(this.segmentInfo(at.seg), conv, msg.seq);
    if (offlineRecipient !== undefined) {
      this.index.inboxAdd(offlineRecipient, { key, conv, msg, order: at.seg * SEG_SPAN + at.offset, seg: at.seg });
    }
  }

  rememberUser(name: string, lastSeen: string): void {
    const user = this.index.rememberUser(name, lastSeen);
    this.appendUser(user, (err) => err && this.opts.log(`store: could not record user ${name}: ${err.message}`));
  }

  markDelivered(userKey: string, count: number, done: Done): void {
    const keys = this.index.inboxShift(userKey, count).map((e) => e.key);
    if (keys.length === 0) return queueMicrotask(() => done(null));
    let firstErr: Error | null = null;
    for (let i = 0; i < keys.length; i += KEYS_PER_MARKER) {
      const last = i + KEYS_PER_MARKER >= keys.length;
      this.append({ t: 'd', u: userKey, k: keys.slice(i, i + KEYS_PER_MARKER) }, (err) => {
        firstErr ??= err;
        if (last) done(firstErr);
      });
    }
  }

  // ---- internals ----

  private append(rec: Rec, done: Done): { seg: number; offset: number } {
    const writer = this.writer;
    if (!writer) {
      queueMicrotask(() => done(new Error('store is not open')));
      return { seg: 0, offset: 0 };
    }
    const at = writer.append(encodeRecord(JSON.stringify(rec)), done);
    this.segmentInfo(at.seg).records++;
    if (at.seg !== this.lastAppendSeg) {
      this.lastAppendSeg = at.seg;
      setImmediate(() => this.maybeCompact());
    }
    return at;
  }

  private appendUser(user: KnownUser, done: Done): void {
    const key = nameKey(user.name);
    const at = this.append({ t: 'u', n: user.name, s: user.lastSeen }, (err) => {
      if (!err && (this.userSeg.get(key) ?? 0) <= at.seg) this.userSeg.set(key, at.seg);
      done(err);
    });
  }

  private segmentInfo(seg: number): SegmentInfo {
    let info = this.segments.get(seg);
    if (!info) this.segments.set(seg, (info = { convs: new Map(), messages: 0, records: 0 }));
    return info;
  }

  private noteMessage(info: SegmentInfo, conv: ConvKey, seq: number): void {
    info.messages++;
    const r = info.convs.get(conv);
    if (!r) info.convs.set(conv, { min: seq, max: seq });
    else {
      if (seq < r.min) r.min = seq;
      if (seq > r.max) r.max = seq;
    }
  }

  private replay(rec: Rec, seg: number, offset: number, info: SegmentInfo): void {
    switch (rec.t) {
      case 'm': {
        if (rec.m.seq <= this.index.lastSeq(rec.c)) {
          this.opts.log(`store: segment ${seg} byte ${offset}: ${rec.c} seq ${rec.m.seq} is not after ${this.index.lastSeq(rec.c)}; skipped`);
          return;
        }
        this.index.add(rec.c, rec.m);
        this.noteMessage(info, rec.c, rec.m.seq);
        if (rec.o !== undefined) {
          const key = inboxKey(rec.c, rec.m.seq);
          this.index.inboxAdd(rec.o, { key, conv: rec.c, msg: rec.m, order: seg * SEG_SPAN + offset, seg });
        }
        return;
      }
      case 'u': {
        this.index.rememberUser(rec.n, rec.s);
        this.userSeg.set(nameKey(rec.n), seg);
        return;
      }
      case 'd':
        this.index.inboxRemove(rec.u, rec.k);
        return;
      case 'i': {
        const key = inboxKey(rec.c, rec.m.seq);
        const existing = this.index.inboxEntry(rec.u, key);
        if (existing) existing.seg = seg;
        else this.index.inboxAdd(rec.u, { key, conv: rec.c, msg: rec.m, order: rec.p, seg });
        return;
      }
      case 'h':
      case 'x':
        return;
    }
  }

  /** Live messages of a segment: those at or after their conversation's oldest retained seq. */
  private live(info: SegmentInfo): number {
    let live = 0;
    for (const [conv, r] of info.convs) {
      const first = this.index.firstRetainedSeq(conv);
      if (r.max >= first) live += r.max - Math.max(r.min, first) + 1;
    }
    return live;
  }

  private maybeCompact(): void {
    const writer = this.writer;
    if (this.compacting || this.closed || !writer) return;
    // Records still needed per segment besides messages: newest user records, undelivered DMs.
    const pinned = new Map<number, number>();
    for (const seg of this.userSeg.values()) pinned.set(seg, (pinned.get(seg) ?? 0) + 1);
    for (const [, e] of this.index.inboxEntries()) pinned.set(e.seg, (pinned.get(e.seg) ?? 0) + 1);
    const doomed: number[] = [];
    for (const id of [...this.segments.keys()].sort((a, b) => a - b)) {
      if (id >= writer.segment) break;
      const info = this.segments.get(id)!;
      // Deleting a segment costs copying its live part: worth it only once at most half is live.
      if ((this.live(info) + (pinned.get(id) ?? 0)) * 2 > info.records) break;
      doomed.push(id);
    }
    const newest = doomed[doomed.length - 1];
    if (newest === undefined) return;
    this.compacting = true;
    const work = this.copyWork(doomed, newest);
    let failed: Error | null = null;
    const step = (): void => {
      if (this.closed) {
        this.compacting = false;
        return;
      }
      for (let n = 0; n < COPY_SLICE; n++) {
        const next = work.next();
        if (next.done) {
          this.append({ t: 'x' }, (err) => {
            failed ??= err;
            this.compacting = false;
            if (failed) return this.opts.log(`store: compaction stopped: ${failed.message}`);
            for (const id of doomed) {
              try {
                unlinkSync(join(this.opts.dir, segmentName(id)));
              } catch (e) {
                this.opts.log(`store: could not delete ${segmentName(id)}: ${(e as Error).message}`);
              }
              this.segments.delete(id);
            }
            setImmediate(() => this.maybeCompact());
          });
          return;
        }
        next.value((err) => (failed ??= err));
      }
      setImmediate(step);
    };
    step();
  }

  /** Copy jobs for everything still needed from the doomed segments, generated lazily per slice. */
  private *copyWork(doomed: number[], newest: number): Generator<(onDone: Done) => void> {
    for (const id of doomed) {
      for (const [conv, r] of this.segments.get(id)!.convs) {
        // Retained messages may have aged out since the plan was made: read the index as it is now.
        for (const m of this.index.range(conv, Math.max(r.min, this.index.firstRetainedSeq(conv)), r.max)) {
          yield (onDone) => {
            const at = this.append({ t: 'h', c: conv, m }, onDone);
            this.noteMessage(this.segmentInfo(at.seg), conv, m.seq);
          };
        }
      }
    }
    for (const [key, seg] of [...this.userSeg]) {
      if (seg > newest) continue;
      const user = this.index.knownUser(key);
      if (user) yield (onDone) => this.appendUser(user, onDone);
    }
    const entries: [string, InboxEntry][] = [];
    for (const [user, e] of this.index.inboxEntries()) if (e.seg <= newest) entries.push([user, e]);
    for (const [user, e] of entries) {
      yield (onDone) => {
        if (this.index.inboxEntry(user, e.key) !== e) return onDone(null);
        const at = this.append({ t: 'i', u: user, c: e.conv, m: e.msg, p: e.order }, (err) => {
          if (!err) e.seg = at.seg;
          onDone(err);
        });
      };
    }
  }
}

/** Total bytes of the segment files in a data directory (for tests and the benchmark). */
export function logBytes(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir)) if (parseSegmentName(f) !== undefined) total += statSync(join(dir, f)).size;
  return total;
}
