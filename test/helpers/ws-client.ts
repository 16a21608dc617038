// A raw-socket WebSocket client for tests. Deliberately independent of server/ws/: it builds its own
// frames and parses the server's, so a bug in our frame code cannot hide itself from the tests.
//
//   const c = await connectWs(port);                 // handshake on /ws, throws unless 101
//   c.sendJson({ type: 'hello', name: 'amy', protocol: 1 });
//   await c.next((e) => e.type === 'welcome');        // JSON events from text messages
//   c.sendFrame(0x9, Buffer.from('hi'));              // any opcode, any bytes (masked by default)
//   const close = await c.nextFrame((f) => f.opcode === 0x8);
//   await c.closed();
//
// Every wait rejects after a timeout instead of hanging. Compressed (RSV1) messages are inflated for
// `messages`/`next`; `frames` keeps them exactly as they arrived.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { ROOT } from './server.js';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

export interface Message {
  binary: boolean;
  data: Buffer;
  /** The frame carried RSV1 (permessage-deflate). */
  compressed: boolean;
}

export type Event = Record<string, unknown> & { type: string };

export interface HttpResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

export interface WsClient {
  socket: Socket;
  /** The 101 response. */
  response: HttpResponse;
  /** Every frame received, as it arrived. */
  frames: Frame[];
  /** Every complete data message (unfragmented frames only: the server never fragments). */
  messages: Message[];
  sendFrame(opcode: number, payload: Buffer | string, opts?: { fin?: boolean; rsv1?: boolean; masked?: boolean }): void;
  sendText(text: string): void;
  sendJson(obj: unknown): void;
  /** Bytes straight onto the socket. */
  sendRaw(bytes: Buffer): void;
  /** A close frame; no code means an empty payload. */
  sendClose(code?: number, reason?: string): void;
  /** First frame (not yet taken by nextFrame) matching predicate. */
  nextFrame(predicate?: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** First JSON event (not yet taken by next) matching predicate. */
  next(predicate?: (e: Event) => boolean, timeoutMs?: number): Promise<Event>;
  /** The server's close frame as {code, reason}; code 1005 for an empty one. */
  closeFrame(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  /** Resolves when the TCP connection has closed. */
  closed(timeoutMs?: number): Promise<void>;
  isClosed(): boolean;
  destroy(): void;
}

export interface ConnectOptions {
  host?: string;
  path?: string;
  /** Extra or replacement request headers (e.g. Origin, Sec-WebSocket-Extensions). */
  headers?: Record<string, string>;
  /** Shorthand for offering permessage-deflate with both no_context_takeover flags. */
  deflate?: boolean;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Builds one client frame. Masked unless told otherwise (to test the server's refusal). */
export function clientFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; rsv1?: boolean; masked?: boolean } = {}): Buffer {
  const { fin = true, rsv1 = false, masked = true } = opts;
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0xf);
  head[1] = (masked ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = randomBytes(4);
  mask.copy(head, 2 + ext);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, body]);
}

/** Parses as many complete server frames as `buf` holds; returns them and the unread rest. */
export function parseFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    let len = b1 & 0x7f;
    let hl = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      hl = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      hl = 10;
    }
    if (b1 & 0x80) throw new Error('server frame is masked');
    if (buf.length - off < hl + len) break;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0xf, payload: Buffer.from(buf.subarray(off + hl, off + hl + len)) });
    off += hl + len;
  }
  return { frames, rest: buf.subarray(off) };
}

function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const [statusLine, ...lines] = text.split('\r\n');
  const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers };
}

/** A fresh valid Sec-WebSocket-Key. */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

/** The standard upgrade request headers (a valid handshake) for `path`. */
export function upgradeHeaders(port: number, host = '127.0.0.1'): Record<string, string> {
  return {
    Host: `${host}:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': newKey(),
    'Sec-WebSocket-Version': '13',
  };
}

/**
 * Sends a raw HTTP request text and resolves with the response once the server closes the socket or
 * sends a complete response (101: head only). For handshake tables: anything can be sent.
 */
export function rawHttp(
  port: number,
  request: string,
  timeoutMs = 5000,
  host = '127.0.0.1',
  /** tls: speak TLS (HTTPS) with these options; localAddress: the source address on loopback. */
  via: { tls?: ConnectionOptions; localAddress?: string } = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const local = via.localAddress ? { localAddress: via.localAddress } : {};
    const socket = via.tls ? connectTls({ port, host, ...local, ...via.tls }) : connect({ port, host, ...local });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(buf.toString('latin1'))}`));
    }, timeoutMs);
    const finish = (): boolean => {
      const text = buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const { status, headers } = parseHead(text.slice(0, end));
      const want = status === 101 ? 0 : Number(headers['content-length'] ?? NaN);
      const body = buf.subarray(end + 4);
      if (!Number.isNaN(want) && body.length < want) return false;
      if (Number.isNaN(want) && !socket.readableEnded) return false;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status, headers, body: body.toString('utf8') });
      return true;
    };
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      finish();
    });
    socket.on('end', () => {
      if (!finish()) {
        clearTimeout(timer);
        reject(new Error(`connection closed before a complete response: ${JSON.stringify(buf.toString('latin1'))}`));
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on(via.tls ? 'secureConnect' : 'connect', () => socket.write(request));
  });
}

/** Builds the text of an upgrade request from a header map (undefined values are left out). */
export function requestText(path: string, headers: Record<string, string | undefined>, method = 'GET', version = 'HTTP/1.1'): string {
  const lines = [`${method} ${path} ${version}`];
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Opens a WebSocket on /ws (or opts.path). Rejects unless the server answers 101. */
export function connectWs(port: number, opts: ConnectOptions = {}): Promise<WsClient> {
  const host = opts.host ?? '127.0.0.1';
  const headers: Record<string, string> = { ...upgradeHeaders(port, host) };
  if (opts.deflate) headers['Sec-WebSocket-Extensions'] = 'permessage-deflate; client_no_context_takeover; server_no_context_takeover';
  Object.assign(headers, opts.headers ?? {});
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host });
    socket.setNoDelay(true);
    const frames: Frame[] = [];
    const messages: Message[] = [];
    const events: Event[] = [];
    const takenFrames = new Set<number>();
    const takenEvents = new Set<number>();
    let waiters: (() => void)[] = [];
    let buf = Buffer.alloc(0);
    let response: HttpResponse | undefined;
    let ended = false;
    const wake = (): void => {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    };

    const onFrame = (f: Frame): void => {
      frames.push(f);
      if (f.opcode !== OP.TEXT && f.opcode !== OP.BINARY) return;
      const data = f.rsv1 ? zlib.inflateRawSync(Buffer.concat([f.payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : f.payload;
      messages.push({ binary: f.opcode === OP.BINARY, data, compressed: f.rsv1 });
      if (f.opcode === OP.TEXT) {
        try {
          const v: unknown = JSON.parse(data.toString('utf8'));
          if (v !== null && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string') events.push(v as Event);
        } catch {
          // Not JSON (echo tests): only in `messages`.
        }
      }
    };

    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!response) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const { status, headers: h } = parseHead(buf.subarray(0, end).toString('latin1'));
        response = { status, headers: h, body: '' };
        buf = buf.subarray(end + 4);
        if (status !== 101) {
          socket.destroy();
          reject(new Error(`handshake refused: ${status} ${buf.toString('utf8')}`));
          return;
        }
        resolve(client);
      }
      const { frames: got, rest } = parseFrames(buf);
      buf = Buffer.from(rest);
      for (const f of got) onFrame(f);
      wake();
    });
    socket.on('close', () => {
      ended = true;
      wake();
    });
    socket.on('error', (e) => {
      if (!response) reject(e);
    });

    function waitFor<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
      return new Promise((res, rej) => {
        const found = find();
        if (found !== undefined) return res(found);
        const timer = setTimeout(() => rej(new Error(`no ${what} within ${timeoutMs} ms; frames: ${describe()}`)), timeoutMs);
        const again = (): void => {
          const f = find();
          if (f !== undefined) {
            clearTimeout(timer);
            res(f);
          } else if (ended) {
            clearTimeout(timer);
            rej(new Error(`connection closed before ${what}; frames: ${describe()}`));
          } else waiters.push(again);
        };
        waiters.push(again);
      });
    }
    const describe = (): string =>
      JSON.stringify(frames.slice(-10).map((f) => ({ op: f.opcode, rsv1: f.rsv1, len: f.payload.length, text: f.payload.subarray(0, 80).toString('latin1') })));

    const client: WsClient = {
      socket,
      get response(): HttpResponse {
        return response!;
      },
      frames,
      messages,
      sendFrame: (opcode, payload, o) => socket.write(clientFrame(opcode, Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8'), o)),
      sendText: (text) => socket.write(clientFrame(OP.TEXT, Buffer.from(text, 'utf8'))),
      sendJson: (obj) => socket.write(clientFrame(OP.TEXT, Buffer.from(JSON.stringify(obj), 'utf8'))),
      sendRaw: (bytes) => socket.write(bytes),
      sendClose: (code, reason = '') => {
        if (code === undefined) return void socket.write(clientFrame(OP.CLOSE, Buffer.alloc(0)));
        const r = Buffer.from(reason, 'utf8');
        const p = Buffer.alloc(2 + r.length);
        p.writeUInt16BE(code, 0);
        r.copy(p, 2);
        socket.write(clientFrame(OP.CLOSE, p));
      },
      nextFrame: (predicate = () => true, timeoutMs = 5000) =>
        waitFor(
          () => {
            for (let i = 0; i < frames.length; i++) {
              if (!takenFrames.has(i) && predicate(frames[i]!)) {
                takenFrames.add(i);
                return frames[i]!;
              }
            }
            return undefined;
          },
          timeoutMs,
          'matching frame',
        ),
      next: (predicate = () => true, timeoutMs = 5000) =>
        waitFor(
          () => {
            for (let i = 0; i < events.length; i++) {
              if (!takenEvents.has(i) && predicate(events[i]!)) {
                takenEvents.add(i);
                return events[i]!;
              }
            }
            return undefined;
          },
          timeoutMs,
          'matching event',
        ),
      closeFrame: async (timeoutMs = 5000) => {
        const f = await client.nextFrame((x) => x.opcode === OP.CLOSE, timeoutMs);
        if (f.payload.length < 2) return { code: 1005, reason: '' };
        return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString('utf8') };
      },
      closed: (timeoutMs = 5000) =>
        waitFor(() => (ended ? true : undefined), timeoutMs, 'close of the connection').then(() => undefined),
      isClosed: () => ended,
      destroy: () => socket.destroy(),
    };
    socket.on('connect', () => {
      socket.write(requestText(opts.path ?? '/ws', headers));
    });
  });
}

/** Connects and says hello over WebSocket; resolves once welcomed. */
export async function helloWs(port: number, name: string, opts: ConnectOptions = {}): Promise<WsClient> {
  const c = await connectWs(port, opts);
  c.sendJson({ type: 'hello', name, protocol: 1, id: 'hello' });
  await c.next((e) => e.type === 'welcome');
  return c;
}

/** The built echo server (server/ws/echo.ts). */
export const ECHO_JS = join(ROOT, 'dist', 'server', 'ws', 'echo.js');

/** Starts the echo server on an ephemeral port; resolves once it prints its banner. Kill `proc` when done. */
export function startEcho(args: string[] = ['--port', '0']): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [ECHO_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill();
      reject(new Error(`echo did not start within 10 s: ${out}`));
    }, 10_000);
    proc.stderr!.resume();
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (c: string) => {
      out += c;
      const m = /echo listening on ws:\/\/\S+:(\d+)/.exec(out);
      if (m && timer.hasRef()) {
        clearTimeout(timer);
        timer.unref();
        resolve({ port: Number(m[1]), proc });
      }
    });
    proc.once('exit', (code) => {
      if (timer.hasRef()) {
        clearTimeout(timer);
        reject(new Error(`echo exited ${code} before listening: ${out}`));
      }
    });
  });
}
