// Appends framed records to numbered segment files with group commit: whatever was appended while the
// previous write+fsync ran (or during the current event-loop turn) goes out as one write and one
// fsync, and then every callback of that batch runs, in append order.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { FsyncMode } from '../config.js';

export type WriteDone = (err: Error | null) => void;

/** The asynchronous file operations the writer uses; tests substitute them to count or fail calls. */
export interface LogIo {
  write(fd: number, buf: Buffer, offset: number, length: number, position: number, cb: (err: Error | null, written: number) => void): void;
  fsync(fd: number, cb: (err: Error | null) => void): void;
  ftruncate(fd: number, length: number, cb: (err: Error | null) => void): void;
}

export const nodeIo: LogIo = {
  write: (fd, buf, offset, length, position, cb) => fs.write(fd, buf, offset, length, position, (err, n) => cb(err, n)),
  // fdatasync flushes the file size too, which is all an append needs.
  fsync: (fd, cb) => fs.fdatasync(fd, (err) => cb(err)),
  ftruncate: (fd, length, cb) => fs.ftruncate(fd, length, (err) => cb(err)),
};

/** One batch write is capped so a burst cannot build one huge buffer. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export function segmentName(id: number): string {
  return `${String(id).padStart(10, '0')}.log`;
}

export function parseSegmentName(file: string): number | undefined {
  const m = /^(\d{1,15})\.log$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

interface Pending {
  buf: Buffer;
  seg: number;
  done: WriteDone;
}

export interface LogWriterOptions {
  dir: string;
  fsync: FsyncMode;
  segmentBytes: number;
  io: LogIo;
  /** The segment to continue (it exists and holds `size` good bytes), or a new one to create. */
  segment: number;
  size: number;
  exists: boolean;
}

export class LogWriter {
  /** Pending records are queue[head..]; a head index because shifting a long array is O(n) each time. */
  private queue: Pending[] = [];
  private head = 0;
  private busy = false;
  private scheduled = false;
  /** Segment that appends go to, and its size counting queued records. */
  private appendSeg: number;
  private appendSize: number;
  private fd: number | undefined;
  private fdSeg: number;
  private fdSize: number;
  private dirFd: number | undefined;
  /** A new segment's directory entry must be fsynced before records in it count as durable. */
  private dirDirty = false;
  /** After a failed fsync the kernel may have dropped dirty pages: nothing written later can be trusted. */
  private broken: Error | undefined;
  private closed = false;
  private idle: (() => void)[] = [];

  constructor(private readonly opts: LogWriterOptions) {
    this.appendSeg = opts.segment;
    this.appendSize = opts.size;
    this.fdSeg = opts.segment;
    this.fdSize = opts.size;
    if (opts.exists) this.fd = fs.openSync(join(opts.dir, segmentName(opts.segment)), 'r+');
    if (opts.fsync !== 'off') this.dirFd = fs.openSync(opts.dir, 'r');
  }

  get segment(): number {
    return this.appendSeg;
  }

  /** Queues a framed record; returns the segment and offset it will occupy. */
  append(buf: Buffer, done: WriteDone): { seg: number; offset: number } {
    if (this.closed) {
      queueMicrotask(() => done(new Error('store is closed')));
      return { seg: this.appendSeg, offset: this.appendSize };
    }
    if (this.appendSize > 0 && this.appendSize + buf.length > this.opts.segmentBytes) {
      this.appendSeg++;
      this.appendSize = 0;
    }
    const at = { seg: this.appendSeg, offset: this.appendSize };
    this.appendSize += buf.length;
    this.queue.push({ buf, seg: at.seg, done });
    if (!this.busy && !this.scheduled) {
      this.scheduled = true;
      // One turn of the loop: every append made by the callbacks of this I/O phase joins the batch.
      setImmediate(() => this.flush());
    }
    return at;
  }

  /** Writes everything queued, calls every pending done, and closes the files. */
  close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      const finish = (): void => {
        if (this.fd !== undefined) fs.closeSync(this.fd);
        if (this.dirFd !== undefined) fs.closeSync(this.dirFd);
        this.fd = this.dirFd = undefined;
        resolve();
      };
      if (!this.busy && this.pendingCount() === 0) finish();
      else {
        this.idle.push(finish);
        if (!this.busy && !this.scheduled) this.flush();
      }
    });
  }

  private pendingCount(): number {
    return this.queue.length - this.head;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.busy || this.pendingCount() === 0) return;
    const q = this.queue;
    const first = q[this.head]!;
    const end = this.opts.fsync === 'always' ? this.head + 1 : q.length;
    let i = this.head;
    let bytes = 0;
    while (i < end && q[i]!.seg === first.seg && (i === this.head || bytes + q[i]!.buf.length <= MAX_BATCH_BYTES)) {
      bytes += q[i]!.buf.length;
      i++;
    }
    const batch = q.slice(this.head, i);
    const n = batch.length;
    this.head = i;
    if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    this.busy = true;
    if (this.broken) return this.finish(batch, this.broken);
    let fd: number;
    try {
      fd = this.fdFor(first.seg);
    } catch (err) {
      return this.finish(batch, err as Error);
    }
    const buf = n === 1 ? first.buf : Buffer.concat(batch.map((p) => p.buf), bytes);
    const pos = this.fdSize;
    this.writeAll(fd, buf, 0, pos, (err) => {
      if (err) {
        // Cut the partial write off so later records are not appended after garbage.
        this.appendSize -= bytes;
        this.opts.io.ftruncate(fd, pos, () => this.finish(batch, err));
        return;
      }
      this.fdSize = pos + bytes;
      if (this.opts.fsync === 'off') return this.finish(batch, null);
      this.opts.io.fsync(fd, (syncErr) => {
        if (syncErr) {
          this.broken = new Error(`fsync failed (${syncErr.message}); restart the server`);
          return this.finish(batch, syncErr);
        }
        if (!this.dirDirty || this.dirFd === undefined) return this.finish(batch, null);
        this.opts.io.fsync(this.dirFd, (dirErr) => {
          if (!dirErr) this.dirDirty = false;
          this.finish(batch, dirErr);
        });
      });
    });
  }

  private writeAll(fd: number, buf: Buffer, offset: number, position: number, cb: (err: Error | null) => void): void {
    this.opts.io.write(fd, buf, offset, buf.length - offset, position, (err, written) => {
      if (err) return cb(err);
      if (offset + written >= buf.length) return cb(null);
      if (written === 0) return cb(new Error('write made no progress'));
      this.writeAll(fd, buf, offset + written, position + written, cb);
    });
  }

  private fdFor(seg: number): number {
    if (this.fd !== undefined && this.fdSeg === seg) return this.fd;
    const fd = fs.openSync(join(this.opts.dir, segmentName(seg)), 'w');
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = fd;
    this.fdSeg = seg;
    this.fdSize = 0;
    this.dirDirty = true;
    return fd;
  }

  private finish(batch: Pending[], err: Error | null): void {
    this.busy = false;
    for (const p of batch) {
      try {
        p.done(err);
      } catch (e) {
        // One throwing callback must not strand the rest of the batch.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    if (this.pendingCount() > 0) {
      if (!this.scheduled) this.flush();
    } else {
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    }
  }
}
