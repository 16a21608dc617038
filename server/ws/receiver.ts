// Incremental frame parser for client-to-server frames (RFC 6455 5, RFC 7692 6). One loop drives a
// small numeric state machine; each step either advances or returns to wait for more bytes, so input
// may arrive in any chunking, one byte at a time included. Lengths are checked against the limit
// before any payload is buffered, and text is UTF-8-validated as its bytes arrive so a bad message is
// rejected at the first invalid byte, not after it has been fully received.
import { inflateMessage } from './deflate.js';
import { CloseCode, isValidCloseCode, wsError, type WsError } from './errors.js';
import { Utf8Validator, isValidUtf8 } from './utf8.js';

export interface ReceiverOptions {
  maxMessageBytes: number;
  /** permessage-deflate negotiated: RSV1 allowed on first frame of a data message */
  deflate: boolean;
}

export interface ReceiverHandlers {
  message(data: Buffer, binary: boolean): void;
  ping(data: Buffer): void;
  pong(data: Buffer): void;
  /** code is 1005 when the close frame was empty. */
  close(code: number, reason: string): void;
  error(err: WsError): void;
}

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

export class Receiver {
  private readonly opts: ReceiverOptions;
  private readonly h: ReceiverHandlers;

  private chunks: Buffer[] = [];
  private buffered = 0;
  private state = State.HEADER;

  // Current frame.
  private fin = false;
  private opcode = 0;
  private payloadLen = 0;
  private remaining = 0;
  private readonly mask = Buffer.alloc(4);
  private maskPos = 0;
  private control: Buffer[] = [];

  // Current data message (possibly fragmented).
  private msgOpen = false;
  private msgBinary = false;
  private msgCompressed = false;
  private msgBytes = 0;
  private fragments: Buffer[] = [];
  private readonly utf8 = new Utf8Validator();

  constructor(opts: ReceiverOptions, handlers: ReceiverHandlers) {
    this.opts = opts;
    this.h = handlers;
  }

  /**
   * Feeds bytes from the socket. The receiver takes ownership of `chunk`: payloads are unmasked in
   * place and delivered as slices of it, so callers must not reuse the buffer.
   */
  push(chunk: Buffer): void {
    if (this.state === State.DONE || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.run();
  }

  private run(): void {
    for (;;) {
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
          this.take(4).copy(this.mask, 0, 0, 4);
          this.maskPos = 0;
          if (this.payloadLen === 0) this.frameDone();
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
    this.chunks = [];
    this.buffered = 0;
    this.fragments = [];
    this.control = [];
    this.h.error(wsError(code, closeCode, message));
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
      if (!this.opts.deflate || isControl || opcode === OP_CONT) {
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
      if (total > this.opts.maxMessageBytes) {
        return this.fail('WS_ERR_MESSAGE_TOO_BIG', CloseCode.TOO_BIG, `message exceeds ${this.opts.maxMessageBytes} bytes`);
      }
      this.msgBytes = total;
    }
    this.payloadLen = len;
    this.remaining = len;
    this.state = State.MASK;
  }

  /** Unmasks and consumes whatever part of the payload has arrived, without waiting for the rest. */
  private readPayload(): void {
    const first = this.chunks[0]!;
    const n = Math.min(first.length, this.remaining);
    const piece = this.take(n);
    const m = this.mask;
    let pos = this.maskPos;
    for (let i = 0; i < n; i++) piece[i] = piece[i]! ^ m[(pos + i) & 3]!;
    this.maskPos = (pos + n) & 3;
    this.remaining -= n;

    if (this.opcode >= 8) {
      this.control.push(piece);
    } else {
      if (!this.msgBinary && !this.msgCompressed && !this.utf8.push(piece)) {
        return this.fail('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'invalid UTF-8 in text message');
      }
      this.fragments.push(piece);
    }
    if (this.remaining === 0) this.frameDone();
  }

  private frameDone(): void {
    this.state = State.HEADER;
    if (this.opcode >= 8) {
      const data = this.control.length === 1 ? this.control[0]! : this.control.length === 0 ? EMPTY : Buffer.concat(this.control);
      this.control = [];
      this.controlFrame(data);
      return;
    }
    if (!this.fin) return;
    const parts = this.fragments;
    this.fragments = [];
    this.msgOpen = false;
    let data = parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts, this.msgBytes);
    const binary = this.msgBinary;
    if (this.msgCompressed) {
      try {
        data = inflateMessage(data, this.opts.maxMessageBytes);
      } catch (e) {
        const err = e as WsError;
        return this.fail(err.code, err.closeCode, err.message);
      }
      if (!binary && !isValidUtf8(data)) return this.fail('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'invalid UTF-8 in text message');
    } else if (!binary && !this.utf8.end()) {
      return this.fail('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'text message ends mid-character');
    }
    this.h.message(data, binary);
  }

  private controlFrame(data: Buffer): void {
    if (this.opcode === OP_PING) return this.h.ping(data);
    if (this.opcode === OP_PONG) return this.h.pong(data);
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
    this.chunks = [];
    this.buffered = 0;
    this.h.close(code, reason);
  }
}
