// Incremental frame parser for client-to-server frames (RFC 6455 5, RFC 7692 6). One loop drives a
// small numeric state machine; each step either advances or returns to wait for more bytes, so input
// may arrive in any chunking, one byte at a time included. Lengths are checked against the limit
// before any payload is buffered, and text is UTF-8-validated as its bytes arrive so a bad message is
// rejected at the first invalid byte, not after it has been fully received. A payload that arrives
// whole is delivered as a slice of its chunk; one that arrives in pieces is copied into one growing
// buffer (gather.ts), so what a connection holds is its bytes, not a Buffer object per piece.
import { inflateMessage } from './deflate.js';
import { CloseCode, isValidCloseCode, wsError, type WsError } from './errors.js';
import { ByteGather } from './gather.js';
import { Utf8Validator, isValidUtf8 } from './utf8.js';

export interface ReceiverOptions {
  maxMessageBytes: number;
  /** permessage-deflate negotiated: RSV1 allowed on first frame of a data message */
  deflate: boolean;
}

/**
 * Where parsed frames go. Methods rather than callbacks so the owner can be the handler itself (one
 * object per connection instead of a closure per event); the `on` names keep them apart from the
 * owner's own API (a connection's close() is not the peer's close frame).
 */
export interface ReceiverHandlers {
  onMessage(data: Buffer, binary: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  /** code is 1005 when the close frame was empty. */
  onCloseFrame(code: number, reason: string): void;
  onProtocolError(err: WsError): void;
  /**
   * MAX_FRAMES_PER_RUN frames were parsed from what was pushed: the receiver has paused itself so that
   * one read full of tiny frames (a fragment flood) does not hold the event loop for every other
   * connection. The owner resumes it on a later turn (and stops reading its socket meanwhile).
   */
  onYield?(): void;
}

/** Frames parsed in one go before the receiver yields (onYield); a 64 KiB read holds up to ~9,000. */
export const MAX_FRAMES_PER_RUN = 1024;

const enum State {
  HEADER,
  LEN16,
  LEN64,
  MASK,
  DATA,
  DONE,
}

const OP_CONT = 0;
const OP_TEXT = 1;
const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PING = 9;
const OP_PONG = 10;

const EMPTY = Buffer.alloc(0);

/** Largest control frame payload (RFC 6455 5.5). */
const MAX_CONTROL_PAYLOAD = 125;

/**
 * The empty value of the chunk list. It is empty most of the time (an idle connection has nothing
 * buffered), and an empty array of its own costs each connection an object plus, once used, a backing
 * store that outlives its contents. Only `append` adds to the list, and it never writes to this one.
 */
const NONE: Buffer[] = [];

function append(list: Buffer[], b: Buffer): Buffer[] {
  if (list === NONE) return [b];
  list.push(b);
  return list;
}

export class Receiver {
  // Copied out of the options so no options object stays alive per connection.
  private readonly maxMessageBytes: number;
  private readonly deflate: boolean;
  private readonly h: ReceiverHandlers;

  private chunks = NONE;
  private buffered = 0;
  private state = State.HEADER;
  /** Set by pause(): the loop stops before its next step and the rest stays in `chunks`, unparsed. */
  private paused = false;
  /** The loop is on the stack: a handler that pauses and resumes at once lets that loop carry on. */
  private running = false;

  // Current frame.
  private fin = false;
  private opcode = 0;
  /** Payload bytes of the current frame not yet consumed (all of them until MASK is read). */
  private remaining = 0;
  /**
   * The masking key as an int32, which 64-bit Node stores inline (a Smi) where a 4-byte Buffer would
   * cost a Buffer, an ArrayBuffer and a native backing store. It is rotated as payload is consumed so
   * its top byte always applies to the next payload byte: no key offset to keep.
   */
  private mask = 0;
  /** A control payload that arrived in pieces (rare: at most 125 bytes). */
  private control: ByteGather | undefined;
  /** The payload of the frame just completed when it arrived as one piece: handed on as is. */
  private whole: Buffer | undefined;

  // Current data message (possibly fragmented).
  private msgOpen = false;
  private msgBinary = false;
  private msgCompressed = false;
  /** Declared payload bytes of the message so far (checked against the limit before any arrive). */
  private msgBytes = 0;
  /** The message's payload so far, once it spans more than one piece. */
  private fragments: ByteGather | undefined;
  /** Only while an uncompressed text message is arriving: idle connections outnumber busy ones. */
  private utf8: Utf8Validator | undefined;

  private framesThisRun = 0;

  constructor(opts: ReceiverOptions, handlers: ReceiverHandlers) {
    this.maxMessageBytes = opts.maxMessageBytes;
    this.deflate = opts.deflate;
    this.h = handlers;
  }

  /** Bytes of memory this receiver holds for input not yet delivered: unparsed chunks and gathered payloads. */
  get heldBytes(): number {
    return this.buffered + (this.fragments?.capacity ?? 0) + (this.control?.capacity ?? 0);
  }

  /**
   * Feeds bytes from the socket. The receiver takes ownership of `chunk`: payloads are unmasked in
   * place and delivered as slices of it, so callers must not reuse the buffer.
   */
  push(chunk: Buffer): void {
    if (this.state === State.DONE || chunk.length === 0) return;
    this.chunks = append(this.chunks, chunk);
    this.buffered += chunk.length;
    if (!this.paused) this.run();
  }

  /**
   * Stops delivering at once, even in the middle of a chunk (a handler may call it): the rest stays as
   * the slices it is, unparsed, control frames included, until resume(). Input pushed meanwhile is
   * kept too; the owner is expected to stop reading its socket.
   */
  pause(): void {
    this.paused = true;
  }

  /** Continues with the kept input, synchronously: handlers may be called before it returns. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.buffered > 0) this.run();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private run(): void {
    if (this.running) return;
    this.running = true;
    this.framesThisRun = 0;
    try {
      this.step();
    } finally {
      this.running = false;
    }
    // Nothing left over (the usual case): drop the list rather than keep an emptied one per connection.
    if (this.buffered === 0) this.chunks = NONE;
  }

  private step(): void {
    for (;;) {
      if (this.paused) return;
      switch (this.state) {
        case State.HEADER:
          if (this.buffered < 2) return;
          this.readHeader();
          break;
        case State.LEN16:
          if (this.buffered < 2) return;
          this.setLength(this.take(2).readUInt16BE(0));
          break;
        case State.LEN64: {
          if (this.buffered < 8) return;
          const b = this.take(8);
          const hi = b.readUInt32BE(0);
          // RFC 6455 5.2: the most significant bit MUST be 0.
          if (hi & 0x80000000) return this.fail('WS_ERR_INVALID_LENGTH', CloseCode.PROTOCOL_ERROR, '64-bit length has the top bit set');
          this.setLength(hi * 0x100000000 + b.readUInt32BE(4));
          break;
        }
        case State.MASK:
          if (this.buffered < 4) return;
          this.mask = this.take(4).readInt32BE(0);
          if (this.remaining === 0) this.frameDone();
          else this.state = State.DATA;
          break;
        case State.DATA:
          if (this.buffered === 0) return;
          this.readPayload();
          break;
        case State.DONE:
          return;
      }
    }
  }

  /** Consumes n buffered bytes (n <= buffered); a slice when they sit in one chunk. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    this.buffered -= n;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }

  private fail(code: string, closeCode: number, message: string): void {
    this.state = State.DONE;
    this.chunks = NONE;
    this.buffered = 0;
    this.fragments = undefined;
    this.control = undefined;
    this.utf8 = undefined;
    this.h.onProtocolError(wsError(code, closeCode, message));
  }

  private readHeader(): void {
    const b = this.take(2);
    const b0 = b[0]!;
    const b1 = b[1]!;
    this.fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    this.opcode = opcode;
    const isControl = opcode >= 8;

    if (b0 & 0x30) return this.fail('WS_ERR_UNEXPECTED_RSV_2_3', CloseCode.PROTOCOL_ERROR, 'RSV2 and RSV3 must be clear');
    if (opcode > OP_BINARY && opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) {
      return this.fail('WS_ERR_INVALID_OPCODE', CloseCode.PROTOCOL_ERROR, `invalid opcode ${opcode}`);
    }
    if (rsv1) {
      // RFC 7692 6: only the first frame of a compressed data message carries RSV1.
      if (!this.deflate || isControl || opcode === OP_CONT) {
        return this.fail('WS_ERR_UNEXPECTED_RSV_1', CloseCode.PROTOCOL_ERROR, 'RSV1 must be clear');
      }
    }
    if (isControl) {
      if (!this.fin) return this.fail('WS_ERR_EXPECTED_FIN', CloseCode.PROTOCOL_ERROR, 'control frames must not be fragmented');
    } else if (opcode === OP_CONT) {
      if (!this.msgOpen) return this.fail('WS_ERR_INVALID_CONTINUATION', CloseCode.PROTOCOL_ERROR, 'continuation frame without a message');
    } else {
      if (this.msgOpen) return this.fail('WS_ERR_EXPECTED_CONTINUATION', CloseCode.PROTOCOL_ERROR, 'new message before the previous one finished');
      this.msgOpen = true;
      this.msgBinary = opcode === OP_BINARY;
      this.msgCompressed = rsv1;
      this.msgBytes = 0;
    }
    if ((b1 & 0x80) === 0) return this.fail('WS_ERR_EXPECTED_MASK', CloseCode.PROTOCOL_ERROR, 'client frames must be masked');
    const len7 = b1 & 0x7f;
    if (isControl && len7 > 125) return this.fail('WS_ERR_CONTROL_TOO_BIG', CloseCode.PROTOCOL_ERROR, 'control frame payload over 125 bytes');
    if (len7 === 126) this.state = State.LEN16;
    else if (len7 === 127) this.state = State.LEN64;
    else this.setLength(len7);
  }

  /** Checks the length against the limit before a single payload byte is buffered. */
  private setLength(len: number): void {
    if (this.opcode < 8) {
      const total = this.msgBytes + len;
      if (total > this.maxMessageBytes) {
        return this.fail('WS_ERR_MESSAGE_TOO_BIG', CloseCode.TOO_BIG, `message exceeds ${this.maxMessageBytes} bytes`);
      }
      this.msgBytes = total;
    }
    this.remaining = len;
    this.state = State.MASK;
  }

  /** Unmasks and consumes whatever part of the payload has arrived, without waiting for the rest. */
  private readPayload(): void {
    const first = this.chunks[0]!;
    const n = Math.min(first.length, this.remaining);
    const piece = this.take(n);
    this.mask = unmask(piece, this.mask);
    this.remaining -= n;

    if (this.opcode >= 8) {
      // The whole payload in one piece (the usual case) is kept as the slice it is.
      if (this.remaining === 0 && this.control === undefined) this.whole = piece;
      else (this.control ??= new ByteGather()).append(piece, 0, n, MAX_CONTROL_PAYLOAD);
    } else {
      if (!this.msgBinary && !this.msgCompressed && !(this.utf8 ??= new Utf8Validator()).push(piece)) {
        return this.fail('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'invalid UTF-8 in text message');
      }
      // Likewise a message whose whole payload is this piece; anything else is copied into one buffer
      // grown by doubling up to the message limit. In the final frame the message's size is known
      // (its declared total, already checked against the limit), so growth stops there; capping at
      // the total declared so far in earlier frames would grow by one fragment at a time: 4 MiB in
      // 64-byte fragments copied over 100 GB that way (Autobahn 9.3.1).
      if (this.fin && this.remaining === 0 && this.fragments === undefined) this.whole = piece;
      else (this.fragments ??= new ByteGather()).append(piece, 0, n, this.fin ? this.msgBytes : this.maxMessageBytes);
    }
    if (this.remaining === 0) this.frameDone();
  }

  private frameDone(): void {
    this.state = State.HEADER;
    if (++this.framesThisRun >= MAX_FRAMES_PER_RUN && this.h.onYield) {
      // After this frame is delivered: step() stops at its next turn and keeps the rest unparsed.
      this.paused = true;
      this.h.onYield();
    }
    const whole = this.whole;
    this.whole = undefined;
    if (this.opcode >= 8) {
      const data = whole ?? this.control?.bytes() ?? EMPTY;
      this.control = undefined;
      this.controlFrame(data);
      return;
    }
    if (!this.fin) return;
    let data = whole ?? this.fragments?.bytes() ?? EMPTY;
    this.fragments = undefined;
    this.msgOpen = false;
    const binary = this.msgBinary;
    if (this.msgCompressed) {
      try {
        data = inflateMessage(data, this.maxMessageBytes);
      } catch (e) {
        const err = e as WsError;
        return this.fail(err.code, err.closeCode, err.message);
      }
      if (!binary && !isValidUtf8(data)) return this.fail('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'invalid UTF-8 in text message');
    } else if (!binary) {
      const utf8 = this.utf8;
      this.utf8 = undefined;
      // No validator: the message had no payload bytes, and empty text is valid.
      if (utf8 && !utf8.end()) return this.fail('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'text message ends mid-character');
    }
    this.h.onMessage(data, binary);
  }

  private controlFrame(data: Buffer): void {
    if (this.opcode === OP_PING) return this.h.onPing(data);
    if (this.opcode === OP_PONG) return this.h.onPong(data);
    // Close: nothing after it is read (RFC 6455 5.5.1).
    if (data.length === 1) return this.fail('WS_ERR_INVALID_CLOSE_PAYLOAD', CloseCode.PROTOCOL_ERROR, 'close payload of 1 byte');
    let code: number = CloseCode.NO_STATUS;
    let reason = '';
    if (data.length >= 2) {
      code = data.readUInt16BE(0);
      if (!isValidCloseCode(code)) return this.fail('WS_ERR_INVALID_CLOSE_CODE', CloseCode.PROTOCOL_ERROR, `invalid close code ${code}`);
      const r = data.subarray(2);
      if (!isValidUtf8(r)) return this.fail('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'invalid UTF-8 in close reason');
      reason = r.toString('utf8');
    }
    this.state = State.DONE;
    this.chunks = NONE;
    this.buffered = 0;
    this.h.onCloseFrame(code, reason);
  }
}

/**
 * XORs `piece` in place with the key `mask` (first key byte in the top 8 bits) and returns the key
 * rotated by the bytes consumed, ready for the piece that follows.
 */
function unmask(piece: Buffer, mask: number): number {
  const n = piece.length;
  const m0 = mask >>> 24;
  const m1 = (mask >>> 16) & 0xff;
  const m2 = (mask >>> 8) & 0xff;
  const m3 = mask & 0xff;
  let i = 0;
  for (const whole = n & ~3; i < whole; i += 4) {
    piece[i] = piece[i]! ^ m0;
    piece[i + 1] = piece[i + 1]! ^ m1;
    piece[i + 2] = piece[i + 2]! ^ m2;
    piece[i + 3] = piece[i + 3]! ^ m3;
  }
  const rest = n - i;
  if (rest === 0) return mask;
  piece[i] = piece[i]! ^ m0;
  if (rest > 1) piece[i + 1] = piece[i + 1]! ^ m1;
  if (rest > 2) piece[i + 2] = piece[i + 2]! ^ m2;
  const shift = rest << 3;
  return (mask << shift) | (mask >>> (32 - shift));
}
