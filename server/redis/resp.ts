// RESP2, the Redis wire format: commands go out as arrays of bulk strings, replies come back as any
// RESP2 value. The decoder is a state machine fed whatever chunks the socket hands over (one byte at
// a time works): it never re-parses what it has seen, and it checks every declared length against its
// limits before trusting it, so a broken or hostile peer cannot make it allocate without bound.

/** An error reply (`-ERR ...`): a value, not an exception, because it can sit inside an array. */
export class RespError {
  /** The first word of the message, which Redis uses as the error's code (ERR, NOSCRIPT, WRONGTYPE...). */
  readonly code: string;
  constructor(readonly message: string) {
    const space = message.indexOf(' ');
    this.code = space < 0 ? message : message.slice(0, space);
  }
}

/** Simple and bulk strings decode to string (UTF-8), integers to number, nil to null. */
export type RespValue = string | number | null | RespError | RespValue[];

/** The peer broke the protocol: the connection cannot be trusted any more. */
export class RespProtocolError extends Error {
  readonly code = 'resp_protocol';
}

export interface RespLimits {
  /** Longest bulk string accepted, in bytes. */
  maxBulkBytes: number;
  /** Most elements in one array. */
  maxArrayLength: number;
  /** Deepest nesting of arrays. */
  maxDepth: number;
  /** Longest header or simple-string line, in bytes (CRLF excluded). */
  maxLineBytes: number;
}

export const DEFAULT_LIMITS: RespLimits = {
  maxBulkBytes: 64 * 1024 * 1024,
  maxArrayLength: 1024 * 1024,
  maxDepth: 16,
  maxLineBytes: 64 * 1024,
};

const CR = 13;
const LF = 10;

/** Encodes one command: every argument as a bulk string. */
export function encodeCommand(args: readonly (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(typeof a === 'number' ? String(a) : a, 'utf8');
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

interface Frame {
  /** Elements the array declared. */
  size: number;
  items: RespValue[];
}

export class RespDecoder {
  /** Bytes of the current header line seen so far (without its end). */
  private line: Buffer[] = [];
  private lineBytes = 0;
  /** While reading a bulk string's body: bytes still expected, CRLF included. */
  private bulkNeed = -1;
  private bulk: Buffer[] = [];
  private bulkSize = 0;
  private readonly stack: Frame[] = [];

  constructor(
    private readonly onValue: (v: RespValue) => void,
    private readonly limits: RespLimits = DEFAULT_LIMITS,
  ) {}

  /** Feeds bytes; calls onValue for every complete top-level value. Throws RespProtocolError. */
  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.bulkNeed >= 0) {
        const take = Math.min(this.bulkNeed, chunk.length - pos);
        this.bulk.push(chunk.subarray(pos, pos + take));
        pos += take;
        this.bulkNeed -= take;
        if (this.bulkNeed === 0) this.finishBulk();
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (this.lineBytes + (end - pos) > this.limits.maxLineBytes + 1) throw new RespProtocolError(`a reply line is longer than ${this.limits.maxLineBytes} bytes`);
      this.line.push(chunk.subarray(pos, end));
      this.lineBytes += end - pos;
      if (nl < 0) return;
      pos = nl + 1;
      const line = this.line.length === 1 ? this.line[0]! : Buffer.concat(this.line);
      this.line = [];
      this.lineBytes = 0;
      if (line.length < 2 || line[line.length - 1] !== CR) throw new RespProtocolError('a reply line does not end with CRLF');
      this.header(line.subarray(0, line.length - 1));
    }
  }

  private header(line: Buffer): void {
    const type = line[0];
    const rest = line.subarray(1).toString('utf8');
    switch (type) {
      case 0x2b: // '+'
        return this.emit(rest);
      case 0x2d: // '-'
        return this.emit(new RespError(rest));
      case 0x3a: // ':'
        return this.emit(integer(rest));
      case 0x24: {
        // '$'
        const n = integer(rest);
        if (n === -1) return this.emit(null);
        if (n < 0 || n > this.limits.maxBulkBytes) throw new RespProtocolError(`bulk string of ${n} bytes is over the limit of ${this.limits.maxBulkBytes}`);
        this.bulkNeed = n + 2;
        this.bulkSize = n;
        this.bulk = [];
        if (this.bulkNeed === 0) this.finishBulk();
        return;
      }
      case 0x2a: {
        // '*'
        const n = integer(rest);
        if (n === -1) return this.emit(null);
        if (n < 0 || n > this.limits.maxArrayLength) throw new RespProtocolError(`array of ${n} elements is over the limit of ${this.limits.maxArrayLength}`);
        if (n === 0) return this.emit([]);
        if (this.stack.length >= this.limits.maxDepth) throw new RespProtocolError(`arrays nested deeper than ${this.limits.maxDepth}`);
        this.stack.push({ size: n, items: [] });
        return;
      }
      default:
        throw new RespProtocolError(`unknown reply type byte 0x${(type ?? 0).toString(16)}`);
    }
  }

  private finishBulk(): void {
    const body = this.bulk.length === 1 ? this.bulk[0]! : Buffer.concat(this.bulk);
    this.bulk = [];
    this.bulkNeed = -1;
    if (body[this.bulkSize] !== CR || body[this.bulkSize + 1] !== LF) throw new RespProtocolError('a bulk string is not followed by CRLF');
    this.emit(body.toString('utf8', 0, this.bulkSize));
  }

  private emit(v: RespValue): void {
    let value = v;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) return this.onValue(value);
      top.items.push(value);
      if (top.items.length < top.size) return;
      this.stack.pop();
      value = top.items;
    }
  }
}

function integer(s: string): number {
  if (!/^-?\d{1,16}$/.test(s)) throw new RespProtocolError(`not an integer: ${JSON.stringify(s.slice(0, 40))}`);
  return Number(s);
}
