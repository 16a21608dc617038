// Hostile clients (issue 11, point 7): each attack below is a way one cheap client can make the server
// hold far more memory than it sent, or stall everyone else. This file is both a library and a tool:
//
// - test/hostile/bounded.test.ts imports the attacks and `runAttack`, and asserts generous bounds
//   (+200 MB, a canary answered within 5 s) so a busy machine never makes it flake;
// - `node dist/bench/attacks.js` (`make bench-attacks`) runs each against a fresh server with the
//   tight targets (RSS +64 MB at most, canary say->ack p99 under 50 ms) and prints a table.
//
// It is self-contained (node:net only, no test helpers) because it is compiled into dist/ with the
// server, while the tests import the TypeScript directly. Every loop here is bounded in count and in
// time: an attack that cannot finish by its deadline stops and says so in `notes`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Json = Record<string, unknown> & { type: string };

const HOST = '127.0.0.1';
const MB = 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Lets the server and our own sockets run: attacks yield often so they never starve the canary's event loop. */
const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---------------------------------------------------------------------------------------------
// The server's memory, from the kernel's view: VmRSS is what the machine pays, whatever V8 thinks.

/** VmRSS of `pid` in KB; NaN once the process is gone. */
export function rssKB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Samples a process's RSS on a timer and keeps the peak: a burst that is freed again still counts. */
export class RssSampler {
  peakKB: number;
  lastKB: number;
  /** When the peak last rose: "no new peak for a while" is how a hold phase knows the server has settled. */
  peakAt = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 20,
  ) {
    this.peakKB = this.lastKB = rssKB(pid);
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): number {
    const kb = rssKB(this.pid);
    if (!Number.isNaN(kb)) {
      this.lastKB = kb;
      // Growth under 1 MB is noise (allocator slack), not the attack still landing.
      if (kb > this.peakKB + MB) this.peakAt = performance.now();
      if (kb > this.peakKB) this.peakKB = kb;
    }
    return kb;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Minimal clients. They keep nothing they are not asked to keep: an attacker that never reads must not
// make *this* process the one that runs out of memory.

interface Waiter {
  check(): boolean;
}

/** Newline-delimited JSON over TCP. */
export class LineClient {
  /** Events received and not yet taken by `next`. */
  readonly events: Json[] = [];
  ended = false;
  /** Called for every event before it is queued; return true to drop it (the canary keeps nothing). */
  onEvent: ((e: Json) => boolean | void) | undefined;
  private rest = '';
  private waiters: Waiter[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  static connect(port: number, opts: { host?: string; localAddress?: string; noDelay?: boolean; timeoutMs?: number } = {}): Promise<LineClient> {
    return new Promise((res, rej) => {
      const s = net.connect({ port, host: opts.host ?? HOST, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      s.setNoDelay(opts.noDelay ?? true);
      const timer = setTimeout(() => {
        s.destroy();
        rej(new Error(`tcp connect to ${port} timed out`));
      }, opts.timeoutMs ?? 10_000);
      s.once('error', (e) => {
        clearTimeout(timer);
        rej(e);
      });
      s.once('connect', () => {
        clearTimeout(timer);
        res(new LineClient(s));
      });
    });
  }

  send(obj: unknown): boolean {
    return this.write(JSON.stringify(obj) + '\n');
  }

  write(data: string | Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(data);
  }

  /** Resolves when what was written so far has left this process (or the socket is gone). */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.socket.writableLength === 0 || this.socket.destroyed) return Promise.resolve(true);
    return new Promise((res) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        res(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** The first queued event matching `pred` (taken out of the queue). */
  next(pred: (e: Json) => boolean, timeoutMs = 10_000): Promise<Json> {
    return new Promise((res, rej) => {
      const w: Waiter = {
        check: () => {
          const i = this.events.findIndex(pred);
          if (i >= 0) {
            clearTimeout(timer);
            res(this.events.splice(i, 1)[0]!);
            return true;
          }
          if (this.ended) {
            clearTimeout(timer);
            rej(new Error(`connection closed before the event came; last: ${JSON.stringify(this.events.slice(-3))}`));
            return true;
          }
          return false;
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        rej(new Error(`no matching event within ${timeoutMs} ms; last: ${JSON.stringify(this.events.slice(-3)).slice(0, 500)}`));
      }, timeoutMs);
      if (!w.check()) this.waiters.push(w);
    });
  }

  /** Stops reading: the kernel's buffers fill, then whatever the server keeps queuing is the server's problem. */
  pause(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    const text = this.rest + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const line = text.slice(start, nl);
      start = nl + 1;
      if (line.length === 0) continue;
      let e: Json;
      try {
        e = JSON.parse(line) as Json;
      } catch {
        continue;
      }
      if (this.onEvent?.(e) === true) continue;
      this.events.push(e);
    }
    this.rest = text.slice(start);
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => !w.check());
  }
}

/** One masked client frame (RFC 6455 5.2). */
export function wsFrame(opcode: number, payload: Buffer, opts: { fin?: boolean } = {}): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = (opts.fin === false ? 0 : 0x80) | (opcode & 0x0f);
  out[1] = 0x80 | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (ext === 2) out.writeUInt16BE(len, 2);
  if (ext === 8) out.writeBigUInt64BE(BigInt(len), 2);
  const mask = randomBytes(4);
  mask.copy(out, 2 + ext);
  const p = 2 + ext + 4;
  for (let i = 0; i < len; i++) out[p + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/** A WebSocket on /ws: handshake, masked text frames out, unfragmented text frames in. No deflate offered. */
export class WsLite {
  readonly events: Json[] = [];
  ended = false;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Waiter[] = [];

  private constructor(readonly socket: net.Socket) {}

  static connect(port: number, opts: { host?: string; timeoutMs?: number } = {}): Promise<WsLite> {
    return new Promise((res, rej) => {
      const s = net.connect({ port, host: opts.host ?? HOST });
      s.setNoDelay(true);
      const c = new WsLite(s);
      let upgraded = false;
      const timer = setTimeout(() => {
        s.destroy();
        rej(new Error(`ws handshake on ${port} timed out`));
      }, opts.timeoutMs ?? 10_000);
      s.on('error', (e) => {
        if (!upgraded) {
          clearTimeout(timer);
          rej(e);
        }
      });
      s.on('close', () => {
        c.ended = true;
        c.wake();
        if (!upgraded) {
          clearTimeout(timer);
          rej(new Error('closed during the handshake'));
        }
      });
      s.on('data', (chunk: Buffer) => {
        c.buf = c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
        if (!upgraded) {
          const end = c.buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const status = c.buf.subarray(0, end).toString('latin1').split('\r\n')[0] ?? '';
          c.buf = c.buf.subarray(end + 4);
          clearTimeout(timer);
          if (!/^HTTP\/1\.1 101/.test(status)) {
            s.destroy();
            rej(new Error(`handshake refused: ${status}`));
            return;
          }
          upgraded = true;
          res(c);
        }
        c.parse();
      });
      s.once('connect', () => {
        s.write(
          `GET /ws HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
    });
  }

  sendJson(obj: unknown): boolean {
    return this.write(wsFrame(0x1, Buffer.from(JSON.stringify(obj), 'utf8')));
  }

  write(bytes: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  next(pred: (e: Json) => boolean, timeoutMs = 10_000): Promise<Json> {
    return new Promise((res, rej) => {
      const w: Waiter = {
        check: () => {
          const i = this.events.findIndex(pred);
          if (i >= 0) {
            clearTimeout(timer);
            res(this.events.splice(i, 1)[0]!);
            return true;
          }
          if (this.ended) {
            clearTimeout(timer);
            rej(new Error('connection closed before the event came'));
            return true;
          }
          return false;
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        rej(new Error(`no matching event within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!w.check()) this.waiters.push(w);
    });
  }

  pause(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parse(): void {
    let p = 0;
    const b = this.buf;
    while (b.length - p >= 2) {
      const op = b[p]! & 0x0f;
      let len = b[p + 1]! & 0x7f;
      let h = 2;
      if (len === 126) {
        if (b.length - p < 4) break;
        len = b.readUInt16BE(p + 2);
        h = 4;
      } else if (len === 127) {
        if (b.length - p < 10) break;
        len = Number(b.readBigUInt64BE(p + 2));
        h = 10;
      }
      if (b.length - p < h + len) break;
      if (op === 0x1) {
        try {
          this.events.push(JSON.parse(b.subarray(p + h, p + h + len).toString('utf8')) as Json);
        } catch {
          // Not an event; nothing in these attacks depends on it.
        }
      }
      p += h + len;
    }
    this.buf = p === b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(p));
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => !w.check());
  }
}

// ---------------------------------------------------------------------------------------------
// The canary: an ordinary user in a room of its own, saying something every `everyMs`. Its say->ack
// latency is what "the server keeps serving others" means in numbers.

export interface CanaryStats {
  /** Says sent in the window. */
  sent: number;
  acked: number;
  /** Says in the window still without an ack. Each counts at its age so far: a stall is not hidden. */
  outstanding: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class Canary {
  /** [sentAt, latency or NaN while unacked], by id (ids are 0..n-1, so an array). */
  private readonly sentAt: number[] = [];
  private readonly latency: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private waiters: { id: number; res: (ms: number) => void }[] = [];

  private constructor(
    readonly client: LineClient,
    readonly room: string,
  ) {
    // Every event is looked at and dropped: the canary may run for minutes.
    client.onEvent = (e) => {
      if (e.type === 'ack' && typeof e.re === 'number') {
        const id = e.re;
        if (id >= 0 && id < this.sentAt.length && Number.isNaN(this.latency[id]!)) {
          const ms = performance.now() - this.sentAt[id]!;
          this.latency[id] = ms;
          for (const w of this.waiters) if (w.id === id) w.res(ms);
          this.waiters = this.waiters.filter((w) => w.id !== id);
        }
        return true;
      }
      return e.type === 'message' || e.type === 'joined' || e.type === 'left';
    };
  }

  static async connect(port: number, name = 'canary', room = 'canary-room'): Promise<Canary> {
    const c = await LineClient.connect(port);
    c.send({ type: 'hello', name, protocol: 1, id: 'hello' });
    await c.next((e) => e.type === 'welcome' || e.type === 'error');
    c.send({ type: 'join', room, history: 0, id: 'join' });
    await c.next((e) => e.type === 'members' || e.type === 'error');
    c.events.length = 0;
    return new Canary(c, room);
  }

  /** Says something now; resolves with its latency once acked. */
  say(): Promise<number> {
    const id = this.sentAt.length;
    this.sentAt.push(performance.now());
    this.latency.push(Number.NaN);
    const p = new Promise<number>((res) => this.waiters.push({ id, res }));
    this.client.send({ type: 'say', room: this.room, text: `canary ${id}`, id });
    return p;
  }

  /** One say, answered within `timeoutMs` or an error: "this client is still being served". */
  async roundTrip(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<number>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`canary say not acked within ${timeoutMs} ms${this.client.ended ? ' (its connection was closed)' : ''}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.say(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts saying something every `everyMs` (a timer: a stalled server makes acks late, not says). */
  start(everyMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.say(), everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Milliseconds on the canary's clock, for `stats(from)`. */
  now(): number {
    return performance.now();
  }

  /** Latency figures for says sent at or after `from` (a `now()` value). */
  stats(from = 0): CanaryStats {
    const now = performance.now();
    const lat: number[] = [];
    let acked = 0;
    let outstanding = 0;
    for (let i = 0; i < this.sentAt.length; i++) {
      if (this.sentAt[i]! < from) continue;
      const l = this.latency[i]!;
      if (Number.isNaN(l)) {
        outstanding++;
        lat.push(now - this.sentAt[i]!);
      } else {
        acked++;
        lat.push(l);
      }
    }
    lat.sort((a, b) => a - b);
    const q = (p: number): number => (lat.length === 0 ? 0 : lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)]!);
    return { sent: lat.length, acked, outstanding, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: lat.length ? lat[lat.length - 1]! : 0 };
  }

  close(): void {
    this.stop();
    this.client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Set-up helpers: state an attack needs, built before anything is measured.

export interface Target {
  tcpPort: number;
  httpPort: number;
  pid: number;
}

async function hello(port: number, name: string): Promise<LineClient> {
  const c = await LineClient.connect(port);
  c.send({ type: 'hello', name, protocol: 1, id: 'hello' });
  const e = await c.next((x) => x.type === 'welcome' || x.type === 'error');
  if (e.type !== 'welcome') throw new Error(`hello ${name}: ${JSON.stringify(e)}`);
  return c;
}

/**
 * Puts `count` messages of `textChars` characters into `room`, in acked batches (the filler reads, so
 * it never trips the slow-consumer rule itself). The server must retain them: --history-per-room.
 */
export async function fillRoom(port: number, room: string, count: number, textChars: number, deadline: number): Promise<void> {
  const c = await hello(port, `filler-${room}`.slice(0, 32));
  try {
    c.onEvent = (e) => e.type === 'message' || e.type === 'history' || e.type === 'joined';
    c.send({ type: 'join', room, history: 0 });
    await c.next((e) => e.type === 'members');
    const pad = 'f'.repeat(Math.max(0, textChars - 12));
    const BATCH = 200;
    for (let i = 0; i < count; ) {
      if (Date.now() > deadline) throw new Error(`fillRoom ${room}: only ${i} of ${count} messages by the deadline`);
      const n = Math.min(BATCH, count - i);
      let lines = '';
      for (let k = 0; k < n; k++) lines += JSON.stringify({ type: 'say', room, text: `${String(i + k).padStart(10, '0')}:${pad}`, id: i + k }) + '\n';
      c.write(lines);
      const last = i + n - 1;
      await c.next((e) => e.type === 'ack' && e.re === last, Math.max(1000, deadline - Date.now()));
      c.events.length = 0;
      i += n;
    }
  } finally {
    c.destroy();
  }
}

/**
 * Makes `count` users known to the server, as if that many people had ever connected: each is one
 * connection that says hello then bye. Source addresses rotate over 127.0.0.2-254 so 20,000 short
 * connections never run out of ephemeral ports on one address (TIME_WAIT holds them for a minute).
 */
export async function createUsers(port: number, count: number, deadline: number, prefix = 'u', concurrency = 48): Promise<number> {
  let nextIndex = 0;
  let made = 0;
  const one = (i: number): Promise<boolean> =>
    new Promise((res) => {
      const s = net.connect({ port, host: HOST, localAddress: `127.0.0.${2 + (i % 253)}` });
      let got = '';
      let ok = false;
      const timer = setTimeout(() => s.destroy(), 10_000);
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        got += d;
        if (!ok && got.includes('"type":"welcome"')) ok = true;
      });
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(timer);
        res(ok);
      });
      s.once('connect', () => s.write(`{"type":"hello","name":"${prefix}${i}","protocol":1}\n{"type":"bye"}\n`));
    });
  const worker = async (): Promise<void> => {
    while (nextIndex < count && Date.now() < deadline) {
      const i = nextIndex++;
      if (await one(i)) made++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return made;
}

// ---------------------------------------------------------------------------------------------
// The attacks.

/** What a launched attack leaves behind: its connections, held open until `close`. */
export interface Launched {
  close(): void;
  /** Anything the run should report (an attack cut short by its deadline, counts). */
  notes: string[];
}

export interface Attack {
  name: string;
  /** One line for the table. */
  what: string;
  /** Server flags this attack needs (besides the defaults of whoever starts the server). */
  flags: string[];
  /** Builds what the attack needs; not measured. */
  setup?(t: Target, deadline: number): Promise<void>;
  /** Runs the attack: resolves once every attacking byte has been written (or the deadline passed). */
  launch(t: Target, deadline: number): Promise<Launched>;
}

function closeAll(clients: { destroy(): void }[], notes: string[] = []): Launched {
  return { close: () => clients.forEach((c) => c.destroy()), notes };
}

/** Says hello and joins `room` (no history): an attacker ready to fire. */
async function attacker(port: number, name: string, room: string | undefined): Promise<LineClient> {
  const c = await hello(port, name);
  if (room !== undefined) {
    c.send({ type: 'join', room, history: 0 });
    await c.next((e) => e.type === 'members');
  }
  return c;
}

/** Every attacker stops reading, then each sends `body` in one write, all in the same turn. */
function fire(clients: LineClient[], body: string): void {
  for (const c of clients) c.pause();
  for (const c of clients) c.write(body);
}

const repeatLine = (obj: unknown, n: number): string => (JSON.stringify(obj) + '\n').repeat(n);

/** Sizes of each attack; the tool uses these defaults, the tests some smaller ones to stay inside their time budget. */
export interface HistoryFloodParams { room: string; messages: number; textChars: number; requests: number; clients: number }
export interface JoinFloodParams { room: string; messages: number; textChars: number; joins: number }
export interface WhoFloodParams { users: number; requests: number }
export interface WsFragmentsParams { connections: number; fragments: number }
export interface TcpBytesParams { connections: number; lineBytes: number }
export interface SayFloodParams { says: number; textChars: number; room: string }

/** N history requests of 1,000 messages each in one write (600 of them: ~31 KB), from clients that never read. */
export function historyFlood(p: HistoryFloodParams = { room: 'history-1', messages: 1000, textChars: 500, requests: 600, clients: 2 }): Attack {
  return {
    name: 'history-flood',
    what: `${p.clients} TCP clients, each ${p.requests}x history limit 1000 in one write, never read (room of ${p.messages} msgs x ${p.textChars} chars)`,
    flags: ['--history-per-room', String(Math.max(p.messages, 1000))],
    setup: (t, deadline) => fillRoom(t.tcpPort, p.room, p.messages, p.textChars, deadline),
    async launch(t) {
      const body = repeatLine({ type: 'history', room: p.room, limit: 1000 }, p.requests);
      const cs: LineClient[] = [];
      for (let i = 0; i < p.clients; i++) cs.push(await attacker(t.tcpPort, `historian${i}`, p.room));
      fire(cs, body);
      return closeAll(cs, [`${body.length} bytes per client`]);
    },
  };
}

/** N resumes from seq 0 in one write, never read: each asks for every retained message. */
export function joinSinceFlood(p: JoinFloodParams = { room: 'resume', messages: 5000, textChars: 500, joins: 100 }): Attack {
  return {
    name: 'join-since-0',
    what: `1 TCP client, ${p.joins}x join since:0 in one write, never read (room of ${p.messages} msgs x ${p.textChars} chars)`,
    flags: ['--history-per-room', String(p.messages)],
    setup: (t, deadline) => fillRoom(t.tcpPort, p.room, p.messages, p.textChars, deadline),
    async launch(t) {
      const body = repeatLine({ type: 'join', room: p.room, since: 0 }, p.joins);
      const c = await attacker(t.tcpPort, 'resumer', undefined);
      fire([c], body);
      return closeAll([c], [`${body.length} bytes`]);
    },
  };
}

/** N `who` (every user ever seen) in one write after many users have connected, never read. */
export function whoFlood(p: WhoFloodParams = { users: 20_000, requests: 300 }): Attack {
  return {
    name: 'who-flood',
    what: `1 TCP client, ${p.requests}x who (no room) in one write after ${p.users} users, never read`,
    flags: [],
    async setup(t, deadline) {
      const made = await createUsers(t.tcpPort, p.users, deadline);
      if (made < p.users) throw new Error(`who-flood: only ${made} of ${p.users} users by the deadline`);
    },
    async launch(t) {
      const body = repeatLine({ type: 'who' }, p.requests);
      const c = await attacker(t.tcpPort, 'census', undefined);
      fire([c], body);
      return closeAll([c], [`${body.length} bytes`]);
    },
  };
}

/**
 * A text message opened with FIN=0, then 65,000 one-byte continuations, never finished: 65,001 bytes of
 * message (under the 64 KiB limit) in 455 KB of frames, per connection.
 */
export function wsFragments(p: WsFragmentsParams = { connections: 30, fragments: 65_000 }): Attack {
  return {
    name: 'ws-fragments',
    what: `${p.connections} WS connections, each a text message of 1 + ${p.fragments} one-byte fragments, never finished`,
    flags: [],
    async launch(t, deadline) {
      const cs: WsLite[] = [];
      const notes: string[] = [];
      const one = Buffer.from('a');
      // One 7-byte continuation frame repeated: the mask need not vary for the server to have to keep
      // every fragment, and building 65,000 masked frames one by one would slow the attack, not the server.
      const cont = wsFrame(0x0, one, { fin: false });
      const body = Buffer.alloc(cont.length * p.fragments, cont);
      for (let i = 0; i < p.connections && Date.now() < deadline; i++) {
        const c = await WsLite.connect(t.httpPort);
        cs.push(c);
        // Said hello so the hello timeout does not end the attack for the server.
        c.sendJson({ type: 'hello', name: `frag${i}`, protocol: 1 });
        await c.next((e) => e.type === 'welcome');
        c.pause();
        c.write(wsFrame(0x1, one, { fin: false }));
        c.write(body);
        await yieldTurn();
      }
      if (cs.length < p.connections) notes.push(`only ${cs.length} connections by the deadline`);
      return closeAll(cs, notes);
    },
  };
}

/**
 * A long line with no newline, sent one byte per write (Nagle off, so one segment each) from several
 * connections in turn: the server sees many tiny reads of an unfinished line.
 */
export function tcpOneByte(p: TcpBytesParams = { connections: 20, lineBytes: 60_000 }): Attack {
  return {
    name: 'tcp-one-byte',
    what: `${p.connections} TCP connections, each a ${Math.round(p.lineBytes / 1000)} KB line without newline, one byte per write`,
    flags: [],
    async launch(t, deadline) {
      const cs: LineClient[] = [];
      for (let i = 0; i < p.connections; i++) {
        const c = await hello(t.tcpPort, `dribble${i}`);
        c.pause();
        cs.push(c);
      }
      // A JSON prefix so the line is plausible, then one byte at a time; the server must wait for the end.
      const line = Buffer.from(('{"type":"say","room":"r","text":"' + 'x'.repeat(p.lineBytes)).slice(0, p.lineBytes));
      let sent = 0;
      for (let pos = 0; pos < line.length && Date.now() < deadline; pos++) {
        const b = line.subarray(pos, pos + 1);
        for (const c of cs) c.write(b);
        sent++;
        // Every few rounds, let the server read: otherwise the kernel coalesces the bytes into big reads.
        if ((pos & 15) === 15) {
          await yieldTurn();
          // Our own write queue must not grow without bound if the server stops reading.
          if (cs.some((c) => c.socket.writableLength > 1 << 20)) await cs[0]!.drained(Math.max(0, deadline - Date.now()));
        }
      }
      return closeAll(cs, sent < line.length ? [`only ${sent} of ${line.length} bytes per connection by the deadline`] : [`${sent * cs.length} one-byte writes`]);
    },
  };
}

/** One client says N times as fast as its socket takes it and never reads a reply. */
export function sayFlood(p: SayFloodParams = { says: 200_000, textChars: 20, room: 'flood' }): Attack {
  return {
    name: 'say-flood',
    what: `1 TCP client, ${p.says} says with ids in big writes, never read`,
    flags: [],
    async launch(t, deadline) {
      const c = await hello(t.tcpPort, 'flooder');
      c.send({ type: 'join', room: p.room, history: 0 });
      await c.next((e) => e.type === 'members');
      c.pause();
      const text = 'y'.repeat(p.textChars);
      const BATCH = 5000;
      let sent = 0;
      while (sent < p.says && Date.now() < deadline && !c.ended) {
        let lines = '';
        const n = Math.min(BATCH, p.says - sent);
        for (let k = 0; k < n; k++) lines += `{"type":"say","room":"${p.room}","text":"${text}","id":${sent + k}}\n`;
        sent += n;
        // As fast as it can, but no faster than the socket drains: our memory is not what is being tested.
        if (!c.write(lines)) await c.drained(Math.max(0, deadline - Date.now()));
        else await yieldTurn();
      }
      return closeAll([c], [`${sent} says written${c.ended ? ' (the server closed the connection)' : ''}`]);
    },
  };
}

/** The benchmark's set, at full size. */
export const ATTACKS: readonly Attack[] = [historyFlood(), joinSinceFlood(), whoFlood(), wsFragments(), tcpOneByte(), sayFlood()];

// ---------------------------------------------------------------------------------------------
// One measured run.

export interface RunOptions {
  /** Longest time launch may take. */
  launchMs: number;
  /** After launch, hold the attack at most this long... */
  holdMaxMs: number;
  /** ...but stop sooner once RSS has not set a new peak for this long and the canary has been answered. */
  quietMs: number;
  /** After closing the attackers, wait at most this long for RSS to stop falling. */
  afterMaxMs: number;
  canaryEveryMs: number;
  /** Called between phases (progress lines in the tool). */
  log?: (line: string) => void;
}

export interface AttackResult {
  name: string;
  what: string;
  rssBeforeKB: number;
  rssPeakKB: number;
  rssAfterKB: number;
  /** Canary latency from the start of the launch to the end of the hold. */
  canary: CanaryStats;
  /** Whether a say sent after the attackers were closed was acked in time. */
  servedAfter: boolean;
  serverAlive: boolean;
  launchMs: number;
  holdMs: number;
  notes: string[];
}

/**
 * Runs `attack` against a server that has already done `attack.setup`. The canary must already be
 * connected (it is passed in so callers can start it before the setup, or after). Never throws for
 * what the server does (a dead server is a result); throws only when the attack itself cannot start.
 */
export async function runAttack(attack: Attack, target: Target, canary: Canary, alive: () => boolean, o: RunOptions): Promise<AttackResult> {
  const log = o.log ?? ((): void => {});
  const sampler = new RssSampler(target.pid);
  const rssBeforeKB = sampler.sample();
  canary.start(o.canaryEveryMs);
  const from = canary.now();
  const t0 = performance.now();
  let launched: Launched | undefined;
  const notes: string[] = [];
  try {
    log(`${attack.name}: launch`);
    launched = await attack.launch(target, Date.now() + o.launchMs);
    notes.push(...launched.notes);
  } catch (e) {
    notes.push(`launch failed: ${(e as Error).message}`);
  }
  const t1 = performance.now();
  log(`${attack.name}: launched in ${Math.round(t1 - t0)} ms, holding`);
  // Hold: the attack is landing until the server stops growing and answers the canary again.
  let answeredSince = false;
  const probe = (): void => {
    canary.roundTrip(o.holdMaxMs).then(
      () => (answeredSince = true),
      () => {},
    );
  };
  probe();
  while (performance.now() - t1 < o.holdMaxMs && alive()) {
    await sleep(50);
    sampler.sample();
    if (answeredSince && performance.now() - sampler.peakAt >= o.quietMs && performance.now() - t1 >= o.quietMs) break;
  }
  const holdMs = performance.now() - t1;
  const stats = canary.stats(from);
  if (!answeredSince) notes.push(`canary not answered in the ${Math.round(holdMs)} ms after launch`);
  launched?.close();
  log(`${attack.name}: closed attackers after ${Math.round(holdMs)} ms hold; peak ${Math.round(sampler.peakKB / MB)} MB`);
  // After: how much the server gives back once the attackers are gone.
  const tAfter = performance.now();
  let lastKB = sampler.sample();
  let stableSince = performance.now();
  while (performance.now() - tAfter < o.afterMaxMs && alive()) {
    await sleep(100);
    const kb = sampler.sample();
    if (kb < lastKB - MB) stableSince = performance.now();
    lastKB = kb;
    if (performance.now() - stableSince >= 1000) break;
  }
  canary.stop();
  let servedAfter = false;
  if (alive()) {
    try {
      await canary.roundTrip(5000);
      servedAfter = true;
    } catch (e) {
      notes.push((e as Error).message);
    }
  }
  sampler.stop();
  return {
    name: attack.name,
    what: attack.what,
    rssBeforeKB,
    rssPeakKB: sampler.peakKB,
    rssAfterKB: sampler.lastKB,
    canary: stats,
    servedAfter,
    serverAlive: alive(),
    launchMs: Math.round(t1 - t0),
    holdMs: Math.round(holdMs),
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// The tool.

/** Tight targets of the benchmark (the tests use generous ones). */
export const TARGET_RSS_GROWTH_KB = 64 * MB;
export const TARGET_CANARY_P99_MS = 50;

interface SpawnedServer {
  target: Target;
  proc: ChildProcess;
  stderrTail(): string;
  stop(): Promise<void>;
}

const SERVER_JS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'server', 'main.js');

/** Flags the server's --help lists (so a flag that does not exist yet is never passed). */
export function helpLists(flag: string, helpText: string): boolean {
  return new RegExp(`^\\s*${flag.replace(/[-]/g, '\\-')}\\b`, 'm').test(helpText);
}

function serverHelp(): Promise<string> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [SERVER_JS, '--help'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout!.setEncoding('utf8');
    p.stdout!.on('data', (d: string) => (out += d));
    p.on('close', () => res(out));
  });
}

function spawnServer(flags: string[]): Promise<SpawnedServer> {
  const args = [SERVER_JS, '--host', HOST, '--tcp-port', '0', '--http-port', '0', '--irc-port', '0', '--memory', '--log-level', 'warn', ...flags];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8');
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`server did not start: ${err}`));
    }, 15_000);
    proc.stderr!.on('data', (d: string) => {
      // Keep a tail only: a slow-consumer warning per attacker adds up over a run.
      err = (err + d).slice(-20_000);
      const m = /parley listening tcp=\S+:(\d+) http=\S+:(\d+)/.exec(err);
      if (m && timer.hasRef()) {
        clearTimeout(timer);
        timer.unref();
        res({
          target: { tcpPort: Number(m[1]), httpPort: Number(m[2]), pid: proc.pid! },
          proc,
          stderrTail: () => err,
          stop: () =>
            new Promise((done) => {
              if (proc.exitCode !== null || proc.signalCode !== null) return done();
              const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
              proc.once('exit', () => {
                clearTimeout(kill);
                done();
              });
              proc.kill('SIGTERM');
            }),
        });
      }
    });
    proc.once('exit', (code) => {
      if (timer.hasRef()) {
        clearTimeout(timer);
        rej(new Error(`server exited ${code} before listening: ${err}`));
      }
    });
  });
}

const mb = (kb: number): string => (Number.isNaN(kb) ? '-' : (kb / MB).toFixed(0));
const ms = (x: number): string => (x < 10 ? x.toFixed(1) : x.toFixed(0));

export interface Verdict {
  rssOk: boolean;
  canaryOk: boolean;
  pass: boolean;
}

export function verdict(r: AttackResult): Verdict {
  const rssOk = r.serverAlive && r.rssPeakKB - r.rssBeforeKB <= TARGET_RSS_GROWTH_KB;
  const canaryOk = r.serverAlive && r.servedAfter && r.canary.p99Ms < TARGET_CANARY_P99_MS;
  return { rssOk, canaryOk, pass: rssOk && canaryOk };
}

export function table(results: AttackResult[]): string {
  const rows = [
    '| attack | RSS before / peak / after (MB) | growth (MB) | canary p50 / p99 / max (ms) | canary says (unacked) | result |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const v = verdict(r);
    const why = [!v.rssOk ? `RSS +${mb(r.rssPeakKB - r.rssBeforeKB)} MB > 64` : '', !v.canaryOk ? (r.serverAlive ? `p99 ${ms(r.canary.p99Ms)} ms >= 50` : 'server died') : '']
      .filter((s) => s !== '')
      .join('; ');
    rows.push(
      `| ${r.name} | ${mb(r.rssBeforeKB)} / ${mb(r.rssPeakKB)} / ${mb(r.rssAfterKB)} | +${mb(r.rssPeakKB - r.rssBeforeKB)} | ` +
        `${ms(r.canary.p50Ms)} / ${ms(r.canary.p99Ms)} / ${ms(r.canary.maxMs)} | ${r.canary.sent} (${r.canary.outstanding}) | ${v.pass ? 'pass' : `**FAIL** (${why})`} |`,
    );
  }
  return rows.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let only: string[] | undefined;
  let check = false;
  let out: string | undefined = join(dirname(SERVER_JS), '..', '..', 'bench', 'results', 'attacks.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') only = (argv[++i] ?? '').split(',');
    else if (a === '--check') check = true;
    else if (a === '--no-json') out = undefined;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        `usage: node dist/bench/attacks.js [--only ${ATTACKS.map((x) => x.name).join(',')}] [--check] [--no-json]\n` +
          `Runs each attack against a fresh in-memory server and prints a markdown table; --check exits 1 when a target is missed.\n`,
      );
      return 0;
    } else {
      process.stderr.write(`unknown argument ${a}\n`);
      return 2;
    }
  }
  const help = await serverHelp();
  // The rate limiter the rewrite may add would turn the set-up (20,000 hellos, filling rooms) into a
  // test of the limiter; the attacks are about memory and fairness, so it is off when it exists.
  const common = helpLists('--no-rate-limit', help) ? ['--no-rate-limit'] : [];
  const results: AttackResult[] = [];
  const log = (line: string): void => void process.stderr.write(`attacks: ${line}\n`);
  for (const attack of ATTACKS) {
    if (only && !only.includes(attack.name)) continue;
    const srv = await spawnServer([...common, ...attack.flags]);
    const alive = (): boolean => srv.proc.exitCode === null && srv.proc.signalCode === null;
    try {
      log(`${attack.name}: setup`);
      await attack.setup?.(srv.target, Date.now() + 90_000);
      const canary = await Canary.connect(srv.target.tcpPort);
      // A quiet second of canary traffic first, so the connection and the server are warm.
      canary.start(50);
      await sleep(1000);
      canary.stop();
      // A long hold: today's server stalls for 10-20 s on some attacks, and the peak comes at the end of the stall.
      const r = await runAttack(attack, srv.target, canary, alive, { launchMs: 30_000, holdMaxMs: 45_000, quietMs: 2000, afterMaxMs: 10_000, canaryEveryMs: 50, log });
      canary.close();
      if (!r.serverAlive) r.notes.push(`server exited: ${srv.stderrTail().split('\n').filter((l) => /Error|at /.test(l)).slice(0, 3).join(' | ')}`);
      results.push(r);
      process.stdout.write(JSON.stringify({ ...r, verdict: verdict(r) }) + '\n');
    } finally {
      await srv.stop();
    }
  }
  process.stdout.write(`\n${table(results)}\n`);
  process.stdout.write(`\nNode ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' / ')} at the end\n`);
  for (const r of results) if (r.notes.length) process.stdout.write(`- ${r.name}: ${r.notes.join('; ')}\n`);
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), node: process.version, loadavg: loadavg(), results }, null, 2) + '\n');
  }
  return check && results.some((r) => !verdict(r).pass) ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`attacks: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
