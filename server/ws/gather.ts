// Bytes of one unit (a message, a line, a control payload) that arrived in several pieces, copied into
// one buffer that grows by doubling. Keeping the pieces instead (a list of slices) costs a Buffer
// object per piece: 65,000 one-byte fragments held ~7 MB for 65 KB of payload. Here the memory held is
// the bytes themselves, at most twice over, whatever the piece sizes.
//
// Parsers use it only for a unit that spans pieces; a unit that arrives whole is handed on as a slice
// of its chunk (zero-copy), which is the common case.

/** First allocation: small units should not pay for a large one. */
const MIN_CAPACITY = 256;

const EMPTY = Buffer.alloc(0);

export class ByteGather {
  private buf: Buffer = EMPTY;
  /** Bytes gathered so far. */
  length = 0;

  /**
   * Copies src[start, end) after what is gathered. `limit` is the most this unit may ever hold (the
   * caller has already checked length + (end - start) against it): growth never allocates past it, so
   * a unit declared small never costs more than its declared size.
   */
  append(src: Buffer, start: number, end: number, limit: number): void {
    const need = this.length + (end - start);
    if (need > this.buf.length) {
      // Doubling keeps the copying linear; the cap keeps the capacity within the unit's own limit.
      const capacity = Math.min(Math.max(need, this.buf.length * 2, MIN_CAPACITY), Math.max(limit, need));
      // Unpooled: a pooled slice would pin an 8 KiB slab shared with unrelated buffers.
      const grown = Buffer.allocUnsafeSlow(capacity);
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    src.copy(this.buf, this.length, start, end);
    this.length = need;
  }

  /** The bytes gathered: a view of the internal buffer, valid until the next append. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** The last byte gathered, if any. */
  lastByte(): number | undefined {
    return this.length > 0 ? this.buf[this.length - 1] : undefined;
  }

  /** Bytes of memory held (the capacity), for bounds and diagnostics. */
  get capacity(): number {
    return this.buf.length;
  }
}
