// Issue 11, point 5: a fuzz of the whole request path, against a real server process over real sockets.
//
// Six workers (three TCP, three WebSocket) run sessions for 10 s (PARLEY_FUZZ_MS for longer): connect, usually hello and join,
// then exchanges of mutated requests (every request type; fields set to null, wrong types, huge and
// negative numbers, NaN-ish strings, nested objects, unicode and lone surrogates, missing and extra
// fields, __proto__/constructor keys, duplicate keys, truncated JSON, invalid UTF-8, CR/LF games,
// over-long lines), each exchange written in a random chunking (one byte at a time included) and
// followed by a sentinel ping. Over WebSocket the messages are also fragmented, compressed, interleaved
// with control frames, garbled by a wrong mask, and sessions end on broken frames (bad opcodes, reserved
// bits, unmasked, stray continuations, fragmented or oversized control frames, bad close codes and
// reasons, oversize lengths, binary).
//
// Asserted:
// - the server process never exits (when it does, the fuzz records the stack, restarts it, carries on,
//   and at the end replays the requests that were in flight to name the one that kills it);
// - every request is answered as the protocol says (helpers/mutate.ts is the oracle): a valid id gets
//   exactly one reply carrying it, a broken line or id one error of the predicted code, a frame the
//   WebSocket layer must refuse closes with the predicted code — unless the connection was legitimately
//   closed first (bye, a fatal error, a close frame);
// - afterwards a fresh client on each transport can hello, join and say, and gets its ack and message.
//
// Seeds: workers alternate between a fixed seed (the same run every time) and a per-run seed (new
// coverage every run); both are printed, and PARLEY_FUZZ_SEED=<n> replays a run's seed.
// PARLEY_FUZZ_MS changes the duration.
//
// Also here: the regression rows for null in every optional field (and the required ones) of every
// request type, after hello, on both transports; `who {room:null}` killed the server (TypeError in nameKey).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillRoom } from '../../bench/attacks.js';
import { prng } from '../helpers/prng.js';
import { helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { helloWs, type WsClient } from '../helpers/ws-client.js';
import { frame } from '../ws/helpers/frames.js';
import { openTcp, openWs, writeChunked, type Event, type FuzzConn } from './helpers/fuzz-wire.js';
import { commonFlags, isAlive, startServer, stopHard, type RunningServer } from './helpers/hostile-server.js';
import { deflateMessage, expectForTcp, expectForWsText, mutateBytes, mutatedRequest, pick, REQUEST_TYPES, type Ctx, type Expect } from './helpers/mutate.js';

const FIXED_SEED = 20261211;
const RUN_SEED = process.env.PARLEY_FUZZ_SEED ? Number(process.env.PARLEY_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const FUZZ_MS = Number(process.env.PARLEY_FUZZ_MS ?? 10_000);
const SEEDS = `seeds: fixed ${FIXED_SEED}, this run ${RUN_SEED} (replay with PARLEY_FUZZ_SEED=${RUN_SEED})`;
/** Small, so over-long lines and messages are cheap to send a byte at a time. */
const MAX_BYTES = 4096;
const TCP_WORKERS = 3;
const WS_WORKERS = 3;
/** A server that keeps dying is restarted this many times; then the fuzz stops early and says why. */
const MAX_RESTARTS = 40;
/** Generous: a reply on loopback takes a millisecond, but the machine is shared. */
const REPLY_MS = 5000;
const ROOMS = ['fz-a', 'fz-b', 'FZ-C', 'fz.d'];
/** Names dms and history {with} aim at: each worker's first hello, and one nobody has. */
const USERS = [...Array.from({ length: TCP_WORKERS + WS_WORKERS }, (_, w) => `fz${w}n0`), 'nobody-here'];
const SERVER_FLAGS = ['--max-message-bytes', String(MAX_BYTES), '--history-per-room', '200'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const show = (b: Buffer | string, n = 300): string => {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  return JSON.stringify(s.length > n ? `${s.slice(0, n)}...(${s.length} chars)` : s);
};

/** One exchange's bytes and the session it was sent in: enough to replay it on a fresh server. */
interface Sent {
  worker: number;
  seed: number;
  transport: 'tcp' | 'ws';
  deflate: boolean;
  helloed: boolean;
  rooms: string[];
  /** The requests of the exchange, each as sent and as readable text. */
  items: Item[];
  wire: Buffer;
  what: string;
}

interface Crash {
  signature: string;
  stderr: string;
  candidates: Sent[];
  culprit?: Sent;
  /** The one request of the culprit exchange that kills on its own, when one does. */
  request?: Item;
}

interface Problem {
  worker: number;
  seed: number;
  what: string;
  sent: string;
  events: string;
}

/** The first error line of an uncaught exception and the two frames under it, paths and positions dropped. */
function crashSignature(stderr: string): string {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /^[A-Za-z]*Error\b/.test(l));
  if (i < 0) return `exited without a stack: ${lines.slice(-4).join(' | ')}`;
  const frames = lines
    .slice(i + 1)
    .filter((l) => /^\s+at /.test(l))
    .slice(0, 2)
    .map((l) => l.trim().replace(/\(?file:\/\/\S*\/([^/]+\.js):\d+:\d+\)?/, '($1)'));
  return [lines[i]!.trim(), ...frames].join(' / ');
}

/** The server under fuzz, restarted when it dies, with everything the run found. */
class Fleet {
  server!: RunningServer;
  gen = 0;
  restarts = 0;
  stopped = false;
  stopReason = '';
  readonly crashes: Crash[] = [];
  readonly problems: Problem[] = [];
  readonly inflight = new Map<number, Sent>();
  readonly stats = { sessions: { tcp: 0, ws: 0 }, exchanges: 0, requests: 0, types: new Map<string, number>(), chunkings: new Map<string, number>(), closes: new Map<string, number>(), mutated: 0 };
  private restarting: Promise<void> | undefined;

  async start(): Promise<void> {
    this.server = await startServer([...commonFlags(), ...SERVER_FLAGS]);
  }

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  problem(p: Problem): void {
    if (this.problems.length < 200) this.problems.push(p);
  }

  /**
   * A connection of server generation `gen` failed unexpectedly. True when the server is dead (it is
   * then restarted, once per death, and the crash recorded); false when it is alive.
   */
  async died(gen: number): Promise<boolean> {
    if (gen !== this.gen) {
      await this.restarting;
      return true;
    }
    const srv = this.server;
    // A socket can report its close before this process has seen the server's exit.
    const t = Date.now();
    while (isAlive(srv) && Date.now() - t < 1000) await sleep(20);
    if (isAlive(srv)) return false;
    this.restarting ??= this.restart(srv);
    await this.restarting;
    return true;
  }

  private async restart(dead: RunningServer): Promise<void> {
    const stderr = dead.stderr();
    const signature = crashSignature(stderr);
    const candidates = [...this.inflight.values()];
    const known = this.crashes.find((c) => c.signature === signature);
    if (known) known.candidates.push(...candidates.slice(0, 8));
    else this.crashes.push({ signature, stderr: stderr.slice(-3000), candidates });
    this.restarts++;
    if (this.restarts > MAX_RESTARTS) {
      this.stopped = true;
      this.stopReason = `stopped early: the server died ${this.restarts} times`;
    }
    await this.start();
    this.gen++;
    this.restarting = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Building what a worker sends.

/** A request's wire bytes and what each part of it must be answered with. */
interface Item {
  wire: Buffer;
  exps: Expect[];
  /** Set when the WebSocket layer must refuse the message: the close codes allowed. */
  closeCodes?: number[];
  what: string;
  /** The request as text, before framing and masking: what a person reading a failure needs. */
  shown: string;
}

const TERMINATORS = ['\n', '\n', '\n', '\n', '\r\n', '\r\n', '\n\n', '\r\r\n'];

function tcpItem(c: Ctx): Item {
  const m = mutatedRequest(c);
  const mb = mutateBytes(c, m.text, MAX_BYTES, true);
  const wire = Buffer.concat([mb.bytes, Buffer.from(pick(c.r, TERMINATORS))]);
  return { wire, exps: expectForTcp(wire, MAX_BYTES), what: `${m.type} [${[...m.how, ...mb.how].join(', ')}]`, shown: show(wire.toString('utf8')) };
}

const maskOf = (r: () => number): Buffer => (r() < 0.1 ? Buffer.alloc(4) : Buffer.from([0, 0, 0, 0].map(() => Math.floor(r() * 256))));

/** A control frame to slip between fragments: always legal there (RFC 6455 5.4). */
function controlFrame(r: () => number): Buffer {
  const n = Math.floor(r() * 126);
  const payload = Buffer.alloc(n, 0x70);
  return frame({ opcode: r() < 0.7 ? 0x9 : 0xa, payload, mask: maskOf(r) });
}

/** Splits `data` into `k` pieces at random places (empty pieces allowed: zero-length fragments are legal). */
function split(r: () => number, data: Buffer, k: number): Buffer[] {
  const cuts = Array.from({ length: k - 1 }, () => Math.floor(r() * (data.length + 1))).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, data.length]) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

function wsItem(c: Ctx, deflate: boolean): Item {
  const r = c.r;
  const m = mutatedRequest(c);
  const mb = mutateBytes(c, m.text, MAX_BYTES, false);
  const how = [...m.how, ...mb.how];
  let plain = mb.bytes;
  // A wrong mask: the header's key is not the one the payload was masked with, so the server unmasks
  // to other bytes. On the wire that is exactly those other bytes masked with the header's key.
  if (r() < 0.02) {
    const k = maskOf(r);
    plain = Buffer.from(plain.map((b, i) => b ^ k[i & 3]!));
    how.push(`wrong mask ${k.toString('hex')}`);
  }
  const compress = deflate && r() < 0.5;
  const data = compress ? deflateMessage(plain) : plain;
  if (compress) how.push('compressed');
  const k = r() < 0.6 ? 1 : 2 + Math.floor(r() * 4);
  if (k > 1) how.push(`${k} fragments`);
  const parts = split(r, data, k);
  const frames: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0 && r() < 0.3) {
      frames.push(controlFrame(r));
      how.push('control frame inside');
    }
    frames.push(frame({ opcode: i === 0 ? 0x1 : 0x0, fin: i === parts.length - 1, rsv1: compress && i === 0, payload: p, mask: maskOf(r) }));
  });
  const exp = expectForWsText(plain, MAX_BYTES);
  const what = `${m.type} [${how.join(', ')}]`;
  const shown = show(plain.toString('utf8'));
  const wire = Buffer.concat(frames);
  if (compress && data.length > MAX_BYTES) return { wire, exps: [], closeCodes: [1009], what, shown };
  if (exp.kind === 'close') {
    // Fragmented, a message can be found bad in UTF-8 before it is found too big, or the other way.
    const codes = k > 1 && !compress && plain.length > MAX_BYTES && expectForWsText(plain.subarray(0, MAX_BYTES), 1 << 30).kind === 'close' ? [1007, 1009] : [exp.code];
    return { wire, exps: [], closeCodes: codes, what, shown };
  }
  return { wire, exps: [exp], what, shown };
}

/** A broken frame that ends a WebSocket session, and the close code(s) the server must answer it with. */
function wsBreaker(r: () => number, deflate: boolean): Item {
  const text = Buffer.from('{"type":"ping"}');
  const mask = maskOf(r);
  const close = (code: number, reason: Buffer = Buffer.alloc(0)): Buffer => {
    const p = Buffer.alloc(2 + reason.length);
    p.writeUInt16BE(code, 0);
    reason.copy(p, 2);
    return p;
  };
  const open = frame({ opcode: 0x1, fin: false, payload: '{"type":', mask });
  const variants: (() => Omit<Item, 'shown'>)[] = [
    () => {
      const op = pick(r, [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]);
      return { wire: frame({ opcode: op, payload: text, mask }), exps: [], closeCodes: [1002], what: `opcode ${op}` };
    },
    () => ({ wire: frame({ opcode: 0x1, rsv2: true, payload: text, mask }), exps: [], closeCodes: [1002], what: 'RSV2' }),
    () => ({ wire: frame({ opcode: 0x1, rsv3: true, payload: text, mask }), exps: [], closeCodes: [1002], what: 'RSV3' }),
    () =>
      deflate
        ? { wire: frame({ opcode: 0x9, rsv1: true, payload: 'x', mask }), exps: [], closeCodes: [1002], what: 'RSV1 on a ping' }
        : { wire: frame({ opcode: 0x1, rsv1: true, payload: text, mask }), exps: [], closeCodes: [1002], what: 'RSV1 without deflate' },
    () => ({ wire: frame({ opcode: 0x1, payload: text, masked: false }), exps: [], closeCodes: [1002], what: 'unmasked' }),
    () => ({ wire: frame({ opcode: 0x0, payload: text, mask }), exps: [], closeCodes: [1002], what: 'continuation without a message' }),
    () => ({ wire: Buffer.concat([open, frame({ opcode: 0x1, payload: text, mask })]), exps: [], closeCodes: [1002], what: 'new message inside a fragmented one' }),
    () => ({ wire: frame({ opcode: 0x9, fin: false, payload: 'x', mask }), exps: [], closeCodes: [1002], what: 'fragmented ping' }),
    () => ({ wire: frame({ opcode: 0x9, payload: Buffer.alloc(126, 0x61), mask }), exps: [], closeCodes: [1002], what: 'ping of 126 bytes' }),
    () => ({ wire: frame({ opcode: 0x8, payload: Buffer.from([0x03]), mask }), exps: [], closeCodes: [1002], what: 'close of 1 byte' }),
    () => {
      const code = pick(r, [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]);
      return { wire: frame({ opcode: 0x8, payload: close(code), mask }), exps: [], closeCodes: [1002], what: `close code ${code}` };
    },
    () => ({ wire: frame({ opcode: 0x8, payload: close(1000, Buffer.from([0xc3, 0x28])), mask }), exps: [], closeCodes: [1007], what: 'close reason not UTF-8' }),
    () => {
      const code = pick(r, [1000, 1001, 1003, 1008, 3000, 4999]);
      return { wire: frame({ opcode: 0x8, payload: close(code, Buffer.from('bye')), mask }), exps: [], closeCodes: [code], what: `close ${code} (echoed)` };
    },
    () => ({ wire: Buffer.concat([open, frame({ opcode: 0x8, payload: close(1000), mask })]), exps: [], closeCodes: [1000], what: 'close inside a fragmented message' }),
    () => {
      const len = pick(r, [MAX_BYTES + 1, 65535, 2 ** 32, 2 ** 53 - 1]);
      return { wire: frame({ opcode: 0x1, payload: Buffer.alloc(0), declaredLen: len, lenBits: len < 65536 ? 16 : 64, mask }), exps: [], closeCodes: [1009], what: `declared length ${len}` };
    },
    () => {
      const f = frame({ opcode: 0x1, payload: Buffer.alloc(0), declaredLen: 10, lenBits: 64, mask });
      f[2] = f[2]! | 0x80;
      return { wire: f, exps: [], closeCodes: [1002], what: '64-bit length with the top bit set' };
    },
    () => ({ wire: Buffer.concat([open, frame({ opcode: 0x0, fin: true, payload: Buffer.alloc(MAX_BYTES, 0x20), mask })]), exps: [], closeCodes: [1009], what: 'fragments over the limit' }),
    () => ({ wire: frame({ opcode: 0x2, payload: text, mask }), exps: [], closeCodes: [1003], what: 'binary message' }),
    () => ({ wire: frame({ opcode: 0x1, payload: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), mask }), exps: [], closeCodes: [1007], what: 'encoded lone surrogate' }),
  ];
  const v = pick(r, variants)() as Omit<Item, 'shown'>;
  return { ...v, shown: show(v.wire) };
}

// ---------------------------------------------------------------------------------------------
// A worker's session.

const sameId = (a: unknown, b: unknown): boolean => a === b;

/** Whether the server has said it is ending this connection: a bye, a fatal error, or a close frame. */
function serverEnded(conn: FuzzConn): boolean {
  return conn.closeCode() !== undefined || conn.events().some((e) => e.type === 'bye' || (e.type === 'error' && e.fatal === true));
}

/** What a window of events (between two sentinels) owes the expectations of the exchange before it. */
function judge(window: readonly Event[], exps: readonly Expect[]): string[] {
  const problems: string[] = [];
  const noRe = window.filter((e) => e.type === 'error' && e.re === undefined).map((e) => String(e.code));
  let j = 0;
  for (const x of exps) {
    if (x.kind === 'error') {
      const k = noRe.indexOf(x.code, j);
      if (k < 0) problems.push(`expected an error ${x.code} (no re); errors without re: ${JSON.stringify(noRe)}`);
      else j = k + 1;
    } else if (x.kind === 'reply' && !x.late && !window.some((e) => sameId(e.re, x.id))) {
      problems.push(`no reply with re ${JSON.stringify(x.id)} (a ${x.type || 'typeless'} request) before the next request's`);
    }
  }
  return problems;
}

async function runSession(fleet: Fleet, w: number, seed: number, c: Ctx, transport: 'tcp' | 'ws', deadline: number): Promise<void> {
  const r = c.r;
  const gen = fleet.gen;
  const srv = fleet.server;
  let conn: FuzzConn;
  try {
    conn = transport === 'tcp' ? await openTcp(srv.tcpPort) : await openWs(srv.httpPort, r() < 0.3);
  } catch {
    await fleet.died(gen);
    return;
  }
  fleet.stats.sessions[transport]++;
  const st = { helloed: false, name: '', rooms: new Set<string>() };
  let cursor = 0;
  let sentinels = 0;
  const late: { id: string | number; sent: Sent }[] = [];
  const own: (string | number)[] = [];
  const sentinel = (): { id: string; wire: Buffer } => {
    const id = `s${w}.${sentinels++}`;
    const json = Buffer.from(JSON.stringify({ type: 'ping', id }));
    return { id, wire: transport === 'tcp' ? Buffer.concat([json, Buffer.from('\n')]) : frame({ opcode: 0x1, payload: json, mask: maskOf(r) }) };
  };
  const events = (): readonly Event[] => conn.events();
  /** The server said it is ending the connection (bye, a fatal error, a close frame): it owes nothing more. */
  const legitClose = (): boolean => serverEnded(conn);
  const report = (what: string, sent: Sent): void =>
    fleet.problem({ worker: w, seed, what, sent: sent.items.map((i) => `${i.what} ${i.shown}`).join('\n      + '), events: JSON.stringify(events().slice(Math.max(0, cursor - 2))).slice(0, 600) });
  const track = (): void => {
    for (const e of events()) {
      if (e.type === 'welcome') {
        st.helloed = true;
        st.name = String(e.name);
      } else if (e.type === 'members' && e.re !== undefined) st.rooms.add(String(e.room));
      else if (e.type === 'left' && e.name === st.name) st.rooms.delete(String(e.room));
    }
  };

  /** Sends items (plus a sentinel unless one must close the connection) and judges the answers. 'stop' ends the session. */
  const exchange = async (items: Item[]): Promise<'ok' | 'stop'> => {
    const closing = items.find((i) => i.closeCodes);
    const s = sentinel();
    const wire = Buffer.concat(items.map((i) => i.wire));
    const sent: Sent = { worker: w, seed, transport, deflate: conn.deflate, helloed: st.helloed, rooms: [...st.rooms], items, wire, what: items.map((i) => i.what).join(' + ') };
    fleet.inflight.set(w, sent);
    fleet.stats.exchanges++;
    fleet.stats.requests += items.length;
    fleet.count(fleet.stats.chunkings, await writeChunked(conn, closing ? wire : Buffer.concat([wire, s.wire]), r));
    try {
      if (closing) {
        const codes = closing.closeCodes!;
        await conn.until(() => conn.closeCode() !== undefined, REPLY_MS);
        const got = conn.closeCode();
        if (got === undefined) {
          if (await fleet.died(gen)) return 'stop';
          if (!legitClose()) report(`expected a close frame ${codes.join(' or ')}, got ${conn.ended() ? 'a closed socket without one' : 'nothing'}`, sent);
        } else if (!codes.includes(got) && !events().some((e) => e.type === 'bye' || (e.type === 'error' && e.fatal === true))) {
          report(`expected close code ${codes.join(' or ')}, got ${got}`, sent);
        }
        fleet.count(fleet.stats.closes, String(got ?? 'none'));
        return 'stop';
      }
      const exps = items.flatMap((i) => i.exps);
      const pong = (): boolean => events().some((e, i) => i >= cursor && e.type === 'pong' && e.re === s.id);
      // A WebSocket the server is closing stays open until we answer its close frame: stop at the frame.
      const answered = await conn.until(() => pong() || legitClose(), REPLY_MS) && pong();
      if (!answered) {
        if (legitClose()) {
          fleet.count(fleet.stats.closes, events().some((e) => e.type === 'bye') ? 'bye' : 'fatal error');
          return 'stop';
        }
        if (await fleet.died(gen)) return 'stop';
        report(conn.ended() ? 'the server closed the connection without a reason' : `no answer to the sentinel ping within ${REPLY_MS} ms`, sent);
        return 'stop';
      }
      const all = events();
      const at = all.findIndex((e, i) => i >= cursor && e.type === 'pong' && e.re === s.id);
      for (const p of judge(all.slice(cursor, at), exps)) report(p, sent);
      cursor = at + 1;
      for (const x of exps) {
        if (x.kind === 'reply') {
          if (x.late) late.push({ id: x.id, sent });
          if (typeof x.id === 'string' ? x.id.startsWith(`f${w}.`) : x.id >= 1e9 + w * 1e7 && x.id < 1e9 + (w + 1) * 1e7) own.push(x.id);
        }
      }
      track();
      return 'ok';
    } finally {
      fleet.inflight.delete(w);
    }
  };

  try {
    // Usually a proper start, so the fuzz reaches the handlers behind hello and join.
    if (r() < 0.85) {
      const id = c.nextId();
      const json = Buffer.from(JSON.stringify({ type: 'hello', name: c.freshName(), protocol: 1, id }));
      const wire = transport === 'tcp' ? Buffer.concat([json, Buffer.from('\n')]) : frame({ opcode: 0x1, payload: json, mask: maskOf(r) });
      if ((await exchange([{ wire, exps: [{ kind: 'reply', id, type: 'hello', late: false }], what: 'hello', shown: show(json) }])) === 'stop') return;
      if (st.helloed && r() < 0.7) {
        for (const room of [pick(r, ROOMS), pick(r, ROOMS)].slice(0, r() < 0.5 ? 1 : 2)) {
          const jid = c.nextId();
          const j = Buffer.from(JSON.stringify({ type: 'join', room, history: 3, id: jid }));
          const jw = transport === 'tcp' ? Buffer.concat([j, Buffer.from('\n')]) : frame({ opcode: 0x1, payload: j, mask: maskOf(r) });
          if ((await exchange([{ wire: jw, exps: [{ kind: 'reply', id: jid, type: 'join', late: false }], what: `join ${room}`, shown: show(j) }])) === 'stop') return;
        }
      }
    }
    const n = 3 + Math.floor(r() * 23);
    for (let i = 0; i < n && Date.now() < deadline && !fleet.stopped; i++) {
      const items: Item[] = [];
      const k = r() < 0.7 ? 1 : 2 + Math.floor(r() * 3);
      for (let j = 0; j < k; j++) {
        const item = transport === 'tcp' ? tcpItem(c) : wsItem(c, conn.deflate);
        items.push(item);
        fleet.stats.mutated++;
        if (item.closeCodes) break;
      }
      for (const it of items) fleet.count(fleet.stats.types, it.what.split(' ')[0]!);
      if ((await exchange(items)) === 'stop') return;
    }
    // Late replies (acks of say and dm come once stored) and exactly-one replies, while still connected.
    if (!conn.ended() && (await exchange([])) === 'ok') {
      await conn.until(() => late.every((l) => events().some((e) => sameId(e.re, l.id))), 2000);
      for (const l of late) if (!events().some((e) => sameId(e.re, l.id))) report(`no reply with re ${JSON.stringify(l.id)} (say/dm) within 2 s of the session's last request`, l.sent);
      for (const id of own) {
        const n = events().filter((e) => sameId(e.re, id)).length;
        if (n > 1) fleet.problem({ worker: w, seed, what: `${n} replies carry re ${JSON.stringify(id)}; the protocol says exactly one`, sent: '', events: '' });
      }
    }
    // How the session ends: a broken frame, a half-close, a cut mid-line or mid-frame, or just gone.
    const end = r();
    if (transport === 'ws' && end < 0.6 && !conn.ended()) {
      await exchange([wsBreaker(r, conn.deflate)]);
    } else if (end < 0.75) {
      conn.write(transport === 'tcp' ? Buffer.from('{"type":"say","room":"fz-a","te') : frame({ opcode: 0x1, payload: 'abcdef', mask: maskOf(r) }).subarray(0, 5));
      if (r() < 0.5) conn.end();
    } else if (end < 0.85) {
      conn.end();
      await conn.until(() => false, 200);
    }
  } finally {
    conn.destroy();
  }
}

async function worker(fleet: Fleet, w: number, transport: 'tcp' | 'ws', deadline: number): Promise<void> {
  const seed = (w % 2 === 0 ? FIXED_SEED : RUN_SEED) * 16 + w;
  const r = prng(seed);
  let names = 0;
  let ids = 0;
  const c: Ctx = {
    r,
    freshName: () => `fz${w}n${names++}`,
    rooms: ROOMS,
    users: USERS,
    // Strings and numbers both: a numeric id must come back as the same number.
    nextId: () => (r() < 0.5 ? `f${w}.${ids++}` : 1e9 + w * 1e7 + ids++),
  };
  while (Date.now() < deadline && !fleet.stopped) {
    await runSession(fleet, w, seed, c, transport, deadline);
  }
}

/** Re-sends `wire` on a fresh connection set up like `s`'s (hello and joins first); true when that kills the server. */
async function replay(fleet: Fleet, s: Sent, wire: Buffer, k: number): Promise<boolean> {
  const gen = fleet.gen;
  const srv = fleet.server;
  const conn = s.transport === 'tcp' ? await openTcp(srv.tcpPort) : await openWs(srv.httpPort, s.deflate);
  const send = async (obj: Record<string, unknown>): Promise<void> => {
    const json = Buffer.from(JSON.stringify(obj));
    conn.write(s.transport === 'tcp' ? Buffer.concat([json, Buffer.from('\n')]) : frame({ opcode: 0x1, payload: json }));
    await conn.until(() => conn.events().some((e) => e.re === obj.id) || serverEnded(conn), REPLY_MS);
  };
  try {
    if (s.helloed) await send({ type: 'hello', name: `replay${k}`, id: 'h' });
    for (const room of s.rooms) await send({ type: 'join', room, history: 0, id: `j${room}` });
    conn.write(wire);
    await send({ type: 'ping', id: 'after' });
    if (conn.events().some((e) => e.re === 'after') || serverEnded(conn)) return false;
    return await fleet.died(gen);
  } finally {
    conn.destroy();
  }
}

describe('whole-path fuzz', () => {
  const fleet = new Fleet();
  afterAll(async () => {
    await stopHard(fleet.server);
  });

  it(
    `mutated requests and frames in random chunkings never kill the server, each is answered, and it keeps serving (${FUZZ_MS / 1000} s)`,
    async () => {
      console.log(`whole-path fuzz: ${SEEDS}`);
      await fleet.start();
      const deadline = Date.now() + FUZZ_MS;
      await Promise.all([
        ...Array.from({ length: TCP_WORKERS }, (_, i) => worker(fleet, i, 'tcp', deadline)),
        ...Array.from({ length: WS_WORKERS }, (_, i) => worker(fleet, TCP_WORKERS + i, 'ws', deadline)),
      ]);

      // Name the request behind each crash: replay what was in flight, one at a time.
      const fuzzed = Date.now();
      let k = 0;
      for (const crash of fleet.crashes.slice(0, 4)) {
        for (const s of crash.candidates.slice(0, 8)) {
          const killed = await replay(fleet, s, s.wire, k++);
          if (killed) {
            crash.culprit = s;
            // Then which of its requests, alone (a WebSocket breaker needs the requests before it, so may be none).
            if (s.items.length > 1) for (const item of s.items) if (await replay(fleet, s, item.wire, k++)) {
              crash.request = item;
              break;
            }
            break;
          }
        }
      }
      const replayed = Date.now();

      const st = fleet.stats;
      console.log(
        `whole-path fuzz: ${st.sessions.tcp} TCP + ${st.sessions.ws} WS sessions, ${st.exchanges} exchanges, ${st.requests} requests; ` +
          `types ${JSON.stringify(Object.fromEntries(st.types))}; chunkings ${JSON.stringify(Object.fromEntries(st.chunkings))}; ` +
          `session ends ${JSON.stringify(Object.fromEntries(st.closes))}; server restarts ${fleet.restarts}${fleet.stopReason ? ` (${fleet.stopReason})` : ''}; ` +
          `workers done ${((fuzzed - deadline) / 1000).toFixed(1)} s after the deadline, replays took ${((replayed - fuzzed) / 1000).toFixed(1)} s`,
      );
      const crashReport = fleet.crashes
        .map(
          (c, i) =>
            `crash ${i + 1}: ${c.signature}\n  ` +
            (c.culprit
              ? `killed by (${c.culprit.transport}, after hello: ${c.culprit.helloed}, rooms ${JSON.stringify(c.culprit.rooms)}): ` +
                (c.request ? `${c.request.what} ${c.request.shown}` : c.culprit.items.map((it) => `${it.what} ${it.shown}`).join('\n    + '))
              : `not reproduced alone; in flight when it died: ${c.candidates.map((s) => `${s.transport} ${s.what}`).join('\n    ')}`),
        )
        .join('\n');
      if (crashReport) console.log(`whole-path fuzz found crashes (${SEEDS}):\n${crashReport}`);
      expect.soft(fleet.crashes.length, `the server process exited (${SEEDS}):\n${crashReport}`).toBe(0);

      const problemReport = fleet.problems
        .slice(0, 15)
        .map((p) => `worker ${p.worker} (seed ${p.seed}): ${p.what}\n    sent ${p.sent}\n    events ${p.events}`)
        .join('\n');
      expect.soft(fleet.problems.length, `requests not answered as the protocol says (${SEEDS}):\n${problemReport}`).toBe(0);
      if (fleet.crashes.length === 0) expect.soft(st.requests, 'the fuzz ran (requests sent)').toBeGreaterThan(1000);

      // A fresh client on each transport is served promptly.
      const srv = fleet.server;
      const tcp = await helloTcp(srv.tcpPort, 'after-fuzz-tcp');
      const ws = await helloWs(srv.httpPort, 'after-fuzz-ws');
      try {
        for (const [c, name] of [
          [tcp, 'tcp'],
          [ws, 'ws'],
        ] as const) {
          const send = (o: unknown): void => (name === 'tcp' ? (c as TcpClient).send(o) : (c as WsClient).sendJson(o));
          send({ type: 'join', room: `after-${name}`, id: 'j' });
          await c.next((e) => e.type === 'members' && e.re === 'j', REPLY_MS);
          send({ type: 'say', room: `after-${name}`, text: 'still here', id: 's' });
          await c.next((e) => e.type === 'ack' && e.re === 's', REPLY_MS);
          await c.next((e) => e.type === 'message' && e.text === 'still here', REPLY_MS);
        }
      } finally {
        tcp.close();
        ws.destroy();
      }
    },
    FUZZ_MS + 60_000,
  );
});

// ---------------------------------------------------------------------------------------------
// Null in every field: answered (as if absent, or refused with a clear code), and the server stays up.

interface NullRow {
  name: string;
  /** The request, `id: 'row'` added; a null is the point of the row. */
  req: Record<string, unknown>;
  /** Success replies that mean "null was treated as absent", checked further by `check`. */
  ok: string[];
  /** Error codes that are a clear refusal. */
  codes: string[];
  /** Extra checks on a success, given the reply and every event so far; a string is a failure. */
  check?: (reply: Event, next: () => Promise<Event | undefined>, all: () => readonly Event[]) => Promise<string | undefined>;
  /** Whether the row needs no hello first (hello rows) or a joined room. */
  before: 'nothing' | 'hello' | 'joined';
}

const NULL_ROOM = 'nulls';
/** Messages in NULL_ROOM: more than the default page of 50, so "treated as absent" is visible. */
const NULL_ROOM_MESSAGES = 60;

const defaultPage = async (reply: Event): Promise<string | undefined> => {
  const n = (reply.messages as unknown[]).length;
  return n === 50 && reply.more === true ? undefined : `expected the default page (the last 50 of ${NULL_ROOM_MESSAGES}, more: true), got ${n} messages, more: ${String(reply.more)}`;
};

const NULL_ROWS: NullRow[] = [
  { name: 'hello {protocol:null}', before: 'nothing', req: { type: 'hello', protocol: null }, ok: ['welcome'], codes: ['bad_request'] },
  { name: 'hello {client:null}', before: 'nothing', req: { type: 'hello', client: null }, ok: ['welcome'], codes: ['bad_request'] },
  { name: 'hello {name:null}', before: 'nothing', req: { type: 'hello', name: null }, ok: [], codes: ['bad_request', 'bad_name'] },
  {
    name: 'join {room, history:null}',
    before: 'hello',
    req: { type: 'join', room: NULL_ROOM, history: null },
    ok: ['members'],
    codes: ['bad_request'],
    check: async (_r, next) => {
      const h = await next();
      return h?.type === 'history' ? defaultPage(h) : `no history after members: ${JSON.stringify(h)}`;
    },
  },
  {
    name: 'join {room, since:null}',
    before: 'hello',
    req: { type: 'join', room: NULL_ROOM, since: null },
    ok: ['members'],
    codes: ['bad_request'],
    check: async (_r, next) => {
      const h = await next();
      // since:null read as since:0 would send every retained message: a resume nobody asked for.
      return h?.type === 'history' ? defaultPage(h) : `no history after members: ${JSON.stringify(h)}`;
    },
  },
  { name: 'join {room:null}', before: 'hello', req: { type: 'join', room: null }, ok: [], codes: ['bad_request', 'bad_room'] },
  { name: 'leave {room:null}', before: 'joined', req: { type: 'leave', room: null }, ok: [], codes: ['bad_request', 'bad_room'] },
  {
    name: 'say {room, text, action:null}',
    before: 'joined',
    req: { type: 'say', room: NULL_ROOM, text: 'null action', action: null },
    ok: ['ack'],
    codes: ['bad_request'],
    check: async (_r, _next, all) => {
      // The message is broadcast before the sender's ack.
      const m = all().find((e) => e.type === 'message' && e.text === 'null action');
      if (!m) return 'no message event for the say';
      return m.action === undefined ? undefined : `the message carries action: ${JSON.stringify(m.action)}`;
    },
  },
  { name: 'say {room:null, text}', before: 'joined', req: { type: 'say', room: null, text: 'x' }, ok: [], codes: ['bad_request', 'bad_room'] },
  { name: 'say {room, text:null}', before: 'joined', req: { type: 'say', room: NULL_ROOM, text: null }, ok: [], codes: ['bad_text', 'bad_request'] },
  { name: 'dm {to, text, action:null}', before: 'hello', req: { type: 'dm', to: '$self', text: 'null action', action: null }, ok: ['ack'], codes: ['bad_request'] },
  { name: 'dm {to:null, text}', before: 'hello', req: { type: 'dm', to: null, text: 'x' }, ok: [], codes: ['bad_request', 'bad_name'] },
  { name: 'dm {to, text:null}', before: 'hello', req: { type: 'dm', to: '$self', text: null }, ok: [], codes: ['bad_text', 'bad_request'] },
  {
    name: 'who {room:null}',
    before: 'hello',
    req: { type: 'who', room: null },
    ok: ['users'],
    codes: ['bad_request', 'bad_room'],
    check: async (r) => ('room' in r ? `treated as present: users carries room ${JSON.stringify(r.room)}` : undefined),
  },
  {
    name: 'history {room, with:null}',
    before: 'joined',
    req: { type: 'history', room: NULL_ROOM, with: null },
    ok: ['history'],
    codes: ['bad_request'],
    check: async (r) => (r.room === NULL_ROOM ? defaultPage(r) : `expected the room's history, got ${JSON.stringify(r).slice(0, 200)}`),
  },
  {
    name: 'history {with, room:null}',
    before: 'hello',
    req: { type: 'history', with: '$self', room: null },
    ok: ['history'],
    codes: ['bad_request'],
    check: async (r) => (typeof r.with === 'string' && !('room' in r) ? undefined : `expected a direct history, got ${JSON.stringify(r).slice(0, 200)}`),
  },
  { name: 'history {room, before:null}', before: 'joined', req: { type: 'history', room: NULL_ROOM, before: null }, ok: ['history'], codes: ['bad_request'], check: async (r) => defaultPage(r) },
  { name: 'history {room, limit:null}', before: 'joined', req: { type: 'history', room: NULL_ROOM, limit: null }, ok: ['history'], codes: ['bad_request'], check: async (r) => defaultPage(r) },
  { name: 'history {room:null, with:null}', before: 'hello', req: { type: 'history', room: null, with: null }, ok: [], codes: ['bad_request'] },
  // `type` and `id` are fields of every request too.
  { name: '{type:null}', before: 'hello', req: { type: null }, ok: [], codes: ['bad_request'] },
];
// Every request type appears, with null in each optional field it has (rooms, time, ping and bye have none).
for (const t of REQUEST_TYPES) if (!['rooms', 'time', 'ping', 'bye'].includes(t) && !NULL_ROWS.some((r) => r.req.type === t)) throw new Error(`no null row for ${t}`);

describe('null in every field of every request', () => {
  let server: RunningServer | undefined;
  let n = 0;

  /** A live server with NULL_ROOM filled: the previous row may have killed the last one. */
  async function live(): Promise<RunningServer> {
    if (server && isAlive(server)) return server;
    await stopHard(server);
    server = await startServer([...commonFlags(), '--history-per-room', '1000']);
    await fillRoom(server.tcpPort, NULL_ROOM, NULL_ROOM_MESSAGES, 20, Date.now() + 10_000);
    return server;
  }
  beforeAll(async () => {
    await live();
  });
  afterAll(async () => {
    await stopHard(server);
  });

  const cases = NULL_ROWS.flatMap((row) => (['tcp', 'ws'] as const).map((transport) => ({ ...row, transport })));
  it.each(cases)('$transport: $name is answered and the server stays up', async (row) => {
    const srv = await live();
    const name = `nulls${n++}`;
    const conn = row.transport === 'tcp' ? await openTcp(srv.tcpPort) : await openWs(srv.httpPort, false);
    const send = (o: Record<string, unknown>): void => {
      const json = Buffer.from(JSON.stringify(o));
      conn.write(row.transport === 'tcp' ? Buffer.concat([json, Buffer.from('\n')]) : frame({ opcode: 0x1, payload: json }));
    };
    let cursor = 0;
    const waitRe = async (re: string): Promise<Event | undefined> => {
      await conn.until(() => conn.events().some((e) => e.re === re), REPLY_MS);
      const i = conn.events().findIndex((e) => e.re === re);
      if (i >= 0) cursor = i + 1;
      return conn.events()[i];
    };
    const next = async (): Promise<Event | undefined> => {
      await conn.until(() => conn.events().length > cursor, REPLY_MS);
      return conn.events()[cursor++];
    };
    try {
      if (row.before !== 'nothing') {
        send({ type: 'hello', name, id: 'h' });
        expect((await waitRe('h'))?.type).toBe('welcome');
      }
      if (row.before === 'joined') {
        send({ type: 'join', room: NULL_ROOM, history: 0, id: 'j' });
        expect((await waitRe('j'))?.type).toBe('members');
        await next();
      }
      const req: Record<string, unknown> = { ...row.req, id: 'row' };
      for (const k of ['to', 'with']) if (req[k] === '$self') req[k] = name;
      if (row.req.type === 'hello' && !('name' in row.req)) req.name = name;
      send(req);
      const reply = await waitRe('row');
      // Still served on the same connection? Asked now, checked last: the events of a join come first.
      send({ type: 'ping', id: 'after' });
      await conn.until(() => conn.events().some((e) => e.re === 'after') || serverEnded(conn), REPLY_MS);
      const pong = conn.events().find((e) => e.re === 'after');
      // Without a pong the server may be dead: wait for its exit to be seen, so the next row starts a new one.
      for (let t = Date.now(); !pong && !serverEnded(conn) && isAlive(srv) && Date.now() - t < 1500; ) await sleep(20);
      expect.soft(isAlive(srv), `the server died:\n${srv.stderr().slice(-1500)}`).toBe(true);
      expect(reply, `no reply with re "row" to ${JSON.stringify(req)}`).toBeDefined();
      const r = reply!;
      if (r.type === 'error') {
        expect(row.codes, `refused with ${String(r.code)}${r.fatal ? ' (fatal)' : ''}: ${String(r.message)}`).toContain(r.code);
        expect(r.fatal, 'a null field is not worth closing the connection for').toBeUndefined();
      } else {
        expect(row.ok, `answered with ${JSON.stringify(r).slice(0, 300)}`).toContain(r.type);
        const bad = await row.check?.(r, next, () => conn.events());
        expect(bad).toBeUndefined();
      }
      expect(pong?.type, 'a ping after the row is answered on the same connection').toBe('pong');
    } finally {
      conn.destroy();
    }
  });
});
