// Appends framed records to numbered segment files. Two moments matter for a record, and they are
// reported apart:
//
// - written: the bytes are in the kernel (one synchronous writev per batch). From then on the record
//   survives a crash of this process (kill -9 included), so it may be numbered, indexed, served and
//   delivered to readers. A batch is what one task appends (the requests of one socket read), written
//   in a microtask right after it.
// - durable: an fdatasync that started after the record was written has returned, so it survives a
//   power loss too. Acks wait for this (whenDurable). One fdatasync covers everything written before
//   it started (group commit); what is written while it runs waits for the next one, started when it
//   returns but no sooner than COMMIT_INTERVAL_MS after its start; a record that finds the disk quiet
//   is synced at once. The interval is there because each fdatasync costs CPU besides its wait (the
//   journal commit, the device flush and its interrupts, much of it charged to whatever runs then): on
//   the chatty benchmark back-to-back commits (~1,200/s) cost the server ~20-30 % more CPU than
//   --memory, against ~3 % with fsync off, and at one commit per 5 ms at most about half that, for
//   acks at most 5 ms later under load. With --fsync always each sync covers one record, without
//   delay; with off, written is durable.
//
// Delivery therefore never waits for the disk, only an ack does: that is what keeps a chat's latency
// at the speed of the network while the ack still means "on disk".
//
// Failure: a failed or short write fails that batch and everything queued behind it (they were
// numbered after it, so letting them through would leave a gap); the segment is cut back to the end
// of the last written record and writing goes on there, so the failed records' seqs are handed back
// and nothing of them is ever read. A failed fdatasync is different: the kernel may already have
// dropped the dirty pages it could not write, so a retry could report success for data that is gone
// (PostgreSQL's "fsyncgate"), and the records it covered may already have been delivered, so they
// cannot be refused either (a refused message is never seen). onSyncFailure hears it first: the
// server exits there, as PostgreSQL does, and its restart replays what really reached the disk.
// Without it (tests), the writer is broken: every waiter and every later append fails.
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
export type Synced = (err: Error | null) => void;

/** The file operations the writer uses; tests substitute them to count or fail calls. */
export interface LogIo {
  /** Opens (creating) a segment; throws on failure. */
  open(path: string, flags: number): number;
  /** Writes at `position`; returns the bytes written (a short count is a failure); throws on failure. */
  writev(fd: number, bufs: Buffer[], position: number): number;
  /** The only slow operation, so the only asynchronous one. */
  fsync(fd: number, cb: (err: Error | null) => void): void;
  ftruncate(fd: number, length: number): void;
}

export const nodeIo: LogIo = {
  open: (path, flags) => fs.openSync(path, flags, 0o644),
  writev: (fd, bufs, position) => fs.writevSync(fd, bufs, position),
  // fdatasync flushes the file size too, which is all an append or a truncation needs.
  fsync: (fd, cb) => fs.fdatasync(fd, (err) => cb(err)),
  ftruncate: (fd, length) => fs.ftruncateSync(fd, length),
};

/** With --fsync batch, group commits start at most this often (see the file comment). */
export const COMMIT_INTERVAL_MS = 5;

/** One batch write is capped so a burst cannot build one huge iovec. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_RECORDS = 1024;

export function segmentName(id: number): string {
  return `${String(id).padStart(10, '0')}.log`;
}

export function parseSegmentName(file: string): number | undefined {
  const m = /^(\d{1,10})\.log$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

export function segmentFlags(create: boolean): number {
  const c = fs.constants;
  return c.O_RDWR | (create ? c.O_CREAT : 0);
}

interface Pending {
  buf: Buffer;
  done: Written;
}

/** A whenDurable caller: called once `mark` records (counted from the start) are durable. */
interface Waiter {
  mark: number;
  done: Synced;
}

export interface LogWriterOptions {
  dir: string;
  fsync: FsyncMode;
  segmentBytes: number;
  io: LogIo;
  /** With --fsync batch, the least time between two syncs' starts (COMMIT_INTERVAL_MS by default). */
  commitIntervalMs?: number;
  /** The segment to continue: open (flags from segmentFlags), holding `size` good bytes. */
  segment: number;
  fd: number;
  size: number;
  /** A callback threw: the writer carries on, the server decides what to do about the bug. */
  onCallbackError: (err: unknown) => void;
  /** An fdatasync failed; called before any waiter hears of it. */
  onSyncFailure?: (err: Error) => void;
}

export class LogWriter {
  /** Pending records are queue[head..]; a head index because shifting a long array is O(n) each time. */
  private queue: Pending[] = [];
  private head = 0;
  private scheduled = false;
  private brokenErr: Error | undefined;
  private seg: number;
  private fd: number;
  /** End of the written bytes in `seg`. */
  private size: number;
  /**
   * Records appended, and of those how many have passed the write (written, or failed: a failed one
   * holds up no waiter) and the sync, counted from the start: the marks whenDurable waits for.
   */
  private appended = 0;
  private written = 0;
  private durable = 0;
  private waiters: Waiter[] = [];
  private syncing = false;
  /** When the last sync started (performance.now()), and the timer waiting to start the next. */
  private lastSyncStart = -Infinity;
  private syncTimer: NodeJS.Timeout | undefined;
  /** Files written since the last sync: rolled-from segments are closed once synced. */
  private dirty: number[] = [];
  /** A new segment's directory entry is not yet durable. */
  private dirDirty = false;
  private readonly dirFd: number | undefined;
  private closing = false;
  private idle: (() => void)[] = [];

  constructor(private readonly opts: LogWriterOptions) {
    this.seg = opts.segment;
    this.fd = opts.fd;
    this.size = opts.size;
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
    this.appended++;
    if (this.scheduled) return;
    this.scheduled = true;
    // What this task appends (the requests of one socket read) is one batch, written as soon as the
    // task is over: a message waits for no other socket's work, as it would not with the memory store.
    // (Batching a whole I/O phase saved syscalls but made each message wait for the rest of the phase,
    // which showed as a tail on chatty rooms.)
    queueMicrotask(() => this.flush());
  }

  /**
   * Calls `done` once every record appended so far is durable (per --fsync), or with the error that
   * broke the writer. Waiters are called in the order they asked.
   */
  whenDurable(done: Synced): void {
    if (this.brokenErr) return queueMicrotask(() => done(this.brokenErr!));
    if (this.durable >= this.appended) return queueMicrotask(() => done(null));
    this.waiters.push({ mark: this.appended, done });
    this.sync();
  }

  /** Writes everything queued, waits until it is durable, calls every pending callback, closes. */
  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.idle.push(() => {
        for (const fd of this.dirty) if (fd !== this.fd) fs.closeSync(fd);
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

  /**
   * Writes every queued record, batch by batch, then reports every outcome in append order. Never
   * from inside append(), so a failure is reported before anything else can be appended: what a
   * failure callback appends takes the freed seqs and is written normally.
   */
  private flush(): void {
    this.scheduled = false;
    // Outcomes are reported together, in append order, after the writing.
    const reports: [Pending, Placed | undefined, Error | null][] = [];
    const fail = (failed: Pending[], err: Error): void => {
      for (const p of failed) reports.push([p, undefined, err]);
      this.written += failed.length;
    };
    while (!this.brokenErr && this.pendingCount() > 0) {
      const q = this.queue;
      if (this.size > 0 && this.size + q[this.head]!.buf.length > this.opts.segmentBytes) {
        const err = this.roll();
        if (err) {
          // Nothing was written; the queued records fail (they were numbered) and the next append retries.
          fail(this.takeQueued(this.pendingCount()), err);
          break;
        }
      }
      const max = this.opts.fsync === 'always' ? 1 : MAX_BATCH_RECORDS;
      let n = 0;
      let bytes = 0;
      while (n < max && this.head + n < q.length) {
        const len = q[this.head + n]!.buf.length;
        if (n > 0 && (bytes + len > MAX_BATCH_BYTES || this.size + bytes + len > this.opts.segmentBytes)) break;
        bytes += len;
        n++;
      }
      const batch = this.takeQueued(n);
      const err = this.writeBatch(batch, bytes);
      if (err) {
        // Everything behind the failed batch was numbered on top of it: it fails with it, oldest first.
        fail(batch.concat(this.takeQueued(this.pendingCount())), err);
        break;
      }
      let off = this.size;
      for (const p of batch) {
        reports.push([p, { seg: this.seg, off, len: p.buf.length }, null]);
        off += p.buf.length;
      }
      this.size = off;
      this.written += batch.length;
      if (this.opts.fsync !== 'off' && !this.dirty.includes(this.fd)) this.dirty.push(this.fd);
    }
    if (this.opts.fsync === 'off') this.durable = this.written;
    for (const [p, at, err] of reports) this.call(p.done, err, at);
    if (this.brokenErr) this.failWaiters(this.brokenErr);
    this.settleWaiters();
    this.sync();
    this.maybeIdle();
  }

  /** One writev of a batch at the end of the segment; on failure the segment is cut back. */
  private writeBatch(batch: Pending[], bytes: number): Error | undefined {
    const io = this.opts.io;
    let err: Error | undefined;
    try {
      const n = io.writev(this.fd, batch.map((p) => p.buf), this.size);
      if (n !== bytes) err = new Error(`short write (${n} of ${bytes} bytes): the disk may be full`);
    } catch (e) {
      err = e as Error;
    }
    if (!err) return undefined;
    try {
      io.ftruncate(this.fd, this.size);
    } catch (truncErr) {
      this.brokenErr = new Error(`store write failed (${err.message}) and could not be undone (${(truncErr as Error).message}); restart the server`);
    }
    return err;
  }

  /**
   * Starts the next segment (the previous one is synced and closed by the next sync, which also makes
   * the new directory entry durable). The error when it cannot be created.
   */
  private roll(): Error | undefined {
    const next = this.seg + 1;
    let fd: number;
    try {
      fd = this.opts.io.open(join(this.opts.dir, segmentName(next)), segmentFlags(true));
    } catch (err) {
      return err as Error;
    }
    if (this.opts.fsync === 'off') fs.close(this.fd, () => {});
    else if (!this.dirty.includes(this.fd)) this.dirty.push(this.fd);
    this.seg = next;
    this.fd = fd;
    this.size = 0;
    this.dirDirty = this.dirFd !== undefined;
    return undefined;
  }

  /** One group commit at a time: every file written since the last one, then the directory. */
  private sync(): void {
    if (this.syncing || this.brokenErr || this.opts.fsync === 'off' || this.written <= this.durable) return;
    if (this.opts.fsync === 'batch' && !this.closing) {
      const wait = this.lastSyncStart + (this.opts.commitIntervalMs ?? COMMIT_INTERVAL_MS) - performance.now();
      if (wait > 0) {
        this.syncTimer ??= setTimeout(() => {
          this.syncTimer = undefined;
          this.sync();
        }, wait);
        return;
      }
      this.lastSyncStart = performance.now();
    }
    // A shutdown does not wait for the interval: a timer set before it is moot.
    if (this.syncTimer) {
      clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
    }
    this.syncing = true;
    const mark = this.opts.fsync === 'always' ? this.durable + 1 : this.written;
    const fds = this.dirty;
    this.dirty = [];
    const dir = this.dirDirty ? this.dirFd : undefined;
    this.dirDirty = false;
    const steps = dir === undefined ? fds : [...fds, dir];
    let i = 0;
    const next = (err: Error | null): void => {
      if (err) return this.syncFailed(err, fds);
      if (i < steps.length) return this.opts.io.fsync(steps[i++]!, next);
      this.syncing = false;
      this.closeRetired(fds);
      // With `always`, a sync covers one record: the current file stays dirty for the next one.
      if (mark < this.written && !this.dirty.includes(this.fd)) this.dirty.push(this.fd);
      this.durable = mark;
      this.settleWaiters();
      this.sync();
      this.maybeIdle();
    };
    next(null);
  }

  private syncFailed(err: Error, fds: number[]): void {
    this.syncing = false;
    this.closeRetired(fds);
    this.brokenErr = new Error(`store sync failed (${err.message}); what was not yet on disk may be lost; restart the server`);
    this.opts.onSyncFailure?.(this.brokenErr);
    const failed = this.takeQueued(this.pendingCount());
    for (const p of failed) this.call(p.done, this.brokenErr, undefined);
    this.failWaiters(this.brokenErr);
    this.maybeIdle();
  }

  /** Rolled-from segments that were just synced and were not written since are done with. */
  private closeRetired(fds: number[]): void {
    for (const fd of fds) if (fd !== this.fd && !this.dirty.includes(fd)) fs.close(fd, () => {});
  }

  private settleWaiters(): void {
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.mark <= this.durable) n++;
    if (n === 0) return;
    const ready = this.waiters.splice(0, n);
    for (const w of ready) this.callSynced(w.done, null);
  }

  private failWaiters(err: Error): void {
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) this.callSynced(w.done, err);
  }

  private call(done: Written, err: Error | null, at: Placed | undefined): void {
    try {
      done(err, at);
    } catch (e) {
      // One throwing callback must not strand the rest of the batch.
      this.opts.onCallbackError(e);
    }
  }

  private callSynced(done: Synced, err: Error | null): void {
    try {
      done(err);
    } catch (e) {
      this.opts.onCallbackError(e);
    }
  }

  private maybeIdle(): void {
    if (!this.closing || this.syncing || this.pendingCount() > 0) return;
    if (!this.brokenErr && this.opts.fsync !== 'off' && this.written > this.durable) return this.sync();
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }
}
