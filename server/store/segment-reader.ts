// Reads records back from segment files by position, asynchronously (pread on the thread pool). One
// read-only descriptor per segment, opened on first use and counted while reads use it, so compaction
// can unlink a segment while a history page is still being read from it: the descriptor is closed
// once the last such read is done. Records close together in one segment are fetched with one read.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { HEADER_BYTES, validAt } from './log-format.js';
import { segmentName } from './log-writer.js';

/** Records whose gap is at most this are read together (one syscall beats two for small gaps). */
const COALESCE_GAP = 16 * 1024;
const MAX_READ = 1024 * 1024;

interface Handle {
  fd: number;
  users: number;
  retired: boolean;
}

export interface Want {
  off: number;
  len: number;
}

/** A record's payload bytes, or why there are none (the frame at that place is not a valid record). */
export type Got = { payload: Buffer } | { damaged: string };

export class SegmentReader {
  private readonly handles = new Map<number, Handle>();

  constructor(private readonly dir: string) {}

  /**
   * Takes a reference on a segment's descriptor; call release() once done with it. Synchronous so a
   * caller that looked a position up in the index holds the file before anything can retire it.
   */
  acquire(seg: number): Error | undefined {
    let h = this.handles.get(seg);
    if (!h) {
      try {
        // Opened once per segment per process: a few microseconds, not worth a thread-pool trip.
        h = { fd: fs.openSync(join(this.dir, segmentName(seg)), 'r'), users: 0, retired: false };
      } catch (err) {
        return err as Error;
      }
      this.handles.set(seg, h);
    }
    h.users++;
    return undefined;
  }

  release(seg: number): void {
    const h = this.handles.get(seg);
    if (!h) return;
    if (--h.users === 0 && h.retired) this.closeHandle(seg, h);
  }

  /** The segment is being deleted: close its descriptor now or after the reads using it. */
  retire(seg: number): void {
    const h = this.handles.get(seg);
    if (!h) return;
    h.retired = true;
    if (h.users === 0) this.closeHandle(seg, h);
  }

  /** Closes every descriptor; one still used by a read closes when that read is done (never under it:
   * the number could be reused by another file and the read would return that file's bytes). */
  closeAll(): void {
    for (const seg of [...this.handles.keys()]) this.retire(seg);
  }

  /** Reads records of one (acquired) segment; results in the order asked. */
  async read(seg: number, wants: readonly Want[]): Promise<Got[]> {
    const h = this.handles.get(seg);
    if (!h) throw new Error(`segment ${seg} is not open`);
    const order = wants.map((_, i) => i).sort((a, b) => wants[a]!.off - wants[b]!.off);
    const out = new Array<Got>(wants.length);
    const runs: number[][] = [];
    let run: number[] = [];
    let runStart = 0;
    let runEnd = 0;
    for (const i of order) {
      const w = wants[i]!;
      if (run.length > 0 && w.off - runEnd <= COALESCE_GAP && w.off + w.len - runStart <= MAX_READ) {
        run.push(i);
        runEnd = Math.max(runEnd, w.off + w.len);
      } else {
        if (run.length > 0) runs.push(run);
        run = [i];
        runStart = w.off;
        runEnd = w.off + w.len;
      }
    }
    if (run.length > 0) runs.push(run);
    await Promise.all(
      runs.map(async (r) => {
        const start = wants[r[0]!]!.off;
        const end = Math.max(...r.map((i) => wants[i]!.off + wants[i]!.len));
        const buf = await pread(h.fd, start, end - start);
        for (const i of r) out[i] = frame(buf, wants[i]!.off - start, wants[i]!.len);
      }),
    );
    return out;
  }

  private closeHandle(seg: number, h: Handle): void {
    this.handles.delete(seg);
    fs.close(h.fd, () => {});
  }
}

function frame(buf: Buffer, at: number, len: number): Got {
  if (at + len > buf.length) return { damaged: 'beyond the end of the file' };
  const payload = validAt(buf.subarray(0, at + len), at);
  if (payload !== len - HEADER_BYTES) return { damaged: 'bad frame or CRC' };
  return { payload: buf.subarray(at + HEADER_BYTES, at + len) };
}

function pread(fd: number, position: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    const step = (): void => {
      fs.read(fd, buf, got, length - got, position + got, (err, n) => {
        if (err) return reject(err);
        got += n;
        if (n === 0 || got === length) return resolve(buf.subarray(0, got));
        step();
      });
    };
    step();
  });
}
