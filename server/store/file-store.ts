// The durable store: an append-only log of numbered segment files in --data-dir (log-writer.ts,
// log-format.ts, record-codec.ts) with, in memory, only an index: per conversation the seqs and
// record positions of its retained messages (conv-index.ts, typed arrays), the known users and the
// offline inboxes by reference. Message bodies stay on disk and are read back by position, through a
// bounded cache of recently read messages (message-cache.ts), when history or an inbox is asked for.
//
// Startup replays each segment's sidecar index (sidecar.ts) instead of parsing its records, and scans
// only what no trusted sidecar covers (segment-loader.ts). Sidecars are written when a segment is
// sealed and, for the segment being written, at a clean close.
//
// Numbering: append() gives each message its conversation's next seq and ts. A message becomes
// visible (history, inbox, lastSeq) once it is written to the kernel, so it survives a crash of the
// process; whenDurable() says when it survives a power loss too (acks wait for that). A failed write
// is never visible, and its seq is handed back (numbering.ts): the writer fails every record queued
// behind a failed one and cuts the failed bytes off before reporting. A message sent again with the
// same client message id (`mid`) is answered with the first one's seq from a bounded table
// (mid-table.ts), not stored again.
//
// Search: a word index of the retained messages (search-index.ts) lives beside the conversation index
// and is snapshotted to search.snapshot when a segment is sealed and at a clean close (search-snapshot.ts);
// opening indexes only what was written after the snapshot.
//
// Compaction: when the writer moves to a new segment, the oldest segments whose records are mostly
// beyond retention are deleted after the state still living in them (retained messages, read back
// from disk; users' newest records; undelivered inbox entries) has been copied to the head and made
// durable. Only a prefix of the log is ever deleted, so a delivery marker never outlives the message it
// refers to, and a crash between copying and deleting replays to the same state.
//
// Byte budget (--max-store-bytes): when the segments add up to more, the oldest segments are deleted
// whatever their live share, and the messages in them leave history first, as retention would drop
// them: per conversation everything up to the newest message they hold, but never a conversation's
// newest message (it carries the seq the next one follows, so seqs are never reused after a restart).
// One log line says what went. A restart over budget drops the same way, so what was dropped before a
// crash cannot come back.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/validate.js';
import type { FsyncMode } from '../config.js';
import { humanBytes } from './byte-size.js';
import { ConvIndex, SlotList, type Slot } from './conv-index.js';
import { lockDir, type DirLock } from './dir-lock.js';
import { Inboxes, type InboxEntry } from './inboxes.js';
import { KEEP_EVERYONE, KnownUsers, type ForgetPolicy } from './known-users.js';
import { encodeRecord, frameCrc } from './log-format.js';
import { LogWriter, nodeIo, parseSegmentName, segmentFlags, segmentName, type LogIo, type Placed } from './log-writer.js';
import { MessageCache } from './message-cache.js';
import { midKey, MidTable } from './mid-table.js';
import { handBack, stamp, type Numbering } from './numbering.js';
import { pageSpan } from './page-span.js';
import { BARRIER, chatMessage, decodeRecord, encodeDelivered, encodeInboxCopy, encodeMessage, encodeUser } from './record-codec.js';
import { loadSegment, SidecarInconsistent, type LoadSink } from './segment-loader.js';
import { SegmentReader } from './segment-reader.js';
import { parseSidecarName, sidecarName, SidecarBuilder } from './sidecar.js';
import { RecordFile } from '../kv/record-file.js';
import { searchTerms } from '../../protocol/search-terms.js';
import { SearchIndex } from './search-index.js';
import { runSearch } from './search-query.js';
import { loadSearchIndex, SEARCH_FILE, SEG_SPAN, SnapshotSink } from './search-snapshot.js';
import { Amendments, fromRecord, toRecord, type AmendRecord } from './amendments.js';
import { InboxFull, NoSuchMessage, type Amended, type Change } from './store.js';
import type { Appended, ConvKey, Done, Draft, HistoryPage, HistoryQuery, InboxItem, KnownUser, MessageRef, SearchPage, SearchQuery, Seen, Store, StoreUsage, UserPage } from './store.js';
import { writeFileAtomic } from './atomic-file.js';

export interface FileStoreOptions {
  dir: string;
  fsync: FsyncMode;
  historyPerRoom: number;
  log: (line: string) => void;
  /** A new segment file is started once the current one would exceed this (default 64 MiB). */
  segmentBytes?: number;
  /** Estimated heap bytes of recently used messages kept decoded (default 16 MiB). */
  cacheBytes?: number;
  /** Client message ids remembered (default 65,536; mid-table.ts). */
  midsRemembered?: number;
  /** File operations used for appends; tests pass a shim to count writes or inject failures. */
  io?: LogIo;
  /** With --fsync batch, the least time between two group commits' starts (log-writer.ts). */
  commitIntervalMs?: number;
  /** The disk failed a sync (log-writer.ts): messages may have been delivered that are not on disk. */
  onSyncFailure?: (err: Error) => void;
  /** When offline guests are forgotten (default: never). */
  forget?: ForgetPolicy;
  /** Undelivered messages one offline inbox may hold; more are refused with InboxFull (0 = no bound). */
  maxInbox?: number;
  /** The clock the forget policy reads; tests pass their own. */
  now?: () => number;
  /** Bytes the segments may add up to before the oldest history is dropped (0 = no budget). */
  maxBytes?: number;
}

/** Edits, deletions and reactions, beside the segments (amendments.ts). */
export const AMENDS_FILE = 'amends.jsonl';
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Offsets are u32 in the index and the sidecars. */
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** Compaction copies this many messages per round trip (read them, append copies, wait for durable). */
const COPY_SLICE = 500;
/** Keys per delivery record, so a huge inbox delivered at once stays within the record size limit. */
const KEYS_PER_MARKER = 1000;
/** Under a byte budget segments are at most this share of it, so whole segments can go while others stay. */
const SEGMENTS_PER_BUDGET = 8;
/** ...but not smaller than this, so a tiny budget does not mean a file per handful of records. */
const MIN_BUDGET_SEGMENT = 16 * 1024;

interface Conv extends Numbering {
  key: ConvKey;
  /** Display spelling of a room, from its newest message. */
  room: string | undefined;
  /** Seq that `room` and `lastTs` were taken from while loading. */
  namedSeq: number;
  index: ConvIndex;
  /** Compaction copies met while loading, merged once the whole log is read. */
  copies: SlotList | undefined;
}

interface SegStats {
  /** Valid records of any kind. */
  records: number;
  /** Index entries pointing into this segment. */
  live: number;
  /** Bytes of its records: the file's size, but for a torn tail a restart cuts off. */
  bytes: number;
}

export class FileStore implements Store {
  private readonly convs = new Map<ConvKey, Conv>();
  /** The room conversations among them: rooms() walks these, not every direct conversation too. */
  private readonly roomConvs = new Set<Conv>();
  private readonly known: KnownUsers;
  /** Segment holding each user's newest durable `u` record. */
  private readonly userSeg = new Map<string, number>();
  private readonly inboxes = new Inboxes();
  private readonly segs = new Map<number, SegStats>();
  private readonly reader: SegmentReader;
  private readonly cache: MessageCache;
  private readonly segmentBytes: number;
  private writer: LogWriter | undefined;
  /** The sidecar of the segment being written, fed as its records become durable. */
  private builder: SidecarBuilder | undefined;
  private compacting = false;
  /** The budget could not be met by dropping history (said once until it can again). */
  private budgetStuck = false;
  /** Sidecar files being written in the background; close() waits for them. */
  private readonly sidecarWrites = new Set<Promise<void>>();
  private closed = false;
  private lock: DirLock | undefined;
  /** Edits, deletions and reactions: in memory for amended messages, durable in amends.jsonl. */
  private readonly amends = new Amendments();
  private amendFile: RecordFile<AmendRecord> | undefined;
  /** The search index, and the log position up to which every message is in it (for its snapshot). */
  private readonly words: SearchIndex;
  private indexedTo = 0;
  /** Client message ids (mid) already stored, so a resend is answered with the first seq. */
  private readonly mids: MidTable;

  constructor(private readonly opts: FileStoreOptions) {
    // A forgotten guest's record no longer pins its segment: compaction drops it with the segment.
    this.known = new KnownUsers(opts.forget ?? KEEP_EVERYONE, (key) => this.userSeg.delete(key), opts.now);
    this.reader = new SegmentReader(opts.dir);
    this.cache = new MessageCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    const budget = opts.maxBytes ?? 0;
    const budgetSegment = budget > 0 ? Math.max(MIN_BUDGET_SEGMENT, Math.floor(budget / SEGMENTS_PER_BUDGET)) : MAX_SEGMENT_BYTES;
    this.segmentBytes = Math.min(opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES, MAX_SEGMENT_BYTES, budgetSegment);
    this.mids = new MidTable(opts.midsRemembered);
    // A freeze writes search.snapshot (a shortcut like a sidecar: a failure is only logged).
    this.words = new SearchIndex({
      sink: (docs) => new SnapshotSink(join(opts.dir, SEARCH_FILE), this.indexedTo, docs),
      failed: (err) => opts.log(`store: could not write ${SEARCH_FILE}: ${err.message}`),
    });
  }

  async open(): Promise<void> {
    fs.mkdirSync(this.opts.dir, { recursive: true });
    const lock = lockDir(this.opts.dir);
    try {
      const distrusted = new Set<number>();
      for (;;) {
        try {
          this.load(distrusted);
          break;
        } catch (err) {
          if (!(err instanceof SidecarInconsistent)) throw err;
          // Only a bug writes a sidecar that passes its CRC yet does not add up: start over without it.
          this.opts.log(`store: ${err.message}; scanning ${segmentName(err.seg)} instead`);
          distrusted.add(err.seg);
          this.forget();
        }
      }
      loadSearchIndex(this.words, {
        dir: this.opts.dir,
        segments: [...this.segs.keys()].sort((a, b) => a - b),
        placeOf: (conv, seq) => {
          const slot = this.slotOf(conv, seq);
          return slot && slot.seg * SEG_SPAN + slot.off;
        },
        log: this.opts.log,
      });
      this.openAmends();
      this.mids.load(this.opts.dir, (l) => this.opts.log(`store: ${l}`));
    } catch (err) {
      lock.release();
      throw err;
    }
    this.lock = lock;
    await this.amendFile!.open();
  }

  /**
   * Replays amends.jsonl after the log: a change to a message no longer retained is dropped, and a file
   * mostly made of such (or superseded) lines is rewritten from the live state.
   */
  private openAmends(): void {
    const file = new RecordFile(this.opts.dir, AMENDS_FILE, fromRecord, (l) => this.opts.log(`store: ${l}`));
    const lines = file.replay((rec) => {
      if (!this.slotOf(rec.c, rec.s)) return;
      this.amends.apply(rec);
      if (rec.k === 'e') this.words.edited(rec.c, rec.s, searchTerms(rec.x!));
    });
    if (lines > 2 * this.amends.size + 100) file.rewrite(this.amends.records());
    this.amendFile = file;
  }

  message(conv: ConvKey, seq: number): Promise<ChatMessage | undefined> {
    const slot = this.slotOf(conv, seq);
    if (!slot) return Promise.resolve(undefined);
    return this.readMessages([{ conv, slot }]).then((ms) => (ms[0] ? this.amends.view(conv, ms[0]) : undefined));
  }

  amend(conv: ConvKey, seq: number, change: Change, done: (err: Error | null, state: Amended | undefined) => void): void {
    const refused = this.refusal() ?? (this.slotOf(conv, seq) ? undefined : new NoSuchMessage(`no message ${seq} in ${conv}`));
    if (refused || !this.amendFile) return queueMicrotask(() => done(refused ?? new Error('store is not open'), undefined));
    const rec = toRecord(conv, seq, change);
    this.amendFile.append(rec).then(
      () => {
        const state = this.amends.apply(rec);
        if (change.kind === 'edit') this.words.edited(conv, seq, searchTerms(change.text));
        done(null, state);
      },
      (err: Error) => done(err, undefined),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.writer?.close();
      await this.amendFile?.close();
      await Promise.all(this.sidecarWrites);
      const b = this.builder;
      if (b && this.writer && !this.writer.broken) this.writeSidecar(b, false, true);
      // Always, even with nothing new to index: the snapshot must say it covers everything written,
      // or a segment that compaction deleted since the last one would force a rebuild at the next open.
      if (this.writer && !this.writer.broken) this.words.freeze();
      try {
        this.mids.save();
      } catch (err) {
        this.opts.log(`store: client message ids not saved (a resend after the restart may be stored twice): ${(err as Error).message}`);
      }
    } finally {
      this.words.close();
      this.reader.closeAll();
      this.lock?.release();
    }
  }

  append(conv: ConvKey, draft: Draft, inboxFor: string | undefined, done: Appended): void {
    const refused = this.refusal() ?? (draft.room === undefined && draft.to === undefined ? new Error('a message needs a room or a recipient') : undefined);
    if (refused) return queueMicrotask(() => done(refused, undefined));
    const build = (seq: number, ts: string): ChatMessage =>
      chatMessage(draft.room, draft.room === undefined ? draft.to : undefined, draft.from, draft.text, seq, ts, draft.action === true, draft.guest === true, draft.mentions);
    const mid = draft.mid === undefined ? undefined : midKey(conv, draft.from, draft.mid);
    // A repeat is answered before the inbox bound: it takes no new room there.
    if (mid !== undefined && this.mids.repeat(mid, build, done)) return;
    const maxInbox = this.opts.maxInbox ?? 0;
    if (inboxFor !== undefined && !this.inboxes.fits(inboxFor, maxInbox, (e) => this.slotOf(e.conv, e.seq) !== undefined)) {
      return queueMicrotask(() => done(new InboxFull(maxInbox), undefined));
    }
    if (inboxFor !== undefined) this.inboxes.begin(inboxFor);
    const c = this.conv(conv);
    const { seq, ts } = stamp(c);
    const msg = build(seq, ts);
    const frame = encodeRecord(encodeMessage('M', conv, msg, inboxFor));
    if (mid !== undefined) this.mids.started(mid, seq, ts);
    this.writer!.append(frame, (err, at) => {
      if (inboxFor !== undefined) this.inboxes.settled(inboxFor);
      if (err || !at) {
        handBack(c, seq);
        const failure = err ?? new Error('not stored');
        if (mid !== undefined) this.mids.failed(mid, failure);
        return done(failure, undefined);
      }
      this.noteRecord(at, frame);
      c.stored = seq;
      if (msg.room !== undefined) c.room = msg.room;
      this.pushEntry(c, seq, at);
      this.words.add(conv, seq, at.seg * SEG_SPAN + at.off, searchTerms(msg.text));
      this.builder!.message('M', conv, seq, at.off, at.len, inboxFor, ts, msg.room);
      if (inboxFor !== undefined) this.inboxes.add(inboxFor, { conv, seq, order: at.seg * SEG_SPAN + at.off, seg: at.seg });
      done(null, msg);
      // After the first one's done, so a repeat's ack never overtakes the original's.
      if (mid !== undefined) this.mids.stored(mid);
    });
  }

  whenDurable(done: Done): void {
    const refused = this.refusal();
    if (refused) return queueMicrotask(() => done(refused));
    this.writer!.whenDurable(done);
  }

  history(conv: ConvKey, query: HistoryQuery): Promise<HistoryPage> {
    const c = this.convs.get(conv);
    if (!c) return Promise.resolve({ messages: [], more: false });
    const span = pageSpan(c.index.count, (s) => c.index.lowerBound(s), query);
    const wanted: Wanted[] = [];
    for (let p = span.start; p < span.end; p++) wanted.push({ conv, slot: c.index.slot(p) });
    // The positions are taken now: what is stored after this call is not in the page.
    return this.readMessages(wanted).then((messages) => ({ messages: messages.map((m) => this.amends.view(conv, m)), more: span.more }));
  }

  search(query: SearchQuery): Promise<SearchPage> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return runSearch(
      {
        index: this.words,
        alive: (conv, seq) => this.slotOf(conv, seq) !== undefined,
        load: (docs) =>
          this.readMessages(
            docs.map((d) => ({ conv: d.conv, slot: this.slotOf(d.conv, d.seq)! })),
            true,
          ).then((ms) => ms.map((m, i) => m && this.amends.view(docs[i]!.conv, m))),
      },
      query,
    );
  }

  lastSeq(conv: ConvKey): Promise<number> {
    return Promise.resolve(this.convs.get(conv)?.stored ?? 0);
  }

  rooms(): Promise<string[]> {
    const out: string[] = [];
    for (const c of this.roomConvs) if (c.room !== undefined && c.index.count > 0) out.push(c.room);
    return Promise.resolve(out);
  }

  rememberUser(name: string, lastSeen: string, seen: Seen = {}): void {
    const user = this.known.remember(name, lastSeen, seen);
    this.appendUser(user, seen.guest === true, (err) => err && !this.closed && this.opts.log(`store: could not record user ${name}: ${err.message}`));
  }

  knownUser(userKey: string): Promise<KnownUser | undefined> {
    return Promise.resolve(this.known.get(userKey));
  }

  users(after: string | undefined, limit: number): Promise<UserPage> {
    return Promise.resolve(this.known.page(after, limit));
  }

  inbox(userKey: string, limit: number): Promise<InboxItem[]> {
    const entries = this.inboxes.list(userKey, limit, (e) => this.slotOf(e.conv, e.seq) !== undefined);
    const wanted: Wanted[] = entries.map((e) => ({ conv: e.conv, slot: this.slotOf(e.conv, e.seq)! }));
    return this.readMessages(wanted, true).then((msgs) => {
      const out: InboxItem[] = [];
      for (let i = 0; i < msgs.length; i++) if (msgs[i]) out.push({ conv: wanted[i]!.conv, msg: this.amends.view(wanted[i]!.conv, msgs[i]!) });
      return out;
    });
  }

  markDelivered(userKey: string, refs: readonly MessageRef[], done: Done): void {
    const removed = this.inboxes.remove(userKey, refs);
    if (removed.length === 0) return queueMicrotask(() => done(null));
    let firstErr: Error | null = null;
    let left = Math.ceil(removed.length / KEYS_PER_MARKER);
    for (let i = 0; i < removed.length; i += KEYS_PER_MARKER) {
      const part = removed.slice(i, i + KEYS_PER_MARKER);
      this.appendRaw(encodeDelivered(userKey, part), (b) => b.delivered(userKey, part), (err) => {
        firstErr ??= err;
        if (--left === 0) done(firstErr);
      });
    }
  }

  usage(): StoreUsage {
    return { knownUsers: this.known.size, bytes: this.logBytes() };
  }

  /** Bytes of every segment: what --max-store-bytes counts. */
  private logBytes(): number {
    let total = 0;
    for (const s of this.segs.values()) total += s.bytes;
    return total;
  }

  // ---- loading ----

  /** Everything a half-done load may have filled in. */
  private forget(): void {
    this.convs.clear();
    this.roomConvs.clear();
    this.known.clear();
    this.userSeg.clear();
    this.inboxes.clear();
    this.segs.clear();
    this.builder = undefined;
  }

  private load(distrusted: ReadonlySet<number>): void {
    const files = fs.readdirSync(this.opts.dir);
    const ids = files
      .map(parseSegmentName)
      .filter((id): id is number => id !== undefined)
      .sort((a, b) => a - b);
    const have = new Set(ids);
    for (const f of files) {
      const sid = parseSidecarName(f);
      // A sidecar without its segment (deleted by compaction just before a crash), or a torn temp file.
      if ((sid !== undefined && !have.has(sid)) || f.endsWith('.idx.tmp')) fs.rmSync(join(this.opts.dir, f), { force: true });
    }
    let sawInboxCopies = false;
    let seg = 0;
    const sink: LoadSink = {
      message: (t, conv, seq, off, len, inbox) => {
        const c = this.conv(conv);
        if (t === 'H') {
          (c.copies ??= new SlotList()).add(seq, seg, off, len);
          return;
        }
        if (seq <= c.stored) {
          this.opts.log(`store: segment ${seg} byte ${off}: ${conv} seq ${seq} is not after ${c.stored}; skipped`);
          return;
        }
        c.stored = c.assigned = seq;
        this.pushEntry(c, seq, { seg, off, len });
        if (inbox !== undefined) this.inboxes.add(inbox, { conv, seq, order: seg * SEG_SPAN + off, seg });
      },
      named: (conv, seq, ts, room) => {
        const c = this.conv(conv);
        if (seq < c.namedSeq) return;
        c.namedSeq = seq;
        if (ts > c.lastTs) c.lastTs = ts;
        if (room !== undefined) c.room = room;
      },
      user: (name, lastSeen, guest) => {
        this.known.remember(name, lastSeen, { guest });
        this.userSeg.set(nameKey(name), seg);
      },
      delivered: (user, refs) => void this.inboxes.remove(user, refs),
      inboxCopy: (user, conv, seq, order) => {
        sawInboxCopies = true;
        const e = this.inboxes.get(user, conv, seq);
        if (e) e.seg = seg;
        else this.inboxes.add(user, { conv, seq, order, seg });
      },
    };
    const toWrite: SidecarBuilder[] = [];
    let size = 0;
    this.known.beginLoad();
    for (const [n, id] of ids.entries()) {
      seg = id;
      const newest = n === ids.length - 1;
      this.segs.set(id, { records: 0, live: 0, bytes: 0 });
      const loaded = loadSegment(this.opts.dir, id, newest, sink, this.opts.log, distrusted);
      const stats = this.segs.get(id)!;
      stats.records = loaded.records;
      stats.bytes = loaded.size;
      if (newest) {
        size = loaded.size;
        this.builder = loaded.builder;
      } else if (loaded.scanned && loaded.builder) toWrite.push(loaded.builder);
    }
    this.known.endLoad();
    for (const c of this.convs.values()) if (c.copies) this.mergeCopies(c);
    if (sawInboxCopies) this.inboxes.sort();
    this.inboxes.prune((e) => this.slotOf(e.conv, e.seq) !== undefined);

    const id = ids[ids.length - 1] ?? 1;
    if (ids.length === 0) this.segs.set(id, { records: 0, live: 0, bytes: 0 });
    this.builder ??= new SidecarBuilder(id);
    const fd = fs.openSync(join(this.opts.dir, segmentName(id)), segmentFlags(true));
    if (ids.length === 0 && this.opts.fsync !== 'off') fsyncDir(this.opts.dir);
    this.indexedTo = id * SEG_SPAN + size;
    this.writer = new LogWriter({
      dir: this.opts.dir,
      fsync: this.opts.fsync,
      segmentBytes: this.segmentBytes,
      io: this.opts.io ?? nodeIo,
      commitIntervalMs: this.opts.commitIntervalMs,
      segment: id,
      fd,
      size,
      onCallbackError: (err) =>
        queueMicrotask(() => {
          throw err;
        }),
      onSyncFailure: this.opts.onSyncFailure,
    });
    // Scanned sealed segments get their sidecars now, so the next start does not scan them again.
    for (const b of toWrite) this.writeSidecar(b, true, false);
    setImmediate(() => this.maybeCompact());
  }

  /** Joins a conversation's compaction copies with its in-order messages; retention applies. */
  private mergeCopies(c: Conv): void {
    const merged = c.copies!.mergedWith(c.index, this.opts.historyPerRoom);
    c.copies = undefined;
    while (c.index.count > 0) this.segs.get(c.index.shift())!.live--;
    for (const s of merged) this.pushEntry(c, s.seq, s);
    const newest = merged[merged.length - 1];
    if (newest && newest.seq > c.stored) c.stored = c.assigned = newest.seq;
  }

  // ---- writing ----

  private refusal(): Error | undefined {
    if (this.closed) return new Error('store is closed');
    if (!this.writer) return new Error('store is not open');
    return this.writer.broken;
  }

  private conv(key: ConvKey): Conv {
    let c = this.convs.get(key);
    if (!c) {
      c = { key, room: undefined, namedSeq: 0, index: new ConvIndex(), copies: undefined, assigned: 0, stored: 0, lastTs: '' };
      this.convs.set(key, c);
      if (key.startsWith('r:')) this.roomConvs.add(c);
    }
    return c;
  }

  /** Adds a stored message's position and applies retention. */
  private pushEntry(c: Conv, seq: number, at: { seg: number; off: number; len: number }): void {
    c.index.push(seq, at.seg, at.off, at.len);
    this.stats(at.seg).live++;
    let shifted = false;
    while (c.index.count > this.opts.historyPerRoom) {
      this.stats(c.index.shift()).live--;
      shifted = true;
    }
    if (shifted && this.amends.has(c.key)) this.amends.prune(c.key, (s) => c.index.find(s) >= 0);
    if (shifted) this.words.retired((conv, seq) => this.slotOf(conv, seq) !== undefined);
  }

  private stats(seg: number): SegStats {
    let s = this.segs.get(seg);
    if (!s) this.segs.set(seg, (s = { records: 0, live: 0, bytes: 0 }));
    return s;
  }

  /**
   * Appends a record that is not a new message (users, markers, compaction copies). `index` runs the
   * moment it is written, before anything else can: it records the record in its segment's sidecar.
   */
  private appendRaw(payload: string, index: (b: SidecarBuilder, at: Placed) => void, done: (err: Error | null, at: Placed | undefined) => void): void {
    const refused = this.refusal();
    if (refused) return queueMicrotask(() => done(refused, undefined));
    const frame = encodeRecord(payload);
    this.writer!.append(frame, (err, at) => {
      if (!err && at) {
        this.noteRecord(at, frame);
        index(this.builder!, at);
      }
      done(err, at);
    });
  }

  private appendUser(user: KnownUser, guest: boolean, done: Done): void {
    const key = nameKey(user.name);
    const { name, lastSeen } = user;
    this.appendRaw(
      encodeUser(name, lastSeen, guest),
      (b, at) => {
        b.user(name, lastSeen, guest);
        // Not for a user forgotten while the record was in flight: it would pin the segment for nobody.
        if (this.known.get(key) === user && (this.userSeg.get(key) ?? 0) <= at.seg) this.userSeg.set(key, at.seg);
      },
      (err) => done(err),
    );
  }

  /** Every written record passes here first: it seals the previous segment when the writer moved on. */
  private noteRecord(at: Placed, frame: Buffer): void {
    let b = this.builder!;
    if (at.seg !== b.seg) {
      // Once the sealed segment is on disk: a sidecar must never describe bytes a power loss took.
      const sealed = b;
      this.writer!.whenDurable((err) => err || this.writeSidecar(sealed, true, false));
      // Before this record counts as indexed: the snapshot covers the sealed segment exactly, and the
      // heap keeps no more than about one segment's postings. In slices over the next turns, so that
      // no connection waits for the copy. (Search re-reads every hit, so postings of bytes a power loss
      // took are dropped, never served.)
      this.words.freezeInSlices();
      this.builder = b = new SidecarBuilder(at.seg);
      setImmediate(() => this.maybeCompact());
    }
    b.record(at.off, at.len, frameCrc(frame));
    const stats = this.stats(at.seg);
    stats.records++;
    stats.bytes = Math.max(stats.bytes, at.off + at.len);
    this.indexedTo = at.seg * SEG_SPAN + at.off + at.len;
  }

  /** A sidecar is a shortcut, never needed for correctness: written without fsync, errors only logged. */
  private writeSidecar(b: SidecarBuilder, sealed: boolean, sync: boolean): void {
    const bytes = b.encode(sealed);
    if (!bytes) return;
    const fail = (err: Error): void => this.opts.log(`store: could not write ${sidecarName(b.seg)}: ${err.message}`);
    const file = join(this.opts.dir, sidecarName(b.seg));
    if (sync) return writeFileAtomic(file, bytes, true, fail);
    const done = new Promise<void>((resolve) => writeFileAtomic(file, bytes, false, fail, resolve));
    this.sidecarWrites.add(done);
    void done.then(() => this.sidecarWrites.delete(done));
  }

  // ---- reading ----

  private slotOf(conv: ConvKey, seq: number): Slot | undefined {
    const c = this.convs.get(conv);
    if (!c) return undefined;
    const pos = c.index.find(seq);
    return pos < 0 ? undefined : c.index.slot(pos);
  }

  /**
   * The messages at those places, from the cache or the disk, in the order asked. A record that turns
   * out unreadable is logged and dropped from the index (and from the result, or left undefined when
   * `holes` is set). Segments are acquired synchronously, before the first await, so compaction
   * cannot close a file between the index lookup and the read.
   */
  private async readMessages(wanted: Wanted[], holes = false): Promise<ChatMessage[]> {
    if (this.closed) throw new Error('store is closed');
    const out = new Array<ChatMessage | undefined>(wanted.length);
    const bySeg = new Map<number, number[]>();
    for (let i = 0; i < wanted.length; i++) {
      const w = wanted[i]!;
      const hit = this.cache.get(w.conv, w.slot.seq);
      if (hit) out[i] = hit;
      else {
        let list = bySeg.get(w.slot.seg);
        if (!list) bySeg.set(w.slot.seg, (list = []));
        list.push(i);
      }
    }
    const acquired: number[] = [];
    try {
      for (const seg of bySeg.keys()) {
        const err = this.reader.acquire(seg);
        if (err) throw err;
        acquired.push(seg);
      }
      await Promise.all(
        [...bySeg].map(async ([seg, idx]) => {
          const got = await this.reader.read(
            seg,
            idx.map((i) => wanted[i]!.slot),
          );
          for (let k = 0; k < idx.length; k++) {
            const w = wanted[idx[k]!]!;
            const g = got[k]!;
            const rec = 'payload' in g ? decodeRecord(g.payload.toString('utf8')) : undefined;
            if (rec && (rec.t === 'M' || rec.t === 'H') && rec.conv === w.conv && rec.msg.seq === w.slot.seq) {
              out[idx[k]!] = rec.msg;
              this.cache.put(w.conv, rec.msg);
            } else this.unreadable(w, 'damaged' in g ? g.damaged : 'not the message expected');
          }
        }),
      );
    } finally {
      for (const seg of acquired) this.reader.release(seg);
    }
    if (holes) return out as ChatMessage[];
    return out.filter((m): m is ChatMessage => m !== undefined);
  }

  private unreadable(w: Wanted, why: string): void {
    this.opts.log(`store: ${segmentName(w.slot.seg)} byte ${w.slot.off}: ${w.conv} seq ${w.slot.seq} unreadable (${why}); skipped`);
    const c = this.convs.get(w.conv);
    const pos = c ? c.index.find(w.slot.seq) : -1;
    if (!c || pos < 0) return;
    const now = c.index.slot(pos);
    if (now.seg !== w.slot.seg || now.off !== w.slot.off) return;
    c.index.removeAt(pos);
    this.stats(now.seg).live--;
  }

  // ---- compaction ----

  private maybeCompact(): void {
    const writer = this.writer;
    if (this.compacting || this.closed || !writer || writer.broken) return;
    const pinned = this.pinned();
    const budget = this.overBudget(pinned, writer.segment);
    if (budget) return this.run(budget.doomed, budget.tally);
    const doomed: number[] = [];
    for (const id of [...this.segs.keys()].sort((a, b) => a - b)) {
      if (id >= writer.segment) break;
      const s = this.segs.get(id)!;
      // Deleting a segment costs copying its live part: worth it only once at most half is live.
      if ((s.live + (pinned.get(id) ?? 0)) * 2 > s.records) break;
      doomed.push(id);
    }
    if (doomed.length === 0) return;
    this.run(doomed, undefined);
  }

  private run(doomed: number[], tally: DropTally | undefined): void {
    this.compacting = true;
    this.compact(doomed, tally).then(
      (ok) => {
        this.compacting = false;
        if (ok && tally) {
          const { before, max, messages, convs } = tally;
          const names = `${segmentName(doomed[0]!)}${doomed.length > 1 ? `-${segmentName(doomed[doomed.length - 1]!)}` : ''}`;
          this.opts.log(
            `store: over --max-store-bytes (${humanBytes(before)} > ${humanBytes(max)}): dropped the ${messages} oldest messages of ${convs} conversation${convs === 1 ? '' : 's'} with ${names}; now ${humanBytes(this.logBytes())}`,
          );
        }
        if (ok) setImmediate(() => this.maybeCompact());
      },
      (err: Error) => {
        this.compacting = false;
        if (!this.closed) this.opts.log(`store: compaction stopped: ${err.message}`);
      },
    );
  }

  /**
   * Over --max-store-bytes: the oldest sealed segments whose deletion brings the log under the budget;
   * compact() drops their history as it goes (dropHistory). Undefined when under budget, or when what
   * would have to be kept (users, undelivered DMs, each conversation's newest message) is most of those
   * segments: copying it forward would free little, and doing it again and again would churn the disk.
   * O(segments + conversations): the per-message work is compact()'s, which yields as it goes.
   */
  private overBudget(pinned: Map<number, number>, current: number): { doomed: number[]; tally: DropTally } | undefined {
    const max = this.opts.maxBytes ?? 0;
    const before = this.logBytes();
    if (max <= 0 || before <= max) {
      this.budgetStuck = false;
      return undefined;
    }
    const newestIn = new Map<number, number>();
    for (const c of this.convs.values()) {
      if (c.index.count === 0) continue;
      const seg = c.index.segAt(c.index.count - 1);
      newestIn.set(seg, (newestIn.get(seg) ?? 0) + 1);
    }
    const doomed: number[] = [];
    let touched = 0;
    let freed = 0;
    for (const id of [...this.segs.keys()].sort((a, b) => a - b)) {
      if (id >= current || before - freed <= max) break;
      const s = this.segs.get(id)!;
      const kept = s.records > 0 ? Math.min(1, ((pinned.get(id) ?? 0) + (newestIn.get(id) ?? 0)) / s.records) : 0;
      doomed.push(id);
      touched += s.bytes;
      freed += s.bytes * (1 - kept);
    }
    // Only the segment being written: it goes once the writer has moved on from it.
    if (doomed.length === 0) return undefined;
    if (freed * 2 < touched) {
      if (!this.budgetStuck) {
        this.opts.log(
          `store: over --max-store-bytes (${humanBytes(before)} > ${humanBytes(max)}), but the oldest segments hold mostly what must be kept (known users, undelivered DMs, each conversation's newest message); not dropping`,
        );
      }
      this.budgetStuck = true;
      return undefined;
    }
    this.budgetStuck = false;
    return { doomed, tally: { before, max, messages: 0, convs: 0 } };
  }

  /**
   * Drops a conversation's history up to the newest message it has in a doomed segment, as retention
   * would (what stays is a suffix of seqs), but never its newest message.
   */
  private dropHistory(c: Conv, gone: ReadonlySet<number>, tally: DropTally): void {
    let last = -1;
    for (let p = 0; p < c.index.count - 1; p++) if (gone.has(c.index.segAt(p))) last = p;
    if (last < 0) return;
    const alive = (conv: ConvKey, seq: number): boolean => this.slotOf(conv, seq) !== undefined;
    for (let p = 0; p <= last; p++) {
      this.stats(c.index.shift()).live--;
      // The search index learns of each, as of retention's: its sweep then drops their postings.
      this.words.retired(alive);
    }
    if (this.amends.has(c.key)) this.amends.prune(c.key, (s) => c.index.find(s) >= 0);
    tally.messages += last + 1;
    tally.convs++;
  }

  /** Records besides messages still needed per segment: users' newest records, undelivered DMs. */
  private pinned(): Map<number, number> {
    const pinned = new Map<number, number>();
    for (const seg of this.userSeg.values()) pinned.set(seg, (pinned.get(seg) ?? 0) + 1);
    for (const [, e] of this.inboxes.entries()) pinned.set(e.seg, (pinned.get(e.seg) ?? 0) + 1);
    return pinned;
  }

  /** With `tally` (over budget) the doomed segments' history is dropped instead of copied. */
  private async compact(doomed: number[], tally?: DropTally): Promise<boolean> {
    const gone = new Set(doomed);
    const newest = doomed[doomed.length - 1]!;
    for (const c of [...this.convs.values()]) {
      if (tally) this.dropHistory(c, gone, tally);
      // Read the index as it is now: messages may have aged out since the plan was made.
      const slots: Slot[] = [];
      for (let p = 0; p < c.index.count; p++) if (gone.has(c.index.segAt(p))) slots.push(c.index.slot(p));
      for (let i = 0; i < slots.length; i += COPY_SLICE) await this.copyMessages(c, slots.slice(i, i + COPY_SLICE), gone);
      await yieldTurn();
    }
    const users: Promise<void>[] = [];
    for (const [key, seg] of [...this.userSeg]) {
      const user = this.known.get(key);
      if (seg <= newest && user) users.push(new Promise((res, rej) => this.appendUser(user, this.known.isGuest(key), (err) => (err ? rej(err) : res()))));
    }
    await Promise.all(users);
    const entries: [string, InboxEntry][] = [];
    for (const [user, e] of this.inboxes.entries()) if (e.seg <= newest) entries.push([user, e]);
    await Promise.all(entries.map(([user, e]) => this.copyInboxEntry(user, e)));
    await this.appendAsync(BARRIER, () => {});
    // The copies must be on disk before the originals go.
    await new Promise<void>((res, rej) => this.whenDurable((err) => (err ? rej(err) : res())));
    if (this.closed) return false;
    // Nothing may point into a segment about to go; if something does, keep the segments.
    const stillPinned = this.pinned();
    for (const id of doomed) {
      if (this.segs.get(id)!.live > 0 || (stillPinned.get(id) ?? 0) > 0) {
        this.opts.log(`store: compaction left ${segmentName(id)} in place: it is still referenced`);
        return false;
      }
    }
    for (const id of doomed) {
      try {
        fs.unlinkSync(join(this.opts.dir, segmentName(id)));
        fs.rmSync(join(this.opts.dir, sidecarName(id)), { force: true });
      } catch (e) {
        this.opts.log(`store: could not delete ${segmentName(id)}: ${(e as Error).message}`);
      }
      this.reader.retire(id);
      this.segs.delete(id);
    }
    return true;
  }

  /** Reads retained messages from doomed segments and appends copies; the index follows the copies. */
  private async copyMessages(c: Conv, slots: Slot[], gone: Set<number>): Promise<void> {
    const msgs = await this.readMessages(
      slots.map((slot) => ({ conv: c.key, slot })),
      true,
    );
    await Promise.all(
      msgs.map(async (m, i) => {
        if (!m) return;
        const at = await this.appendAsync(encodeMessage('H', c.key, m, undefined), (b, p) => b.message('H', c.key, m.seq, p.off, p.len, undefined, m.ts, m.room));
        const pos = c.index.find(m.seq);
        if (pos < 0 || !gone.has(c.index.segAt(pos)) || slots[i]!.seq !== m.seq) return;
        this.stats(c.index.segAt(pos)).live--;
        c.index.move(pos, at.seg, at.off, at.len);
        this.stats(at.seg).live++;
      }),
    );
  }

  private async copyInboxEntry(user: string, e: InboxEntry): Promise<void> {
    if (this.inboxes.get(user, e.conv, e.seq) !== e) return;
    if (!this.slotOf(e.conv, e.seq)) {
      // Aged out of its conversation: it leaves the inbox instead of being copied.
      this.inboxes.remove(user, [e]);
      return;
    }
    const at = await this.appendAsync(encodeInboxCopy(user, e.conv, e.seq, e.order), (b) => b.inboxCopy(user, e.conv, e.seq, e.order));
    if (this.inboxes.get(user, e.conv, e.seq) === e) e.seg = at.seg;
  }

  private appendAsync(payload: string, index: (b: SidecarBuilder, at: Placed) => void): Promise<Placed> {
    return new Promise((resolve, reject) => this.appendRaw(payload, index, (err, at) => (err || !at ? reject(err ?? new Error('not stored')) : resolve(at))));
  }
}

interface Wanted {
  conv: ConvKey;
  slot: Slot;
}

/** What a compaction over --max-store-bytes dropped, for its log line. */
interface DropTally {
  before: number;
  max: number;
  messages: number;
  convs: number;
}

function yieldTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Total bytes of the segment files in a data directory (for tests and the benchmark). */
export function logBytes(dir: string): number {
  let total = 0;
  for (const f of fs.readdirSync(dir)) if (parseSegmentName(f) !== undefined) total += fs.statSync(join(dir, f)).size;
  return total;
}
