// Pure framing, no I/O: a frame is built once into a single Buffer so a broadcast can hand the same
// bytes to every socket. Server frames are never masked (RFC 6455 5.1).

export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** Largest close reason: 125-byte control payload minus the 2-byte code. */
const MAX_CLOSE_REASON = 123;

/** Bytes of the header for a payload of `len`: 2, 4 or 10 (server frames carry no mask). */
function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** Writes the header for a final frame at the start of `out`; returns its length. */
function writeHeader(out: Buffer, opcode: number, len: number, rsv1: boolean): number {
  out[0] = 0x80 | (rsv1 ? 0x40 : 0) | (opcode & 0x0f);
  if (len < 126) {
    out[1] = len;
    return 2;
  }
  if (len < 65536) {
    out[1] = 126;
    out.writeUInt16BE(len, 2);
    return 4;
  }
  out[1] = 127;
  out.writeUInt32BE(Math.floor(len / 0x100000000), 2);
  out.writeUInt32BE(len >>> 0, 6);
  return 10;
}

export function encodeFrame(opcode: number, payload: Buffer, rsv1 = false): Buffer {
  const len = payload.length;
  // allocUnsafe is fine: every byte is written below.
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  payload.copy(out, writeHeader(out, opcode, len, rsv1));
  return out;
}

/**
 * A whole text frame for `text`, encoded straight into the frame: one allocation and one UTF-8 pass,
 * where encodeFrame(TEXT, Buffer.from(text)) would make and copy an intermediate payload.
 */
export function encodeTextFrame(text: string): Buffer {
  const len = Buffer.byteLength(text, 'utf8');
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  out.write(text, writeHeader(out, Opcode.TEXT, len, false), 'utf8');
  return out;
}

/** A whole close frame. No code -> empty payload (the peer sees 1005). */
export function encodeClose(code?: number, reason = ''): Buffer {
  if (code === undefined) return encodeFrame(Opcode.CLOSE, Buffer.alloc(0));
  let r = Buffer.from(reason, 'utf8');
  if (r.length > MAX_CLOSE_REASON) {
    // Cut on a character boundary: back off over continuation bytes (10xxxxxx) so the
    // reason stays valid UTF-8, which the peer is required to check (1007 otherwise).
    let cut = MAX_CLOSE_REASON;
    while (cut > 0 && (r[cut]! & 0xc0) === 0x80) cut--;
    r = r.subarray(0, cut);
  }
  const payload = Buffer.allocUnsafe(2 + r.length);
  payload.writeUInt16BE(code, 0);
  r.copy(payload, 2);
  return encodeFrame(Opcode.CLOSE, payload);
}
