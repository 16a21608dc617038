// Newline-delimited framing for the TCP transport. Input may arrive in any chunking (one byte at a
// time works); a line is checked against the limit while it accumulates, so an endless line costs at
// most `maxLineBytes` of memory: once over, it is discarded up to its newline and reported once.
export interface LineSink {
  line(bytes: Buffer): void;
  tooLong(): void;
}

const LF = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly sink: LineSink,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.discarding) {
        const total = this.size + (end - start);
        // A CR before the LF is framing, not content; until the LF arrives one spare byte is allowed
        // for it, so the limit is exact however the input is chunked.
        const over = nl < 0 ? total > this.maxLineBytes + 1 : total - (this.lastByte(chunk, start, end) === CR ? 1 : 0) > this.maxLineBytes;
        if (over) {
          this.parts = [];
          this.size = 0;
          this.discarding = true;
          this.sink.tooLong();
        } else if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.size = total;
        }
      }
      if (nl < 0) return;
      if (this.discarding) this.discarding = false;
      else this.emit();
      start = nl + 1;
    }
  }

  private lastByte(chunk: Buffer, start: number, end: number): number | undefined {
    if (end > start) return chunk[end - 1];
    const last = this.parts[this.parts.length - 1];
    return last?.[last.length - 1];
  }

  private emit(): void {
    const parts = this.parts;
    let line = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.size);
    this.parts = [];
    this.size = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > 0) this.sink.line(line);
  }
}
