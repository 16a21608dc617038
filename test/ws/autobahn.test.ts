// The Autobahn TestSuite fuzzingclient (cases 1-7, 9, 10, 12, 13) cannot be installed here, so this
// file replays its cases as a table against the real echo server process (dist/server/ws/echo.js,
// the same binary Autobahn would be pointed at). Each row names the case it mirrors, the exact bytes
// the client writes (in chops and with pauses where the case depends on timing) and the complete
// server output expected, judged the way Autobahn judges "OK" in strict mode:
//
//   - the server's whole output, in order: echoed messages (reassembled, inflated), pongs, and the
//     close frame with its code; anything extra or missing fails the row;
//   - every server frame is checked for legality on the way in (control frames unfragmented and
//     short, RSV1 only where deflate allows it, text valid UTF-8, close payload well formed);
//   - after the close frame nothing more arrives and the TCP connection goes away;
//   - fail-fast rows (6.4.x, oversized lengths) send only the bytes up to the offending one and
//     require the close frame within ~1 s, with the rest of the message never sent;
//   - deflate rows check the Sec-WebSocket-Extensions answer against RFC 7692 and decode the echoes
//     with exactly the window and context the answer allows, so a server that over-reaches fails.
//
// Sizes are scaled down from Autobahn's (4 MiB instead of 16 MiB, tens of messages instead of 1000
// where the count only measures throughput) to keep the file within a few seconds.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../helpers/prng.js';
import { connectWs, OP, startEcho, type Frame, type WsClient } from '../helpers/ws-client.js';

// ---------------------------------------------------------------------------------------------
// Client frames. Built here rather than with the helper's clientFrame because Autobahn's cases need
// RSV2/RSV3 and reserved opcodes, which that builder cannot express.

interface FrameOpts {
  fin?: boolean;
  /** Autobahn's 3-bit RSV field: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
}

const EMPTY = Buffer.alloc(0);
const bytes = (p: Buffer | string): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p);
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

/** One masked client frame with a fresh random key, as RFC 6455 5.3 requires of a client. */
function frame(opcode: number, payload: Buffer | string = EMPTY, o: FrameOpts = {}): Buffer {
  const p = bytes(payload);
  const len = p.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = ((o.fin ?? true) ? 0x80 : 0) | (((o.rsv ?? 0) & 7) << 4) | (opcode & 0xf);
  out[1] = 0x80 | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (ext === 2) out.writeUInt16BE(len, 2);
  if (ext === 8) out.writeBigUInt64BE(BigInt(len), 2);
  const k = 2 + ext;
  randomFillSync(out, k, 4);
  const m0 = out[k]!;
  const m1 = out[k + 1]!;
  const m2 = out[k + 2]!;
  const m3 = out[k + 3]!;
  const body = k + 4;
  let i = 0;
  for (const whole = len & ~3; i < whole; i += 4) {
    out[body + i] = p[i]! ^ m0;
    out[body + i + 1] = p[i + 1]! ^ m1;
    out[body + i + 2] = p[i + 2]! ^ m2;
    out[body + i + 3] = p[i + 3]! ^ m3;
  }
  for (; i < len; i++) out[body + i] = p[i]! ^ out[k + (i & 3)]!;
  return out;
}

/**
 * A frame header that claims `declaredLen` payload bytes (64-bit form when asked), with an all-zero
 * masking key so whatever payload bytes follow are sent as they are. For length-limit rows, where
 * the point is that the server decides from the header alone.
 */
function header(opcode: number, declaredLen: bigint, fin = true): Buffer {
  const out = Buffer.alloc(2 + 8 + 4);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = 0x80 | 127;
  out.writeBigUInt64BE(declaredLen, 2);
  return out;
}

const closePayload = (code: number, reason: Buffer | string = EMPTY): Buffer => {
  const r = bytes(reason);
  const p = Buffer.alloc(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return p;
};
const text = (p: Buffer | string, o?: FrameOpts): Buffer => frame(OP.TEXT, p, o);
const binary = (p: Buffer | string, o?: FrameOpts): Buffer => frame(OP.BINARY, p, o);
const cont = (p: Buffer | string, o?: FrameOpts): Buffer => frame(OP.CONT, p, o);
const ping = (p: Buffer | string = EMPTY, o?: FrameOpts): Buffer => frame(OP.PING, p, o);
const pongFrame = (p: Buffer | string = EMPTY): Buffer => frame(OP.PONG, p);
const close = (code?: number, reason?: Buffer | string): Buffer => frame(OP.CLOSE, code === undefined ? EMPTY : closePayload(code, reason));

/** `payload` split into frames of `size` bytes: first carries the opcode, the rest are continuations. */
function fragments(opcode: number, payload: Buffer, size: number, firstRsv = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off === 0 || off < payload.length; off += size) {
    const last = off + size >= payload.length;
    out.push(frame(off === 0 ? opcode : OP.CONT, payload.subarray(off, off + size), { fin: last, rsv: off === 0 ? firstRsv : 0 }));
  }
  return out;
}

/** `pattern` repeated to exactly `len` bytes (Autobahn's way of building big payloads). */
const repeat = (pattern: Buffer | string, len: number): Buffer => {
  const p = bytes(pattern);
  const out = Buffer.alloc(len);
  for (let off = 0; off < len; off += p.length) p.copy(out, off, 0, Math.min(p.length, len - off));
  return out;
};

// ---------------------------------------------------------------------------------------------
// What a row does and expects.

type Step =
  /** Written in one go. */
  | Buffer
  /** Written `size` bytes at a time, a turn of the event loop apart, so they leave as separate segments. */
  | { chop: Buffer; size: number }
  /** Let time pass (Autobahn's continueLater). */
  | { pause: number }
  /** Let time pass; the server must neither say anything nor close meanwhile (the "first chop is accepted" half of fail-fast). */
  | { quiet: number }
  /** The server's close frame must have arrived within this many ms of this point. */
  | { closeWithin: number }
  /** Wait until the server has sent this many outputs in total (Autobahn waits for each echo in 2.x, 5.19, 9.7). */
  | { outputs: number };

type Out =
  | { text: Buffer | string }
  | { binary: Buffer }
  | { pong: Buffer | string }
  /** The server's close code; several when the RFC leaves the choice open. */
  | { close: number | readonly number[] };

/** What the permessage-deflate answer must say, beyond the RFC 7692 rules checked for every answer. */
interface Agreed {
  /** Index (in the offer list) of the offer the answer must be consistent with. */
  accepts?: number;
  serverMaxWindowBits?: number;
}

interface Negotiated {
  deflate: boolean;
  /** Largest window our compressor may use (client_max_window_bits in the answer, else what the row chose). */
  clientWindowBits: number;
}

interface Row {
  /** The Autobahn case id(s) mirrored, or the RFC section for checks Autobahn leaves out. */
  id: string;
  title: string;
  steps: Step[] | ((n: Negotiated) => Step[]);
  expect: Out[];
  /** Sec-WebSocket-Extensions offered, if any. */
  offer?: string;
  /** undefined with an offer: must be declined; with no offer nothing may be answered either. */
  agreed?: Agreed;
  /** The window the row's own compressor wants (client_max_window_bits=N offers). */
  clientBits?: number;
  /** At least one echo must come back compressed (so a window-size check is not vacuous). */
  mustCompress?: boolean;
  /** How long to wait for the server's close frame once the steps are done. */
  closeMs?: number;
}

const echo = (p: Buffer | string): Out => ({ text: p });
const echoBin = (p: Buffer): Out => ({ binary: p });
const pong = (p: Buffer | string = EMPTY): Out => ({ pong: p });
const closed = (code: number | readonly number[]): Out => ({ close: code });
const PROTOCOL_ERROR = closed(1002);
const INVALID_PAYLOAD = closed(1007);
const TOO_BIG = closed(1009);
/** The client's clean close at the end of a row, and the server's echo of it. */
const BYE = close(1000);
const BYE_ECHO = closed(1000);

/** Each frame as its own write, a few ms apart: Autobahn's "frame-wise chops". */
const framewise = (...frames: Buffer[]): Step[] => frames.flatMap((f): Step[] => [f, { pause: 5 }]);
/** Everything one octet per write: Autobahn's "octet-wise chops". */
const octetwise = (...frames: Buffer[]): Step => ({ chop: Buffer.concat(frames), size: 1 });

// ---------------------------------------------------------------------------------------------
// Reading the server. Frames are taken in arrival order and assembled into outputs; any frame a
// conforming server could not send fails the row on the spot.

type Got =
  | { kind: 'text' | 'binary'; data: Buffer; compressed: boolean }
  | { kind: 'ping' | 'pong'; data: Buffer }
  | { kind: 'close'; code: number; reason: string };

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
const isUtf8 = (b: Buffer): boolean => {
  try {
    fatalUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
};

/** How the server's compressed messages must be decoded, per the negotiated answer. */
interface Inflation {
  windowBits: number;
  contextTakeover: boolean;
}

class Reader {
  readonly outs: Got[] = [];
  /** Frames taken from the client so far; compared with all frames received at the end. */
  taken = 0;
  private msg: { binary: boolean; compressed: boolean; parts: Buffer[] } | undefined;
  /** Compressed messages so far, for decoding a server that keeps its LZ77 context across messages. */
  private history: Buffer[] = [];
  private historyOut = 0;

  constructor(
    private readonly c: WsClient,
    private readonly deflate: Inflation | undefined,
  ) {}

  /** Pulls frames until `done()` holds; fails with `what` once `deadline` passes. */
  async until(done: () => boolean, deadline: number, what: string): Promise<void> {
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not within the time allowed; got ${this.outs.map(line).join(', ')}`);
      const f = await this.c.nextFrame(() => true, left);
      this.taken++;
      this.accept(f);
    }
  }

  get sawClose(): boolean {
    return this.outs.some((o) => o.kind === 'close');
  }

  private accept(f: Frame): void {
    const bad = (why: string): never => {
      throw new Error(`server sent an illegal frame (${why}): op ${f.opcode}, fin ${f.fin}, rsv1 ${f.rsv1}, ${f.payload.length} B`);
    };
    if (this.sawClose) bad('frame after its close frame');
    if (f.opcode >= 8) {
      // RFC 6455 5.5: control frames are never fragmented, carry at most 125 bytes, and no extension applies to them.
      if (!f.fin) bad('fragmented control frame');
      if (f.payload.length > 125) bad('control frame over 125 bytes');
      if (f.rsv1) bad('RSV1 on a control frame');
      if (f.opcode === OP.PING || f.opcode === OP.PONG) {
        this.outs.push({ kind: f.opcode === OP.PING ? 'ping' : 'pong', data: f.payload });
      } else if (f.opcode === OP.CLOSE) {
        if (f.payload.length === 1) bad('1-byte close payload');
        const reason = f.payload.subarray(2);
        if (!isUtf8(reason)) bad('close reason is not UTF-8');
        this.outs.push({ kind: 'close', code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, reason: reason.toString('utf8') });
      } else bad('reserved control opcode');
      return;
    }
    if (f.opcode === OP.CONT) {
      if (!this.msg) bad('continuation with no message open');
      if (f.rsv1) bad('RSV1 on a continuation frame');
    } else if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) {
      if (this.msg) bad('new message before the previous one ended');
      if (f.rsv1 && !this.deflate) bad('RSV1 without negotiated permessage-deflate');
      this.msg = { binary: f.opcode === OP.BINARY, compressed: f.rsv1, parts: [] };
    } else bad('reserved data opcode');
    const msg = this.msg!;
    msg.parts.push(f.payload);
    if (!f.fin) return;
    this.msg = undefined;
    let data: Buffer = Buffer.concat(msg.parts);
    if (msg.compressed) data = this.inflate(data);
    if (!msg.binary && !isUtf8(data)) bad('text message is not UTF-8');
    this.outs.push({ kind: msg.binary ? 'binary' : 'text', data, compressed: msg.compressed });
  }

  /**
   * Inflates with the window the negotiation allows. Below 15 bits the output chunk is the zlib
   * minimum (64 B), so a back-reference further than the agreed window plus 63 bytes is an error
   * ("invalid distance too far back") instead of being served from the output buffer.
   */
  private inflate(data: Buffer): Buffer {
    const d = this.deflate!;
    const opts: zlib.ZlibOptions = { windowBits: d.windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (d.windowBits < 15) opts.chunkSize = 64;
    if (!d.contextTakeover) return zlib.inflateRawSync(Buffer.concat([data, TAIL]), opts);
    // Context kept across messages: the messages form one deflate stream; decode it all, keep the new part.
    this.history.push(data, TAIL);
    const all = zlib.inflateRawSync(Buffer.concat(this.history), opts);
    const out = all.subarray(this.historyOut);
    this.historyOut = all.length;
    return out;
  }
}

function fingerprint(b: Buffer): string {
  return b.length <= 24 ? b.toString('hex') : `sha1:${createHash('sha1').update(b).digest('hex').slice(0, 16)}`;
}

function line(g: Got): string {
  switch (g.kind) {
    case 'text':
    case 'binary':
      return `${g.kind} ${g.data.length}B ${fingerprint(g.data)}`;
    case 'ping':
    case 'pong':
      return `${g.kind} ${fingerprint(g.data)}`;
    case 'close':
      return `close ${g.code}`;
  }
}

/** The expected line; a close with alternatives takes the code actually received when it is one of them. */
function wantLine(o: Out, got: Got | undefined): string {
  if ('text' in o) return line({ kind: 'text', data: bytes(o.text), compressed: false });
  if ('binary' in o) return line({ kind: 'binary', data: o.binary, compressed: false });
  if ('pong' in o) return line({ kind: 'pong', data: bytes(o.pong) });
  const codes = typeof o.close === 'number' ? [o.close] : o.close;
  if (got?.kind === 'close' && codes.includes(got.code)) return `close ${got.code}`;
  return `close ${codes.join('|')}`;
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate answers (RFC 7692 5, 7.1).

type Params = Map<string, string | undefined>;

function parseExtensions(header: string): { name: string; params: Params }[] {
  return header.split(',').map((ext) => {
    const [name, ...rest] = ext.split(';').map((s) => s.trim());
    const params: Params = new Map();
    for (const p of rest) {
      const eq = p.indexOf('=');
      const k = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
      const v = eq < 0 ? undefined : p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      // RFC 7692 7: a parameter given twice makes the element invalid.
      if (params.has(k)) throw new Error(`extension parameter ${k} appears twice in "${header}"`);
      params.set(k, v);
    }
    return { name: (name ?? '').toLowerCase(), params };
  });
}

const bitsOf = (v: string | undefined): number | undefined => (v !== undefined && /^(8|9|1[0-5])$/.test(v) ? Number(v) : undefined);

/** Checks the answer to `row.offer` and returns what the rest of the row may rely on. */
function negotiate(row: Row, answer: string | undefined): { n: Negotiated; reader: Inflation | undefined } {
  const none = { n: { deflate: false, clientWindowBits: 15 }, reader: undefined };
  if (row.agreed === undefined) {
    // RFC 6455 9.1: only offered extensions may be answered; a declined offer gets no header.
    expect(answer, 'Sec-WebSocket-Extensions answer').toBeUndefined();
    return none;
  }
  expect(answer, 'Sec-WebSocket-Extensions answer').toBeDefined();
  const exts = parseExtensions(answer!);
  expect(exts.map((e) => e.name)).toEqual(['permessage-deflate']);
  const a = exts[0]!.params;
  const offer = parseExtensions(row.offer!)[row.agreed.accepts ?? 0]!.params;
  for (const [k, v] of a) {
    switch (k) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        expect(v, `${k} takes no value`).toBeUndefined();
        break;
      case 'server_max_window_bits':
        expect(bitsOf(v), `${k}=${v}`).toBeDefined();
        break;
      case 'client_max_window_bits':
        // 7.1.2.2: only answered when offered, and never above an offered value.
        expect(offer.has(k), 'client_max_window_bits answered but not offered').toBe(true);
        expect(bitsOf(v), `${k}=${v}`).toBeDefined();
        if (bitsOf(offer.get(k)) !== undefined) expect(bitsOf(v)!).toBeLessThanOrEqual(bitsOf(offer.get(k))!);
        break;
      default:
        throw new Error(`unknown parameter ${k} in the answer "${answer}"`);
    }
  }
  // 7.1.1.1: a server accepting server_no_context_takeover must say so.
  if (offer.has('server_no_context_takeover')) expect(a.has('server_no_context_takeover'), 'server_no_context_takeover echoed').toBe(true);
  // 7.1.2.1: a server accepting server_max_window_bits=N answers it with N or less.
  const askedServerBits = bitsOf(offer.get('server_max_window_bits'));
  const serverBits = bitsOf(a.get('server_max_window_bits'));
  if (askedServerBits !== undefined) {
    expect(serverBits, 'server_max_window_bits answered').toBeDefined();
    expect(serverBits!).toBeLessThanOrEqual(askedServerBits);
  }
  if (row.agreed.serverMaxWindowBits !== undefined) expect(serverBits).toBe(row.agreed.serverMaxWindowBits);
  return {
    n: { deflate: true, clientWindowBits: Math.min(row.clientBits ?? 15, bitsOf(a.get('client_max_window_bits')) ?? 15) },
    reader: { windowBits: serverBits ?? 15, contextTakeover: !a.has('server_no_context_takeover') },
  };
}

/**
 * One message compressed as RFC 7692 7.2.1 says: raw deflate, sync-flushed, the trailing empty block
 * removed. Always without context takeover, which a client may choose whatever was agreed.
 */
function compress(data: Buffer, windowBits: number): Buffer {
  const out = zlib.deflateRawSync(data, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
}

// ---------------------------------------------------------------------------------------------
// Playing a row.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function play(port: number, row: Row): Promise<void> {
  const c = await connectWs(port, { headers: row.offer === undefined ? {} : { 'Sec-WebSocket-Extensions': row.offer } });
  try {
    const { n, reader: deflate } = negotiate(row, c.response.headers['sec-websocket-extensions']);
    const reader = new Reader(c, deflate);
    const steps = typeof row.steps === 'function' ? row.steps(n) : row.steps;
    for (const step of steps) {
      if (Buffer.isBuffer(step)) c.sendRaw(step);
      else if ('chop' in step) {
        for (let off = 0; off < step.chop.length; off += step.size) {
          c.sendRaw(step.chop.subarray(off, off + step.size));
          await turn();
        }
      } else if ('pause' in step) await sleep(step.pause);
      else if ('quiet' in step) {
        const before = c.frames.length;
        await sleep(step.quiet);
        expect(c.frames.slice(before).map((f) => `op ${f.opcode}`), 'server output during the quiet period').toEqual([]);
        expect(c.isClosed(), 'connection closed during the quiet period').toBe(false);
      } else if ('closeWithin' in step) {
        await reader.until(() => reader.sawClose, Date.now() + step.closeWithin, `close frame within ${step.closeWithin} ms`);
      } else {
        await reader.until(() => reader.outs.length >= step.outputs, Date.now() + 5000, `${step.outputs} outputs`);
      }
    }
    await reader.until(() => reader.sawClose, Date.now() + (row.closeMs ?? 5000), 'close frame');
    // The server closes TCP after the closing handshake (RFC 6455 7.1.1), or after failing the connection (7.1.7).
    await c.closed(3000);
    // Nothing after the close frame (checked frame by frame too), and nothing left unread.
    expect(c.frames.length).toBe(reader.taken);
    const got = reader.outs.map(line);
    const want = row.expect.map((o, i) => wantLine(o, reader.outs[i]));
    expect(got).toEqual(want);
    if (row.mustCompress) expect(reader.outs.some((o) => o.kind !== 'close' && 'compressed' in o && o.compressed), 'some echo compressed').toBe(true);
  } finally {
    c.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The table. Payload strings and sizes follow Autobahn's cases; rows say where they scale down.

const rows: Row[] = [];
const add = (...r: Row[]): void => void rows.push(...r);

// 1 Framing: text and binary messages of every length-encoding boundary.
{
  const sizes = [0, 125, 126, 127, 128, 65535, 65536];
  sizes.forEach((len, i) => {
    const t = repeat('*', len);
    const b = repeat(Buffer.from([0xfe]), len);
    add({ id: `1.1.${i + 1}`, title: `text message of ${len} bytes`, steps: [text(t), BYE], expect: [echo(t), BYE_ECHO] });
    add({ id: `1.2.${i + 1}`, title: `binary message of ${len} bytes`, steps: [binary(b), BYE], expect: [echoBin(b), BYE_ECHO] });
  });
  const t = repeat('*', 65536);
  const b = repeat(Buffer.from([0xfe]), 65536);
  add({ id: '1.1.8', title: 'text message of 65536 bytes in 997-byte chops', steps: [{ chop: text(t), size: 997 }, BYE], expect: [echo(t), BYE_ECHO] });
  add({ id: '1.2.8', title: 'binary message of 65536 bytes in 997-byte chops', steps: [{ chop: binary(b), size: 997 }, BYE], expect: [echoBin(b), BYE_ECHO] });
  // Beyond Autobahn, from RFC 6455 5.1/5.2 and the echo server's 16 MiB limit.
  add({ id: 'RFC6455-5.1', title: 'unmasked client frame is a protocol error', steps: [Buffer.from([0x81, 0x02, 0x68, 0x69])], expect: [PROTOCOL_ERROR] });
  add({ id: 'RFC6455-5.2', title: '64-bit length with the top bit set is a protocol error', steps: [header(OP.BINARY, 1n << 63n)], expect: [PROTOCOL_ERROR] });
  add({
    id: 'RFC6455-7.4.1/1009',
    title: 'a frame declaring 16 MiB + 1 is refused from its header, before the payload',
    steps: [Buffer.concat([header(OP.BINARY, BigInt(16 * 1024 * 1024 + 1)), Buffer.alloc(100)]), { closeWithin: 1000 }],
    expect: [TOO_BIG],
  });
  add({
    id: 'RFC6455-7.4.1/1009',
    title: 'fragments adding up to 16 MiB + 1 are refused at the last header',
    steps: [binary('x', { fin: false }), { quiet: 100 }, header(OP.CONT, BigInt(16 * 1024 * 1024)), { closeWithin: 1000 }],
    expect: [TOO_BIG],
  });
}

// 2 Pings and pongs.
{
  const bin = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
  const p125 = repeat(Buffer.from([0xfe]), 125);
  add({ id: '2.1', title: 'ping without payload', steps: [ping(), { outputs: 1 }, BYE], expect: [pong(), BYE_ECHO] });
  add({ id: '2.2', title: 'ping with a small text payload', steps: [ping('Hello, world!'), { outputs: 1 }, BYE], expect: [pong('Hello, world!'), BYE_ECHO] });
  add({ id: '2.3', title: 'ping with a small binary payload', steps: [ping(bin), { outputs: 1 }, BYE], expect: [pong(bin), BYE_ECHO] });
  add({ id: '2.4', title: 'ping with a 125-byte payload', steps: [ping(p125), { outputs: 1 }, BYE], expect: [pong(p125), BYE_ECHO] });
  add({ id: '2.5', title: 'ping with a 126-byte payload', steps: [ping(repeat(Buffer.from([0xfe]), 126))], expect: [PROTOCOL_ERROR] });
  add({ id: '2.6', title: 'ping with a 125-byte payload, octet-wise', steps: [octetwise(ping(p125)), { outputs: 1 }, BYE], expect: [pong(p125), BYE_ECHO] });
  add({ id: '2.7', title: 'unsolicited pong without payload is ignored', steps: [pongFrame(), { quiet: 50 }, BYE], expect: [BYE_ECHO] });
  add({ id: '2.8', title: 'unsolicited pong with payload is ignored', steps: [pongFrame('unsolicited pong payload'), { quiet: 50 }, BYE], expect: [BYE_ECHO] });
  add({
    id: '2.9',
    title: 'unsolicited pong, then ping',
    steps: [pongFrame('unsolicited pong payload'), ping('ping payload'), { outputs: 1 }, BYE],
    expect: [pong('ping payload'), BYE_ECHO],
  });
  const ten = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  add({ id: '2.10', title: '10 pings, answered in order', steps: [...ten.map((p) => ping(p)), { outputs: 10 }, BYE], expect: [...ten.map((p) => pong(p)), BYE_ECHO] });
  add({
    id: '2.11',
    title: '10 pings octet-wise, answered in order',
    steps: [octetwise(...ten.map((p) => ping(p))), { outputs: 10 }, BYE],
    expect: [...ten.map((p) => pong(p)), BYE_ECHO],
  });
}

// 3 Reserved bits: any RSV bit without an extension that defines it fails the connection, after
// whatever came before it has been handled.
{
  const hello = 'Hello, world!';
  add({ id: '3.1', title: 'text with RSV=1', steps: [text(hello, { rsv: 1 })], expect: [PROTOCOL_ERROR] });
  add({ id: '3.2', title: 'text, text with RSV=2, ping', steps: [text(hello), text(hello, { rsv: 2 }), ping()], expect: [echo(hello), PROTOCOL_ERROR] });
  add({ id: '3.3', title: 'text, text with RSV=3, ping, frame-wise', steps: framewise(text(hello), text(hello, { rsv: 3 }), ping()), expect: [echo(hello), PROTOCOL_ERROR] });
  add({ id: '3.4', title: 'text, text with RSV=4 (RSV1, no deflate), ping, octet-wise', steps: [octetwise(text(hello), text(hello, { rsv: 4 }), ping())], expect: [echo(hello), PROTOCOL_ERROR] });
  add({ id: '3.5', title: 'binary with RSV=5', steps: [binary(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]), { rsv: 5 })], expect: [PROTOCOL_ERROR] });
  add({ id: '3.6', title: 'ping with RSV=6', steps: [ping(hello, { rsv: 6 })], expect: [PROTOCOL_ERROR] });
  add({ id: '3.7', title: 'close with RSV=7', steps: [frame(OP.CLOSE, closePayload(1000), { rsv: 7 })], expect: [PROTOCOL_ERROR] });
}

// 4 Opcodes: reserved non-control (3-7) and control (11-15) opcodes fail the connection.
{
  const hello = 'Hello, world!';
  const reserved = (group: number, first: number): void => {
    for (let i = 0; i < 5; i++) {
      const op = first + i;
      const payload = i === 0 || i === 2 ? EMPTY : Buffer.from('reserved opcode payload');
      const id = `4.${group}.${i + 1}`;
      if (i < 2) add({ id, title: `frame with reserved opcode ${op}`, steps: [frame(op, payload)], expect: [PROTOCOL_ERROR] });
      else add({ id, title: `text, frame with reserved opcode ${op}, ping`, steps: [text(hello), frame(op, payload), ping()], expect: [echo(hello), PROTOCOL_ERROR] });
    }
  };
  reserved(1, 3);
  reserved(2, 11);
}

// 5 Fragmentation.
{
  const f1 = 'fragment1';
  const f2 = 'fragment2';
  const f12 = f1 + f2;
  add({ id: '5.1', title: 'ping in 2 fragments', steps: [ping('ping payload', { fin: false }), cont('fragment2')], expect: [PROTOCOL_ERROR] });
  add({ id: '5.2', title: 'pong in 2 fragments', steps: [frame(OP.PONG, 'pong payload', { fin: false }), cont('fragment2')], expect: [PROTOCOL_ERROR] });
  const two = [text(f1, { fin: false }), cont(f2)];
  add({ id: '5.3', title: 'text in 2 fragments', steps: [...two, BYE], expect: [echo(f12), BYE_ECHO] });
  add({ id: '5.4', title: 'text in 2 fragments, octet-wise', steps: [octetwise(...two), BYE], expect: [echo(f12), BYE_ECHO] });
  add({ id: '5.5', title: 'text in 2 fragments, frame-wise', steps: [...framewise(...two), BYE], expect: [echo(f12), BYE_ECHO] });
  const withPing = [text(f1, { fin: false }), ping('ping payload'), cont(f2)];
  add({ id: '5.6', title: 'text in 2 fragments with a ping between', steps: [...withPing, BYE], expect: [pong('ping payload'), echo(f12), BYE_ECHO] });
  add({ id: '5.7', title: 'text in 2 fragments with a ping between, octet-wise', steps: [octetwise(...withPing), BYE], expect: [pong('ping payload'), echo(f12), BYE_ECHO] });
  add({ id: '5.8', title: 'text in 2 fragments with a ping between, frame-wise', steps: [...framewise(...withPing), BYE], expect: [pong('ping payload'), echo(f12), BYE_ECHO] });
  // A continuation with nothing to continue, then a whole text message: fail, echo nothing.
  const orphanFin = [cont('non-continuation payload'), text('Hello, world!')];
  add({ id: '5.9', title: 'continuation (FIN) with nothing to continue, then text', steps: orphanFin, expect: [PROTOCOL_ERROR] });
  add({ id: '5.10', title: 'same, frame-wise', steps: framewise(...orphanFin), expect: [PROTOCOL_ERROR] });
  add({ id: '5.11', title: 'same, octet-wise', steps: [octetwise(...orphanFin)], expect: [PROTOCOL_ERROR] });
  const orphan = [cont('non-continuation payload', { fin: false }), text('Hello, world!')];
  add({ id: '5.12', title: 'continuation (no FIN) with nothing to continue, then text', steps: orphan, expect: [PROTOCOL_ERROR] });
  add({ id: '5.13', title: 'same, frame-wise', steps: framewise(...orphan), expect: [PROTOCOL_ERROR] });
  add({ id: '5.14', title: 'same, octet-wise', steps: [octetwise(...orphan)], expect: [PROTOCOL_ERROR] });
  add({
    id: '5.15',
    title: 'text in 2 fragments, then a continuation with nothing to continue',
    steps: [text(f1, { fin: false }), cont(f2), cont('fragment3', { fin: false }), text('fragment4')],
    expect: [echo(f12), PROTOCOL_ERROR],
  });
  const pair = (fin: boolean): Buffer[] => [cont('fragment1', { fin }), text('fragment2', { fin: false }), cont('fragment3')];
  add({ id: '5.16', title: 'orphan continuation (no FIN) then a fragmented text, twice', steps: [...pair(false), ...pair(false)], expect: [PROTOCOL_ERROR] });
  add({ id: '5.17', title: 'orphan continuation (FIN) then a fragmented text, twice', steps: [...pair(true), ...pair(true)], expect: [PROTOCOL_ERROR] });
  add({ id: '5.18', title: 'text in 2 fragments, both with the text opcode', steps: [text(f1, { fin: false }), text(f2)], expect: [PROTOCOL_ERROR] });
  // 5.19/5.20: the first ping must be answered while the message is still incomplete.
  const five = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
  const part1 = [text(five[0]!, { fin: false }), cont(five[1]!, { fin: false }), ping('pongme 1!')];
  const part2 = [cont(five[2]!, { fin: false }), cont(five[3]!, { fin: false }), ping('pongme 2!'), cont(five[4]!)];
  const want519 = [pong('pongme 1!'), pong('pongme 2!'), echo(five.join('')), BYE_ECHO];
  add({ id: '5.19', title: 'text in 5 fragments, pings between, a pause mid-message', steps: [...part1, { outputs: 1 }, { pause: 100 }, ...part2, BYE], expect: want519 });
  add({ id: '5.20', title: 'same, frame-wise', steps: [...framewise(...part1), { outputs: 1 }, { pause: 100 }, ...framewise(...part2), BYE], expect: want519 });
}

// 6 UTF-8 handling.
{
  const kosme = hex('cebae1bdb9cf83cebcceb5');
  add({ id: '6.1.1', title: 'empty text message', steps: [text(''), BYE], expect: [echo(''), BYE_ECHO] });
  add({ id: '6.1.2', title: 'text message of 3 empty fragments', steps: [text('', { fin: false }), cont('', { fin: false }), cont(''), BYE], expect: [echo(''), BYE_ECHO] });
  add({
    id: '6.1.3',
    title: 'text in 3 fragments, first and last empty',
    steps: [text('', { fin: false }), cont('middle frame payload', { fin: false }), cont(''), BYE],
    expect: [echo('middle frame payload'), BYE_ECHO],
  });
  const hello = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!');
  add({ id: '6.2.1', title: 'valid UTF-8 in one fragment', steps: [text(hello), BYE], expect: [echo(hello), BYE_ECHO] });
  add({
    id: '6.2.2',
    title: 'valid UTF-8 in 2 fragments split on a code point boundary',
    steps: [text(hello.subarray(0, 7), { fin: false }), cont(hello.subarray(7)), BYE],
    expect: [echo(hello), BYE_ECHO],
  });
  const perOctet = (p: Buffer): Buffer[] => Array.from(p, (b, i) => frame(i === 0 ? OP.TEXT : OP.CONT, Buffer.from([b]), { fin: i === p.length - 1 }));
  add({ id: '6.2.3', title: 'valid UTF-8, one octet per fragment', steps: [...perOctet(hello), BYE], expect: [echo(hello), BYE_ECHO] });
  add({ id: '6.2.4', title: 'valid UTF-8 (κόσμε), one octet per fragment', steps: [...perOctet(kosme), BYE], expect: [echo(kosme), BYE_ECHO] });
  const badSurrogate = hex('cebae1bdb9cf83cebcceb5eda080656469746564');
  add({ id: '6.3.1', title: 'invalid UTF-8 (a surrogate) in one fragment', steps: [text(badSurrogate)], expect: [INVALID_PAYLOAD] });
  add({ id: '6.3.2', title: 'same, one octet per fragment', steps: perOctet(badSurrogate), expect: [INVALID_PAYLOAD] });

  // 6.4.x fail fast: the connection must fail when the offending octet arrives, with the rest of
  // the message never sent. The first part alone is valid and must not be rejected.
  const p1 = kosme;
  const p2 = hex('f4908080'); // U+110000: past the last code point; invalid at its second octet
  const p3 = Buffer.from('edited');
  add({
    id: '6.4.1',
    title: 'fail fast: invalid sequence in the 2nd of 3 frames, 3rd never sent',
    steps: [text(p1, { fin: false }), { quiet: 300 }, cont(p2, { fin: false }), { closeWithin: 1000 }],
    expect: [INVALID_PAYLOAD],
  });
  const whole = Buffer.concat([p1, p2, p3]);
  add({
    id: '6.4.2',
    title: 'fail fast: frame 1 ends mid-sequence, frame 2 is the invalid octet, frame 3 never sent',
    steps: [text(whole.subarray(0, 12), { fin: false }), { quiet: 300 }, cont(whole.subarray(12, 13), { fin: false }), { closeWithin: 1000 }],
    expect: [INVALID_PAYLOAD],
  });
  const one = text(whole);
  const head = one.length - whole.length;
  add({
    id: '6.4.3',
    title: 'fail fast: one frame in chops, the invalid chop closes it, the last chop never sent',
    steps: [one.subarray(0, head + 11), { quiet: 300 }, one.subarray(head + 11, head + 15), { closeWithin: 1000 }],
    expect: [INVALID_PAYLOAD],
  });
  add({
    id: '6.4.4',
    title: 'fail fast: one frame in chops, the single invalid octet closes it, the rest never sent',
    steps: [one.subarray(0, head + 12), { quiet: 300 }, one.subarray(head + 12, head + 13), { closeWithin: 1000 }],
    expect: [INVALID_PAYLOAD],
  });

  // 6.5-6.23: Markus Kuhn's UTF-8 decoder stress cases, as Autobahn groups them. A valid payload is
  // echoed; an invalid one fails the connection with 1007 (without the client closing first).
  const A = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
  const range = (from: number, to: number, after = ''): string => {
    let s = '';
    for (let b = from; b < to; b++) s += b.toString(16).padStart(2, '0') + after;
    return s;
  };
  const incomplete = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'];
  const nonChars: string[] = ['efbfbe', 'efbfbf'];
  for (const z1 of ['f0', 'f1', 'f2', 'f3', 'f4']) {
    for (const z2 of ['8f', '9f', 'af', 'bf']) {
      if (z1 === 'f4' && z2 !== '8f') continue; // above U+10FFFF
      for (const z3 of ['be', 'bf']) {
        const s = z1 + z2 + 'bf' + z3;
        if (s !== 'f08fbfbe' && s !== 'f08fbfbf') nonChars.push(s); // those two are overlong
      }
    }
  }
  const kosmeHex = kosme.toString('hex');
  const groups: [string, [boolean, string][]][] = [
    ['some valid UTF-8', [[true, A('hello$world')], [true, A('hello') + 'c2a2' + A('world')], [true, A('hello') + 'e282ac' + A('world')], [true, A('hello') + 'f0a4ada2' + A('world')], [true, kosmeHex]]],
    // Prefixes of κόσμε: valid exactly when they end on a code point boundary (after octet 2, 5, 7, 9, 11).
    ['prefixes of a valid multi-byte string', Array.from({ length: 11 }, (_, i): [boolean, string] => [[2, 5, 7, 9, 11].includes(i + 1), kosmeHex.slice(0, 2 * (i + 1))])],
    ['first possible sequence of each length', [[true, '00'], [true, 'c280'], [true, 'e0a080'], [true, 'f0908080']]],
    ['first possible 5- and 6-byte sequences', [[false, 'f888808080'], [false, 'fc8480808080']]],
    ['last possible sequence of each length', [[true, '7f'], [true, 'dfbf'], [true, 'efbfbf'], [true, 'f48fbfbf']]],
    ['last possible 4-, 5- and 6-byte patterns', [[false, 'f7bfbfbf'], [false, 'fbbfbfbfbf'], [false, 'fdbfbfbfbfbf']]],
    ['other boundary conditions', [[true, 'ed9fbf'], [true, 'ee8080'], [true, 'efbfbd'], [true, 'f48fbfbf'], [false, 'f4908080']]],
    ['unexpected continuation bytes', [[false, '80'], [false, 'bf'], [false, '80bf'], [false, '80bf80'], [false, '80bf80bf'], [false, '80bf80bf80'], [false, '80bf80bf80bf'], [false, range(0x80, 0xbf)]]],
    ['lonely start characters', [[false, range(0xc0, 0xdf, '20')], [false, range(0xe0, 0xef, '20')], [false, range(0xf0, 0xf7, '20')], [false, range(0xf8, 0xfb, '20')], [false, range(0xfc, 0xfd, '20')]]],
    ['sequences with the last continuation byte missing', incomplete.map((s): [boolean, string] => [false, s])],
    ['concatenated incomplete sequences', [[false, incomplete.join('')]]],
    ['impossible bytes', [[false, 'fe'], [false, 'ff'], [false, 'fefeffff']]],
    ['overlong ASCII', [[false, 'c0af'], [false, 'e080af'], [false, 'f08080af'], [false, 'f8808080af'], [false, 'fc80808080af']]],
    ['maximum overlong sequences', [[false, 'c1bf'], [false, 'e09fbf'], [false, 'f08fbfbf'], [false, 'f887bfbfbf'], [false, 'fc83bfbfbfbf']]],
    ['overlong NUL', [[false, 'c080'], [false, 'e08080'], [false, 'f0808080'], [false, 'f880808080'], [false, 'fc8080808080']]],
    ['single UTF-16 surrogates', ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map((s): [boolean, string] => [false, s])],
    [
      'paired UTF-16 surrogates',
      ['eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf'].map((s): [boolean, string] => [false, s]),
    ],
    ['non-characters (valid UTF-8)', nonChars.map((s): [boolean, string] => [true, s])],
    ['specials (valid UTF-8)', ['efbfb9', 'efbfba', 'efbfbb', 'efbfbc', 'efbfbd', 'efbfbe', 'efbfbf'].map((s): [boolean, string] => [true, s])],
  ];
  groups.forEach(([what, cases], g) => {
    cases.forEach(([valid, h], i) => {
      const p = hex(h);
      const id = `6.${g + 5}.${i + 1}`;
      const shown = h.length > 24 ? `${h.slice(0, 24)}…` : h;
      if (valid) add({ id, title: `${what}: ${shown} is echoed`, steps: [text(p), BYE], expect: [echo(p), BYE_ECHO] });
      else add({ id, title: `${what}: ${shown} fails with 1007`, steps: [text(p)], expect: [INVALID_PAYLOAD] });
    });
  });
}

// 7 Close handling.
{
  const hw = 'Hello World!';
  add({ id: '7.1.1', title: 'text then close: echo, then the close echoed', steps: [text(hw), BYE], expect: [echo(hw), BYE_ECHO] });
  add({ id: '7.1.2', title: 'close twice: one close back', steps: [BYE, close(1000)], expect: [BYE_ECHO] });
  add({ id: '7.1.3', title: 'ping after close: no pong', steps: [BYE, ping(hw)], expect: [BYE_ECHO] });
  add({ id: '7.1.4', title: 'text after close: no echo', steps: [BYE, text(hw)], expect: [BYE_ECHO] });
  add({ id: '7.1.5', title: 'close in the middle of a fragmented message', steps: [text('fragment1', { fin: false }), BYE, cont('fragment2')], expect: [BYE_ECHO] });
  const big = repeat('BAsd7&jh23', 256 * 1024);
  add({
    id: '7.1.6',
    title: '256 KiB text, text, close, ping: both echoed before the close, no pong',
    steps: [text(big), text(hw), BYE, ping()],
    expect: [echo(big), echo(hw), BYE_ECHO],
  });
  add({ id: '7.3.1', title: 'empty close payload: answered with 1000', steps: [close()], expect: [closed(1000)] });
  add({ id: '7.3.2', title: '1-byte close payload', steps: [frame(OP.CLOSE, Buffer.from([0x03]))], expect: [PROTOCOL_ERROR] });
  add({ id: '7.3.3', title: 'close 1000 without reason', steps: [BYE], expect: [BYE_ECHO] });
  add({ id: '7.3.4', title: 'close 1000 with a reason', steps: [close(1000, hw)], expect: [BYE_ECHO] });
  add({ id: '7.3.5', title: 'close 1000 with a 123-byte reason (125-byte payload)', steps: [close(1000, repeat('*', 123))], expect: [BYE_ECHO] });
  add({ id: '7.3.6', title: 'close with a 126-byte payload', steps: [close(1000, repeat('*', 124))], expect: [PROTOCOL_ERROR] });
  add({ id: '7.5.1', title: 'close reason that is not UTF-8', steps: [close(1000, hex('cebae1bdb9cf83cebcceb5eda080656469746564'))], expect: [INVALID_PAYLOAD] });
  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].forEach((code, i) => {
    add({ id: `7.7.${i + 1}`, title: `valid close code ${code} is echoed`, steps: [close(code)], expect: [closed(code)] });
  });
  [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].forEach((code, i) => {
    add({ id: `7.9.${i + 1}`, title: `invalid close code ${code}`, steps: [close(code)], expect: [PROTOCOL_ERROR] });
  });
  // Informational in Autobahn; RFC 6455 7.4 defines nothing at or above 5000.
  add({ id: '7.13.1', title: 'close code 5000', steps: [close(5000)], expect: [PROTOCOL_ERROR] });
  add({ id: '7.13.2', title: 'close code 65535', steps: [close(65535)], expect: [PROTOCOL_ERROR] });
}

// 9 Limits and performance, scaled to at most 4 MiB (Autobahn goes to 16 MiB).
{
  const KiB = 1024;
  const MiB = 1024 * KiB;
  const sizes: [number, number][] = [
    [1, 64 * KiB],
    [2, 256 * KiB],
    [3, 1 * MiB],
    [4, 4 * MiB],
  ];
  for (const [i, len] of sizes) {
    const t = repeat('BAsd7&jh23', len);
    const b = repeat(Buffer.from([0x00, 0xfe, 0x23, 0xfa, 0xf0]), len);
    add({ id: `9.1.${i}`, title: `text message of ${len / KiB} KiB`, steps: [text(t), BYE], expect: [echo(t), BYE_ECHO] });
    add({ id: `9.2.${i}`, title: `binary message of ${len / KiB} KiB`, steps: [binary(b), BYE], expect: [echoBin(b), BYE_ECHO] });
  }
  const star = repeat('*', 4 * MiB);
  const fragSizes: [number, number][] = [
    [1, 64],
    [4, 4 * KiB],
    [7, 256 * KiB],
    [9, 4 * MiB],
  ];
  for (const [i, size] of fragSizes) {
    add({ id: `9.3.${i}`, title: `4 MiB text in fragments of ${size} bytes`, steps: () => [...fragments(OP.TEXT, star, size), BYE], expect: [echo(star), BYE_ECHO] });
    add({ id: `9.4.${i}`, title: `4 MiB binary in fragments of ${size} bytes`, steps: () => [...fragments(OP.BINARY, star, size), BYE], expect: [echoBin(star), BYE_ECHO] });
  }
  const mt = repeat('BAsd7&jh23', 1 * MiB);
  const mb = repeat(Buffer.from([0x00, 0xfe, 0x23, 0xfa, 0xf0]), 1 * MiB);
  add({ id: '9.5.1', title: '1 MiB text written in 64-byte chops', steps: () => [{ chop: text(mt), size: 64 }, BYE], expect: [echo(mt), BYE_ECHO] });
  add({ id: '9.5.6', title: '1 MiB text written in 2 KiB chops', steps: () => [{ chop: text(mt), size: 2048 }, BYE], expect: [echo(mt), BYE_ECHO] });
  add({ id: '9.6.1', title: '1 MiB binary written in 64-byte chops', steps: () => [{ chop: binary(mb), size: 64 }, BYE], expect: [echoBin(mb), BYE_ECHO] });
  const small = repeat('BAsd7&jh23', 16 * KiB);
  add({ id: '9.5.x', title: '16 KiB text written one octet at a time', steps: () => [{ chop: text(small), size: 1 }, BYE], expect: [echo(small), BYE_ECHO] });
  // 9.7/9.8: 1000 messages, each sent once the previous echo is back (round-trip bound).
  const rtt = (id: string, len: number, bin: boolean): Row => {
    const p = bin ? repeat(Buffer.from([0xfe]), len) : repeat('*', len);
    return {
      id,
      title: `1000 ${bin ? 'binary' : 'text'} messages of ${len} bytes, one round trip each`,
      steps: () => [...Array.from({ length: 1000 }, (_, k): Step[] => [bin ? binary(p) : text(p), { outputs: k + 1 }]).flat(), BYE],
      expect: [...Array.from({ length: 1000 }, () => (bin ? echoBin(p) : echo(p))), BYE_ECHO],
    };
  };
  add(rtt('9.7.1', 0, false), rtt('9.7.4', 256, false), rtt('9.7.6', 4096, false), rtt('9.8.1', 0, true), rtt('9.8.6', 4096, true));
}

// 10 Auto-fragmentation: a message the client fragments must come back whole (however the server frames it).
{
  const t = repeat('*', 65536);
  add({ id: '10.1.1', title: '64 KiB text sent in 1300-byte fragments', steps: [...fragments(OP.TEXT, t, 1300), BYE], expect: [echo(t), BYE_ECHO] });
}

// 12/13 permessage-deflate. Autobahn's corpora (Faust, Lena, a PDF, JSON, HTML) are replaced with
// generated look-alikes of the same kinds; text corpora stay ASCII so any slice is valid UTF-8.
const corpora = ((): Record<'faust' | 'lena' | 'pdf' | 'json' | 'html', { data: Buffer; binary: boolean }> => {
  const r = prng(20130607);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const syll = ['ge', 'ich', 'und', 'der', 'sch', 'ein', 'ber', 'ist', 'mir', 'auf', 'en', 'lich', 'st', 'ra', 'ha', 'be', 'nicht', 'zu'];
  const word = (): string => Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(syll)).join('');
  const target = 256 * 1024;
  let prose = '';
  while (prose.length < target) prose += Array.from({ length: 4 + Math.floor(r() * 10) }, word).join(' ') + pick(['.\n', ',\n', '!\n', '?\n']);
  let json = '[';
  for (let i = 0; json.length < target; i++) {
    json += `${i ? ',' : ''}{"id":${i},"name":"${word()} ${word()}","score":${(r() * 1000).toFixed(3)},"active":${r() < 0.5},"tags":["${word()}","${word()}"]}`;
  }
  json += ']';
  let html = '<!DOCTYPE html><html><head><title>data</title></head><body>\n';
  while (html.length < target) html += `<div class="${pick(['row', 'cell', 'item'])}"><p>${Array.from({ length: 6 }, word).join(' ')}</p><a href="/${word()}">${word()}</a></div>\n`;
  // A 512x512 8-bit image: smooth gradients with a little noise, compressible but not trivially.
  const lena = Buffer.alloc(54 + 512 * 512);
  lena.write('BM', 0, 'latin1');
  for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) lena[54 + y * 512 + x] = ((x * y) >> 10) + ((x + y) >> 3) + Math.floor(r() * 6);
  // PDF-like: ASCII object dictionaries between incompressible "streams".
  const pdfParts: Buffer[] = [Buffer.from('%PDF-1.4\n')];
  for (let n = 1, size = 0; size < target; n++) {
    const stream = Buffer.alloc(512 + Math.floor(r() * 2048));
    for (let i = 0; i < stream.length; i++) stream[i] = Math.floor(r() * 256);
    const dict = Buffer.from(`${n} 0 obj\n<< /Length ${stream.length} /Filter /FlateDecode >>\nstream\n`);
    pdfParts.push(dict, stream, Buffer.from('\nendstream\nendobj\n'));
    size += dict.length + stream.length + 18;
  }
  return {
    faust: { data: Buffer.from(prose, 'latin1'), binary: true },
    lena: { data: lena, binary: true },
    pdf: { data: Buffer.concat(pdfParts), binary: true },
    json: { data: Buffer.from(json, 'latin1'), binary: false },
    html: { data: Buffer.from(html, 'latin1'), binary: false },
  };
})();

/** Successive `len`-byte windows through the corpus, wrapping, as Autobahn's sendOne takes them. */
function slices(corpus: Buffer, len: number, count: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const m = Buffer.alloc(len);
    for (let k = 0; k < len; ) {
      const n = Math.min(len - k, corpus.length - at);
      corpus.copy(m, k, at, at + n);
      k += n;
      at = (at + n) % corpus.length;
    }
    out.push(m);
  }
  return out;
}

/**
 * A deflate row: each message compressed (when the offer was accepted) with the window the answer
 * allows, its compressed bytes auto-fragmented like Autobahn's autoFragmentSize, all sent back to
 * back, then a clean close; every message must come back (decoded) in order.
 */
function deflateRow(r: {
  id: string;
  title: string;
  offer: string;
  agreed?: Agreed;
  messages: Buffer[];
  binary: boolean;
  fragment?: number;
  clientBits?: number;
  mustCompress?: boolean;
}): Row {
  return {
    id: r.id,
    title: r.title,
    offer: r.offer,
    ...(r.agreed ? { agreed: r.agreed } : {}),
    ...(r.clientBits ? { clientBits: r.clientBits } : {}),
    ...(r.mustCompress ? { mustCompress: true } : {}),
    steps: (n) => [
      ...r.messages.flatMap((m) => {
        const op = r.binary ? OP.BINARY : OP.TEXT;
        const payload = n.deflate ? compress(m, n.clientWindowBits) : m;
        return fragments(op, payload, r.fragment ?? Math.max(1, payload.length), n.deflate ? 4 : 0);
      }),
      BYE,
    ],
    expect: [...r.messages.map((m) => (r.binary ? echoBin(m) : echo(m))), BYE_ECHO],
  };
}

// Autobahn's offers (autobahn's PerMessageDeflateOffer strings), 13.1-13.7.
const PMD = 'permessage-deflate; client_no_context_takeover; client_max_window_bits';
const OFFERS: { offer: string; agreed?: Agreed }[] = [
  { offer: PMD, agreed: {} },
  { offer: `${PMD}; server_no_context_takeover`, agreed: {} },
  // server_max_window_bits=8: zlib cannot deflate with a 256-byte window, so the offer is declined
  // (RFC 7692 allows that); Autobahn reports such a case as "unimplemented", not failed.
  { offer: `${PMD}; server_max_window_bits=8` },
  { offer: `${PMD}; server_max_window_bits=15`, agreed: { serverMaxWindowBits: 15 } },
  { offer: `${PMD}; server_no_context_takeover; server_max_window_bits=8` },
  { offer: `${PMD}; server_no_context_takeover; server_max_window_bits=15`, agreed: { serverMaxWindowBits: 15 } },
  { offer: `${PMD}; server_no_context_takeover; server_max_window_bits=8, ${PMD}; server_no_context_takeover, ${PMD}`, agreed: { accepts: 1 } },
];
/** Autobahn's MSG_SIZES entries used here: [case index, payload length, auto-fragment size]. */
const MSG_SIZES: [number, number, number][] = [
  [1, 16, 0],
  [4, 1024, 0],
  [8, 32768, 0],
  [10, 131072, 0],
  [11, 8192, 256],
  [17, 131072, 4096],
  [18, 131072, 32768],
];
/** Message counts scaled from Autobahn's 1000 to about 512 KiB per row. */
const countFor = (len: number): number => Math.max(4, Math.min(100, Math.floor((512 * 1024) / len)));

{
  const sets = [
    ['12.1', 'faust'],
    ['12.2', 'lena'],
    ['12.3', 'pdf'],
    ['12.4', 'json'],
    ['12.5', 'html'],
  ] as const;
  for (const [group, name] of sets) {
    const { data, binary: bin } = corpora[name];
    for (const [i, len, frag] of MSG_SIZES.filter(([i]) => i !== 18)) {
      add(
        deflateRow({
          id: `${group}.${i}`,
          title: `${name}: ${countFor(len)} compressed messages of ${len} bytes${frag ? `, fragments of ${frag}` : ''}`,
          offer: PMD,
          agreed: {},
          messages: slices(data, len, countFor(len)),
          binary: bin,
          ...(frag ? { fragment: frag } : {}),
        }),
      );
    }
  }
  OFFERS.forEach(({ offer, agreed }, j) => {
    for (const [i, len, frag] of MSG_SIZES.filter(([i]) => i === 1 || i === 10 || i === 18)) {
      add(
        deflateRow({
          id: `13.${j + 1}.${i}`,
          title: `json, offer "${offer}": ${countFor(len)} messages of ${len} bytes${frag ? `, fragments of ${frag}` : ''}${agreed ? '' : ' (declined: sent uncompressed)'}`,
          offer,
          ...(agreed ? { agreed } : {}),
          messages: slices(corpora.json.data, len, countFor(len)),
          binary: false,
          ...(frag ? { fragment: frag } : {}),
        }),
      );
    }
  });
}

// Window sizes 9-15 both ways. Server side: the payload repeats a random block 100 bytes longer than
// the window, so a server compressing with a larger window than it answered would emit
// back-references the agreed window cannot reach, and decoding would fail. Client side: we compress
// with the window we announced.
for (let bits = 9; bits <= 15; bits++) {
  const block = Buffer.alloc((1 << bits) + 100);
  const r = prng(bits);
  for (let i = 0; i < block.length; i++) block[i] = Math.floor(r() * 256);
  const payload = Buffer.concat([block, block, block, block]);
  add(
    deflateRow({
      id: `13.6.x (server_max_window_bits=${bits})`,
      title: `server compresses within a ${1 << bits}-byte window`,
      offer: `${PMD}; server_no_context_takeover; server_max_window_bits=${bits}`,
      agreed: { serverMaxWindowBits: bits },
      messages: [payload, payload],
      binary: true,
      mustCompress: true,
    }),
  );
  if (bits % 3 === 0 || bits === 15) {
    add(
      deflateRow({
        id: `13.x (client_max_window_bits=${bits})`,
        title: `client compressing with a ${1 << bits}-byte window is understood`,
        offer: `permessage-deflate; client_max_window_bits=${bits}`,
        agreed: {},
        clientBits: bits,
        messages: [payload],
        binary: true,
      }),
    );
  }
}

// RFC 7692 rules Autobahn's echo cases touch only implicitly.
{
  const msg = repeat('all work and no play makes jack a dull boy. ', 4096);
  add(
    deflateRow({
      id: 'RFC7692-7.1.1.1',
      title: 'server_no_context_takeover: identical messages are each decodable on their own',
      offer: `${PMD}; server_no_context_takeover`,
      agreed: {},
      messages: [msg, msg, msg],
      binary: false,
      mustCompress: true,
    }),
  );
  add(
    deflateRow({
      id: 'RFC7692-5',
      title: 'a bare offer is accepted; no_context_takeover for the client may be imposed',
      offer: 'permessage-deflate',
      agreed: {},
      messages: slices(corpora.html.data, 4096, 4),
      binary: false,
    }),
  );
  const hello = Buffer.from('Hello');
  const deflated = compress(hello, 15);
  add({
    id: 'RFC7692-6.1',
    title: 'uncompressed and compressed messages may alternate',
    offer: PMD,
    agreed: {},
    steps: [text(hello), text(deflated, { rsv: 4 }), binary(hello), BYE],
    expect: [echo(hello), echo(hello), echoBin(hello), BYE_ECHO],
  });
  add({
    id: 'RFC7692-7.2.3',
    title: 'a message ending in a BFINAL block is accepted',
    offer: PMD,
    agreed: {},
    steps: [text(zlib.deflateRawSync(hello), { rsv: 4 }), BYE],
    expect: [echo(hello), BYE_ECHO],
  });
  // The tail comes off the end of the message only (7.2.1): the first fragment keeps its sync
  // flush, and the last is an empty stored block whose LEN/NLEN are that removed tail.
  add({
    id: 'RFC7692-7.2.3',
    title: 'a compressed message whose last fragment is an empty stored block',
    offer: PMD,
    agreed: {},
    steps: [text(zlib.deflateRawSync(hello, { finishFlush: zlib.constants.Z_SYNC_FLUSH }), { rsv: 4, fin: false }), cont(Buffer.from([0x00])), BYE],
    expect: [echo(hello), BYE_ECHO],
  });
  add({
    id: 'RFC7692-7.2.3',
    title: 'a compressed message split into 1-byte fragments',
    offer: PMD,
    agreed: {},
    steps: [...fragments(OP.TEXT, deflated, 1, 4), BYE],
    expect: [echo(hello), BYE_ECHO],
  });
  add({ id: 'RFC7692-6.1', title: 'RSV1 on a continuation frame', offer: PMD, agreed: {}, steps: [text(deflated.subarray(0, 3), { rsv: 4, fin: false }), cont(deflated.subarray(3), { rsv: 4 })], expect: [PROTOCOL_ERROR] });
  add({ id: 'RFC7692-6', title: 'RSV1 on a ping', offer: PMD, agreed: {}, steps: [ping('x', { rsv: 4 })], expect: [PROTOCOL_ERROR] });
  add({
    id: 'RFC7692-6.2/6.4.x',
    title: 'compressed text that inflates to invalid UTF-8',
    offer: PMD,
    agreed: {},
    steps: [text(compress(hex('cebae1bdb9cf83cebcceb5eda080656469746564'), 15), { rsv: 4 })],
    expect: [INVALID_PAYLOAD],
  });
  // RFC 7692 6.2 only says to fail the connection; which code is a choice.
  add({ id: 'RFC7692-6.2', title: 'corrupt deflate data', offer: PMD, agreed: {}, steps: [binary(Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv: 4 })], expect: [closed([1002, 1007])] });
  add({
    id: 'RFC7692-6.2/1009',
    title: 'a ~17 KB compressed message that inflates past the 16 MiB limit',
    offer: PMD,
    agreed: {},
    steps: [binary(compress(Buffer.alloc(17 * 1024 * 1024), 15), { rsv: 4 })],
    expect: [TOO_BIG],
  });
}

describe('Autobahn fuzzingclient cases 1-7, 9, 10, 12, 13 against the echo server', () => {
  let echoServer: { port: number; proc: ChildProcess } | undefined;
  beforeAll(async () => {
    echoServer = await startEcho();
  });
  afterAll(() => {
    echoServer?.proc.kill();
  });

  it('the table covers every category asked for', () => {
    const categories = new Set(rows.map((r) => r.id.split('.')[0]));
    for (const c of ['1', '2', '3', '4', '5', '6', '7', '9', '10', '12', '13']) expect(categories.has(c), `category ${c}`).toBe(true);
    expect(rows.length).toBeGreaterThanOrEqual(60);
    for (const id of ['6.4.1', '6.4.2', '6.4.3', '6.4.4', '7.5.1']) expect(rows.some((r) => r.id === id), id).toBe(true);
  });

  for (const row of rows) {
    it(`${row.id}: ${row.title}`, () => play(echoServer!.port, row));
  }
});
