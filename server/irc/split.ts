// Parley text into IRC lines. A Parley message may hold 4000 characters and newlines; an IRC line holds
// one line of at most 512 bytes in all. So each line of the text becomes one or more pieces of at most
// `maxBytes` UTF-8 bytes, cut between characters (never inside one), preferring the last space of a
// piece when there is one in its second half, so readers see words whole.

/** The pieces of `text` for IRC, in order; empty lines are left out (IRC cannot send them). */
export function splitText(text: string, maxBytes: number): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') continue;
    splitLine(line, Math.max(4, maxBytes), out);
  }
  // A text of nothing but line breaks still says something: one blank piece.
  if (out.length === 0) out.push(' ');
  return out;
}

function splitLine(line: string, maxBytes: number, out: string[]): void {
  // Fast path: 3 bytes per UTF-16 unit bounds the UTF-8 length from above.
  if (line.length * 3 <= maxBytes || Buffer.byteLength(line, 'utf8') <= maxBytes) {
    out.push(line);
    return;
  }
  let start = 0;
  while (start < line.length) {
    let bytes = 0;
    let i = start;
    let lastSpace = -1;
    let bytesAtSpace = 0;
    while (i < line.length) {
      const cp = line.codePointAt(i)!;
      const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (bytes + n > maxBytes) break;
      bytes += n;
      i += cp > 0xffff ? 2 : 1;
      if (cp === 0x20) {
        lastSpace = i;
        bytesAtSpace = bytes;
      }
    }
    // Break after a space if that keeps at least half the piece; otherwise cut mid-word.
    const end = i < line.length && lastSpace > start && bytesAtSpace * 2 >= maxBytes ? lastSpace : i;
    out.push(line.slice(start, end));
    start = end;
  }
}
