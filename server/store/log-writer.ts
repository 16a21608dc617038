// Appends framed records to numbered segment files with group commit: a record that finds the writer
// idle is written at once; whatever is appended while writes are in flight (or during the rest of
// that turn of the event loop) goes out as one writev, and every callback of a batch runs after it,
// in append order, with the record's place.
//
// Durability costs one system call per batch: with --fsync batch/always the segment is opened
// O_DSYNC, so a write returns once its data (and the file size) are on disk — no separate fdatasync
// and no second trip through the thread pool. Up to PIPELINE batches are in the kernel at once, so a
// record that arrives while a batch is being synced does not wait for that sync before its own starts
// (ext4 syncs them together when it can). Completions are reported strictly in order.
//
// Failure: a failed write (ENOSPC, EIO — with O_DSYNC an fsync failure is reported by the write
// itself) fails that batch and everything behind it, including what is appended while the writer
// recovers: those records were numbered after the failed ones, so letting them through would leave a
// gap. Before anyone is told, the segment is truncated back to the end of the last durable record and
// that truncation is made durable (fsync), so a failed record can never be read back — not now and not
// by a replay after a restart, even though its bytes may have reached the disk. Then the failures are
// reported, oldest first, and writing resumes at the durable end. If the truncation or its fsync fails
// too, the writer is broken: every later append fails until a restart (the failed records' bytes may
// then survive a power loss; nothing can be done about that without a working disk).
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { FsyncMode } from '../config.js';

/** Where a record landed: segment id, byte offset of its frame, frame length. */
export interface Placed {
  seg: number;
  off: number;
  len: number;
}

export type Written = (err: Error | null, at: Placed | undefined) => void;

/** The asynchronous file operations the writer uses; tests substitute them to count or fail calls. */
export interface LogIo {
  open(path: string, flags: number, cb: (err: Error | null, fd: number) => void): void;
  writev(fd: number, bufs: Buffer[], position: number, cb: (err: Error | null, written: number) => void): void;
  fsync(fd: number, cb: (err: Error | null) => void): void;
  ftruncate(fd: number, length: number, cb: (err: Error | null) => void): void;
}

export const nodeIo: LogIo = {
  open: (path, flags, cb) => fs.open(path, flags, 0o644, (err, fd) => cb(err, fd)),
  writev: (fd, bufs, position, cb) => fs.writev(fd, bufs, position, (err, n) => cb(err, n)),
  // fdatasync flushes the file size too, which is all an append or a truncation needs.
  fsync: (fd, cb) => fs.fdatasync(fd, (err) => cb(err)),
  ftruncate: (fd, length, cb) => fs.ftruncate(fd, length, (err) => cb(err)),
};

/** One batch write is capped so a burst cannot build one huge iovec. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_RECORDS = 1024;
/** Batches in the kernel at once. Two lets a new batch start while the previous one syncs. */
const PIPELINE = 2;

export function segmentName(id: number): string {
  return `${String(id).padStart(10, '0')}.log`;
}

export function parseSegmentName(file: string): number | undefined {
  const m = /^(\d{1,10})\.log$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

export function segmentFlags(fsync: FsyncMode, create: boolean): number {
  const c = fs.constants;
  return c.O_RDWR | (create ? c.O_CREAT : 0) | (fsync === 'off' ? 0 : c.O_DSYNC);
}

interface Pending {
  buf: Buffer;
  done: Written;
}

interface Batch {
  records: Pending[];
  pos: number;
  bytes: number;
  settled: boolean;
  err: Error | null;
}

export interface LogWriterOptions {
  dir: string;
  fsync: FsyncMode;
  segmentBytes: number;
  io: LogIo;
  /** The segment to continue: open (flags from segmentFlags), holding `size` good bytes. */
  segment: number;
  fd: number;
  size: number;
  /** A callback threw: the writer carries on, the server decides what to do about the bug. */
  onCallbackError: (err: unknown) => void;
}

type State = 'ok' | 'rolling' | 'recovering' | 'broken';

export class LogWriter {
  /** Pending records are queue[head..]; a head index because shifting a long array is O(n) each time. */
  private queue: Pending[] = [];
  private head = 0;
  private inflight: Batch[] = [];
  private scheduled = false;
  private state: State = 'ok';
  private brokenErr: Error | undefined;
  /** The failure being recovered from, reported to every record that fails with it. */
  private failure: Error | undefined;
  private seg: number;
  private fd: number;
  /** End of the bytes handed to the kernel, and end of the last durable record, in `seg`. */
  private issued: number;
  private durable: number;
  private dirFd: number | undefined;
  private closing = false;
  private idle: (() => void)[] = [];

  constructor(private readonly opts: LogWriterOptions) {
    this.seg = opts.segment;
    this.fd = opts.fd;
    this.issued = this.durable = opts.size;
    if (opts.fsync !== 'off') this.dirFd = fs.openSync(opts.dir, 'r');
  }

  /** The segment being written; every lower one is sealed (never written again). */
  get segment(): number {
    return this.seg;
  }

  /** Set once the writer refuses every append until a restart. */
  get broken(): Error | undefined {
    return this.brokenErr;
  }

  append(buf: Buffer, done: Written): void {
    const refused = this.closing ? new Error('store is closed') : this.brokenErr;
    if (refused) return queueMicrotask(() => done(refused, undefined));
    this.queue.push({ buf, done });
    if (this.scheduled || this.state !== 'ok') return;
    if (this.inflight.length === 0 && this.pendingCount() === 1) {
      // Idle: waiting for the end of this I/O phase would only delay this record; what arrives while
      // it is written goes out together in the next batch.
      return this.flush();
    }
    this.scheduled = true;
    // Busy: every append made by the callbacks of this I/O phase joins one batch.
    setImmediate(() => this.flush());
  }

  /** Writes everything queued, calls every pending callback, and closes the files. */
  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.idle.push(() => {
        fs.closeSync(this.fd);
        if (this.dirFd !== undefined) fs.closeSync(this.dirFd);
        resolve();
      });
      this.flush();
      this.maybeIdle();
    });
  }

  private pendingCount(): number {
    return this.queue.length - this.head;
  }

  private takeQueued(n: number): Pending[] {
    const out = this.queue.slice(this.head, this.head + n);
    this.head += n;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  private flush(): void {
    this.scheduled = false;
    while (this.state === 'ok' && this.inflight.length < PIPELINE && this.pendingCount() > 0) {
      const q = this.queue;
      const first = q[this.head]!;
      if (this.issued > 0 && this.issued + first.buf.length > this.opts.segmentBytes) {
        // A batch never spans segments; roll once the current segment's batches are all settled.
        if (this.inflight.length === 0) this.roll();
        return;
      }
      const max = this.opts.fsync === 'always' ? 1 : MAX_BATCH_RECORDS;
      let n = 0;
      let bytes = 0;
      while (n < max && this.head + n < q.length) {
        const len = q[this.head + n]!.buf.length;
        if (n > 0 && (bytes + len > MAX_BATCH_BYTES || this.issued + bytes + len > this.opts.segmentBytes)) break;
        bytes += len;
        n++;
      }
      const batch: Batch = { records: this.takeQueued(n), pos: this.issued, bytes, settled: false, err: null };
      this.issued += bytes;
      this.inflight.push(batch);
      this.writeAll(batch, batch.records.map((p) => p.buf), batch.pos, bytes);
    }
  }

  private writeAll(batch: Batch, bufs: Buffer[], position: number, remaining: number): void {
    this.opts.io.writev(this.fd, bufs, position, (err, written) => {
      if (!err && written < remaining) {
        if (written <= 0) err = new Error('write made no progress');
        else return this.writeAll(batch, rest(bufs, written), position + written, remaining - written);
      }
      batch.settled = true;
      batch.err = err;
      this.settle();
    });
  }

  /** Reports settled batches from the oldest on; stops at the first failure and recovers from it. */
  private settle(): void {
    if (this.state === 'recovering') return this.maybeRecover();
    while (this.inflight.length > 0 && this.inflight[0]!.settled) {
      const b = this.inflight[0]!;
      if (b.err) {
        this.state = 'recovering';
        this.failure = b.err;
        return this.maybeRecover();
      }
      this.inflight.shift();
      this.durable = b.pos + b.bytes;
      let off = b.pos;
      for (const p of b.records) {
        const at: Placed = { seg: this.seg, off, len: p.buf.length };
        off += p.buf.length;
        this.call(p.done, null, at);
      }
    }
    this.flush();
    this.maybeIdle();
  }

  /** Once every batch in the kernel has settled: cut back to the durable end, make that durable. */
  private maybeRecover(): void {
    if (this.inflight.some((b) => !b.settled)) return;
    const io = this.opts.io;
    io.ftruncate(this.fd, this.durable, (truncErr) => {
      if (truncErr || this.opts.fsync === 'off') return this.recovered(truncErr);
      io.fsync(this.fd, (syncErr) => this.recovered(syncErr));
    });
  }

  private recovered(err: Error | null): void {
    const failure = this.failure!;
    this.failure = undefined;
    if (err) {
      this.brokenErr = new Error(`store write failed (${failure.message}) and could not be undone (${err.message}); restart the server`);
    }
    this.state = this.brokenErr ? 'broken' : 'ok';
    this.issued = this.durable;
    // Everything written after the durable end, and everything appended since: numbered on top of the
    // failed records, so it fails with them, oldest first.
    const failed = this.inflight.flatMap((b) => b.records);
    this.inflight = [];
    failed.push(...this.takeQueued(this.pendingCount()));
    for (const p of failed) this.call(p.done, failure, undefined);
    this.flush();
    this.maybeIdle();
  }

  /** Starts the next segment: create it, make its directory entry durable, then write into it. */
  private roll(): void {
    this.state = 'rolling';
    const next = this.seg + 1;
    const io = this.opts.io;
    io.open(join(this.opts.dir, segmentName(next)), segmentFlags(this.opts.fsync, true), (openErr, fd) => {
      if (openErr) return this.rollFailed(openErr, undefined);
      const switchTo = (): void => {
        fs.close(this.fd, () => {});
        this.seg = next;
        this.fd = fd;
        this.issued = this.durable = 0;
        this.state = 'ok';
        this.flush();
        this.maybeIdle();
      };
      if (this.dirFd === undefined) return switchTo();
      io.fsync(this.dirFd, (dirErr) => (dirErr ? this.rollFailed(dirErr, fd) : switchTo()));
    });
  }

  /** Nothing was written; the queued records fail (they were numbered) and the next flush retries. */
  private rollFailed(err: Error, fd: number | undefined): void {
    if (fd !== undefined) fs.close(fd, () => {});
    this.state = 'ok';
    for (const p of this.takeQueued(this.pendingCount())) this.call(p.done, err, undefined);
    this.flush();
    this.maybeIdle();
  }

  private call(done: Written, err: Error | null, at: Placed | undefined): void {
    try {
      done(err, at);
    } catch (e) {
      // One throwing callback must not strand the rest of the batch.
      this.opts.onCallbackError(e);
    }
  }

  private maybeIdle(): void {
    if (!this.closing || this.inflight.length > 0 || this.pendingCount() > 0 || this.state === 'rolling' || this.state === 'recovering') return;
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }
}

/** The buffers left after the first `written` bytes of `bufs`. */
function rest(bufs: Buffer[], written: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = written;
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
