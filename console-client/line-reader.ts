// Splits the server's byte stream into lines in time linear in its size, whatever the chunking: a
// history burst of megabytes, or one byte per read. Each byte is decoded and searched for a newline
// once; the pieces of an unfinished line are kept as they came and joined once, when it ends
// (re-slicing or re-searching one growing buffer per chunk or per line would be quadratic).

export type ReadResult =
  | { ok: true; lines: string[] }
  /** A line grew past the limit: a broken or hostile server. Lines completed before it are included. */
  | { ok: false; code: 'line_too_long'; lines: string[] };

export class LineReader {
  // Streaming decode: a UTF-8 character split across two reads is completed by the next one.
  private readonly decoder = new TextDecoder('utf-8');
  private pieces: string[] = [];
  private pendingChars = 0;

  constructor(private readonly maxLineChars: number) {}

  /** Feeds one read; returns the lines it completed, without their line endings. */
  push(chunk: Uint8Array): ReadResult {
    const text = this.decoder.decode(chunk, { stream: true });
    const lines: string[] = [];
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      const tail = text.slice(from, nl);
      lines.push(stripCr(this.pieces.length === 0 ? tail : this.pieces.join('') + tail));
      this.pieces = [];
      this.pendingChars = 0;
      from = nl + 1;
    }
    if (from < text.length) {
      this.pieces.push(from === 0 ? text : text.slice(from));
      this.pendingChars += text.length - from;
      if (this.pendingChars > this.maxLineChars) {
        this.reset();
        return { ok: false, code: 'line_too_long', lines };
      }
    }
    return { ok: true, lines };
  }

  /** Forgets a partial line, for a new connection. */
  reset(): void {
    this.pieces = [];
    this.pendingChars = 0;
    this.decoder.decode(); // flushes any partial character
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
