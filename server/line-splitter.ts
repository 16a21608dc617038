// Newline-delimited framing for the TCP transport. Input may arrive in any chunking (one byte at a
// time works); a line is checked against the limit while it accumulates, so an endless line costs at
// most `maxLineBytes` of memory: once over, it is discarded up to its newline and reported once.
//
// A line that arrives within one chunk is handed on as a slice of it (zero-copy); one that spans
// chunks is copied into one growing buffer (ws/gather.ts), so tiny TCP segments cost their bytes, not
// a Buffer object each.
import { ByteGather } from './ws/gather.js';

export interface LineSink {
  /** One line without its CR LF. `bytes` is valid only during the call: copy what must outlive it. */
  line(bytes: Buffer): void;
  tooLong(): void;
}

const LF = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  /** The line so far, once it spans chunks; undefined between lines, so an idle connection holds nothing. */
  private partial: ByteGather | undefined;
  private discarding = false;
  /** Set by pause(): nothing more is handed to the sink until resume(). */
  private paused = false;
  /**
   * What arrived but was not parsed because of a pause: the rest of a chunk as a slice of it, then any
   * chunk pushed while paused (the owner stops reading, so these are few), in order.
   */
  private kept: Buffer[] | undefined;

  constructor(
    private readonly maxLineBytes: number,
    private readonly sink: LineSink,
  ) {}

  /** Bytes of memory held for a line not yet complete. */
  get heldBytes(): number {
    let held = this.partial?.capacity ?? 0;
    for (const k of this.kept ?? []) held += k.length;
    return held;
  }

  push(chunk: Buffer): void {
    if (this.paused) (this.kept ??= []).push(chunk);
    else this.scan(chunk);
  }

  /**
   * Stops handing lines to the sink at once, even in the middle of a chunk (the sink may call it):
   * the rest of the chunk is kept as a slice, unparsed, until resume().
   */
  pause(): void {
    this.paused = true;
  }

  /** Continues with the kept input, synchronously: the sink may be called before it returns. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const kept = this.kept;
    this.kept = undefined;
    if (!kept) return;
    for (let i = 0; i < kept.length; i++) {
      this.scan(kept[i]!);
      if (this.paused) {
        // Paused again: the rest of this chunk was kept by scan(); the chunks after it follow.
        if (i + 1 < kept.length) (this.kept ??= []).push(...kept.slice(i + 1));
        return;
      }
    }
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private scan(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      if (this.paused) {
        if (start < chunk.length) (this.kept ??= []).push(chunk.subarray(start));
        return;
      }
      const nl = chunk.indexOf(LF, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.discarding) {
        const partial = this.partial;
        const total = (partial?.length ?? 0) + (end - start);
        // A CR before the LF is framing, not content; until the LF arrives one spare byte is allowed
        // for it, so the limit is exact however the input is chunked.
        const last = end > start ? chunk[end - 1] : partial?.lastByte();
        const over = nl < 0 ? total > this.maxLineBytes + 1 : total - (last === CR ? 1 : 0) > this.maxLineBytes;
        if (over) {
          this.partial = undefined;
          this.discarding = true;
          this.sink.tooLong();
        } else if (nl < 0) {
          if (end > start) (this.partial ??= new ByteGather()).append(chunk, start, end, this.maxLineBytes + 1);
        } else if (partial === undefined) {
          this.emit(chunk.subarray(start, end));
        } else {
          partial.append(chunk, start, end, this.maxLineBytes + 1);
          this.partial = undefined;
          this.emit(partial.bytes());
        }
      }
      if (nl < 0) return;
      // The LF ends a discarded line too: what follows is a new line.
      this.discarding = false;
      start = nl + 1;
    }
  }

  private emit(line: Buffer): void {
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > 0) this.sink.line(line);
  }
}
