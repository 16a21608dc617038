// Store benchmark. Parts (default: all), each printing one JSON line:
//   latency     in process: appends at --rate/s spread over --convs conversations for --seconds, file
//               store (--fsync batch) and memory store: ack latency p50/p99/p99.9 and event-loop delay;
//               --busy-us N spins N us after each append (a server's per-message work in that turn)
//   open        builds (or reuses --dir) a data dir of --stored messages in --rooms rooms, then a child
//               process opens the FileStore on it: open time, RSS, latency of history pages of 50 from
//               random places, of the newest page of random rooms, and of those same pages again;
//               and `search` (from the index the store keeps, search.snapshot): a word in one message
//               across all rooms, a word in every message across all rooms and in one room, pages of 20
//   server      the real server on that dir: start-to-listening, RSS, and over TCP after hello the
//               latency of `history` (limit 50) and of `join` with `since` (--requests each; a
//               request answered rate_limited is sent again when allowed, and only the attempt served
//               is timed); --server-args "..." adds flags to the server's command line
//   freeze      the search index's freeze at a segment seal (server/store/search-index.ts), which runs on
//               the event loop: on a copy of that dir's search.snapshot, 1,000 new messages then a
//               freeze, three times: ms each
//   throughput  acked says/s through the real server, --fsync batch and always (8 TCP clients)
// Usage: node dist/bench/store.js [--part latency,open,server,freeze,throughput] [--stored N] [--rooms R]
//        [--dir DIR (kept)] [--seconds S] [--rate R] [--convs C] [--requests N]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { FileStore, logBytes } from '../server/store/file-store.js';
import { MemoryStore } from '../server/store/memory-store.js';
import { SearchIndex } from '../server/store/search-index.js';
import { openSnapshot, SEARCH_FILE, SnapshotSink } from '../server/store/search-snapshot.js';
import { roomConv, type Store } from '../server/store/store.js';

const HERE = fileURLToPath(import.meta.url);
const SERVER_JS = join(dirname(HERE), '..', 'server', 'main.js');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  return Number.isFinite(v) && v > 0 ? v : def;
}

function argStr(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function quantiles(xs: number[]): { p50: number; p99: number; p999: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => Number((s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0).toFixed(3));
  return { p50: q(0.5), p99: q(0.99), p999: q(0.999), n: s.length };
}

function rssMB(pid: number | 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Number((kb / 1024).toFixed(1));
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- latency: the store alone, at a chatty rate ----

/**
 * `busyUs`: CPU spent after each append in the same callback, as a server does fanning the message out
 * and reading the next requests; it is what a write scheduled for the end of the turn waits behind.
 */
async function appendLatency(kind: 'file' | 'memory', seconds: number, rate: number, convs: number, busyUs: number): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-lat-'));
  const store: Store = kind === 'file' ? new FileStore({ dir, fsync: 'batch', historyPerRoom: 10_000, log: () => {} }) : new MemoryStore({ historyPerRoom: 10_000 });
  try {
    await store.open();
    const lat: number[] = [];
    const loop = monitorEventLoopDelay({ resolution: 1 });
    const t0 = performance.now();
    const warm = 1000;
    let sent = 0;
    let failed = 0;
    await new Promise<void>((resolve) => {
      // A 1 ms tick whose budget follows the clock, as bench/main.ts paces --rate.
      const tick = setInterval(() => {
        const now = performance.now();
        const due = Math.floor(((now - t0) / 1000) * rate);
        for (; sent < due; sent++) {
          const c = sent % convs;
          const t = performance.now();
          store.append(roomConv(`room${c}`), { room: `room${c}`, from: `u${sent % 50}`, text: `b:u${sent % 50}:${sent}:${Math.round(t * 1000)}:chatty message padding text` }, undefined, (err) => {
            if (err) failed++;
            else if (t - t0 > warm) lat.push(performance.now() - t);
          });
          for (const until = performance.now() + busyUs / 1000; performance.now() < until; );
        }
        if (now - t0 > warm && !loop.count) loop.enable();
        if (now - t0 > seconds * 1000 + warm) {
          clearInterval(tick);
          resolve();
        }
      }, 1);
    });
    loop.disable();
    await store.close();
    const ms = (ns: number): number => Number((ns / 1e6).toFixed(3));
    return { kind, rate, convs, busyUs, seconds, failed, ack: quantiles(lat), loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- a big data dir ----

/** Writes `total` messages over `rooms` rooms with FileStore itself (fsync off: it is only setup). */
async function generate(dir: string, total: number, rooms: number): Promise<{ ms: number; logMB: number }> {
  const t0 = performance.now();
  const store = new FileStore({ dir, fsync: 'off', historyPerRoom: 10_000, cacheBytes: 0, log: (l) => process.stderr.write(`${l}\n`) });
  await store.open();
  let acked = 0;
  for (let i = 0; i < total; ) {
    const end = Math.min(total, i + 20_000);
    for (; i < end; i++) {
      const r = i % rooms;
      store.append(roomConv(`room${r}`), { room: `room${r}`, from: `user${i % 97}`, text: `benchmark message number ${i} with some ordinary text` }, undefined, (err) => {
        if (err) throw err;
        acked++;
      });
    }
    // Let the writer drain so memory stays bounded.
    while (acked < i - 5000) await new Promise((r) => setImmediate(r));
  }
  for (let u = 0; u < 97; u++) store.rememberUser(`user${u}`, new Date().toISOString());
  await store.close();
  return { ms: Math.round(performance.now() - t0), logMB: Number((logBytes(dir) / 1e6).toFixed(1)) };
}

async function withDataDir<T>(stored: number, rooms: number, fn: (dir: string) => Promise<T>): Promise<T> {
  const keep = argStr('dir');
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'parley-bench-1m-'));
  try {
    if (!keep || !existsSync(join(keep, '0000000001.log'))) {
      const g = await generate(dir, stored, rooms);
      process.stderr.write(`bench/store: generated ${stored} messages in ${rooms} rooms, ${g.logMB} MB of log, in ${g.ms} ms\n`);
    }
    return await fn(dir);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

// ---- open: a fresh process opens the store and reads pages ----

/** Runs in the child: open, measure, read pages, print one JSON line. */
async function childOpen(dir: string, rooms: number, requests: number): Promise<void> {
  const t0 = performance.now();
  const store = new FileStore({ dir, fsync: 'batch', historyPerRoom: 10_000, log: (l) => process.stderr.write(`${l}\n`) });
  await store.open();
  const openMs = Math.round(performance.now() - t0);
  const rssAfterOpen = rssMB('self');
  const rand = prng(7);
  const page = async (): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < requests; i++) {
      const conv = roomConv(`room${Math.floor(rand() * rooms)}`);
      const last = await store.lastSeq(conv);
      const before = 1 + Math.floor(rand() * last);
      const t = performance.now();
      const p = await store.history(conv, { before, limit: 50 });
      out.push(performance.now() - t);
      if (p.messages.length === 0 && before > 1) throw new Error(`empty page ${conv} before ${before}`);
    }
    return out;
  };
  const newest = async (convs: string[]): Promise<number[]> => {
    const out: number[] = [];
    for (const conv of convs) {
      const t = performance.now();
      await store.history(conv, { limit: 50 });
      out.push(performance.now() - t);
    }
    return out;
  };
  const cold = quantiles(await page());
  const some = Array.from({ length: requests }, () => roomConv(`room${Math.floor(rand() * rooms)}`));
  const latest = quantiles(await newest(some));
  // The same pages again: served by the cache of read messages.
  const again = quantiles(await newest(some));
  const rssAfterReads = rssMB('self');
  const search = await searches(store, rooms, requests, rand);
  await store.close();
  process.stdout.write(JSON.stringify({ openMs, rssAfterOpenMB: rssAfterOpen, rssAfterReadsMB: rssAfterReads, pageRandomMs: cold, pageNewestMs: latest, pageNewestSameAgainMs: again, search }) + '\n');
}

/** Search latency over the generated messages (`benchmark message number N with some ordinary text`). */
async function searches(store: Store, rooms: number, requests: number, rand: () => number): Promise<object> {
  const all = Array.from({ length: rooms }, (_, r) => roomConv(`room${r}`));
  const stored = (await Promise.all(all.map((c) => store.lastSeq(c)))).reduce((a, b) => a + b, 0);
  const time = async (make: () => Parameters<Store['search']>[0]): Promise<ReturnType<typeof quantiles>> => {
    const out: number[] = [];
    for (let i = 0; i < requests; i++) {
      const q = make();
      const t = performance.now();
      const page = await store.search(q);
      out.push(performance.now() - t);
      if (page.hits.length === 0) throw new Error(`search found nothing: ${q.terms.join(' ')}`);
    }
    return quantiles(out);
  };
  return {
    // One message holds the number: the index finds it without reading others.
    rareAllRoomsMs: await time(() => ({ terms: ['number', String(Math.floor(rand() * stored))], convs: all, limit: 20 })),
    // Every message holds these: the newest 21 are read and checked.
    commonAllRoomsMs: await time(() => ({ terms: ['ordinary', 'text'], convs: all, limit: 20 })),
    commonOneRoomMs: await time(() => ({ terms: ['benchmark'], convs: [all[Math.floor(rand() * rooms)]!], limit: 20 })),
  };
}

function runChild(args: string[]): Promise<object> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [HERE, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (c: string) => (out += c));
    proc.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as object) : reject(new Error(`child exited ${code}`))));
  });
}

// ---- the real server ----

interface Server {
  proc: ChildProcess;
  tcpPort: number;
  startMs: number;
}

function startServer(args: string[]): Promise<Server> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [SERVER_JS, '--host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--irc-port', '0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start within 120 s: ${err}`));
    }, 120_000);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (c: string) => {
      err += c;
      const m = /parley listening tcp=\S+:(\d+)/.exec(err);
      if (m && timer.hasRef()) {
        clearTimeout(timer);
        timer.unref();
        resolve({ proc, tcpPort: Number(m[1]), startMs: performance.now() - t0 });
      }
    });
    proc.once('exit', (code) => {
      if (timer.hasRef()) {
        clearTimeout(timer);
        reject(new Error(`server exited ${code}: ${err}`));
      }
    });
  });
}

function stop(server: Server): Promise<void> {
  return new Promise((r) => {
    if (server.proc.exitCode !== null) return r();
    server.proc.once('exit', () => r());
    server.proc.kill('SIGTERM');
  });
}

type Event = Record<string, unknown> & { type: string };

interface Waiter {
  id: string;
  match: (e: Event) => boolean;
  resolve: (e: Event) => void;
  reject: (err: Error) => void;
  /** Set when the server said rate_limited: the request is sent again after this many ms. */
  retry: (afterMs: number) => void;
}

/**
 * A line-protocol client: each request waits for its matching event; an error naming it rejects it,
 * except rate_limited, after which it is sent again once the server says it may be.
 */
class Client {
  private buf = '';
  private waiters: Waiter[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const e = JSON.parse(this.buf.slice(0, nl)) as Event;
        this.buf = this.buf.slice(nl + 1);
        const i = this.waiters.findIndex((w) => (e.type === 'error' && e.re === w.id) || w.match(e));
        if (i < 0) continue;
        const w = this.waiters.splice(i, 1)[0]!;
        if (e.type === 'error' && e.re === w.id && e.code === 'rate_limited' && typeof e.retryAfterMs === 'number') w.retry(e.retryAfterMs);
        else if (e.type === 'error' && e.re === w.id) w.reject(new Error(`server answered ${JSON.stringify(e)}`));
        else w.resolve(e);
      }
    });
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
    });
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' }, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  /** Resolves with the matching event and how long the attempt that was served took, in ms. */
  request(req: { id: string } & Record<string, unknown>, match: (e: Event) => boolean): Promise<{ event: Event; ms: number }> {
    return new Promise((resolve, reject) => {
      const send = (): void => {
        const t = performance.now();
        this.waiters.push({
          id: req.id,
          match,
          resolve: (event) => resolve({ event, ms: performance.now() - t }),
          reject,
          retry: (afterMs) => void setTimeout(send, afterMs + 1),
        });
        this.socket.write(JSON.stringify(req) + '\n');
      };
      send();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Whether the server under test knows a flag (its --help lists every flag). */
function serverHasFlag(flag: string): boolean {
  const help = spawnSync(process.execPath, [SERVER_JS, '--help'], { encoding: 'utf8' });
  return `${help.stdout}${help.stderr}`.includes(flag);
}

/** Extra flags for the server under test, e.g. --server-args "--no-rate-limit". */
function serverArgs(): string[] {
  return (argStr('server-args') ?? '').split(' ').filter((a) => a !== '');
}

async function serverPart(dir: string, rooms: number, requests: number): Promise<object> {
  const startMs: number[] = [];
  let server = await startServer(['--data-dir', dir, ...serverArgs()]);
  try {
    startMs.push(Math.round(server.startMs));
    const rssAtListen = rssMB(server.proc.pid!);
    const c = await Client.connect(server.tcpPort);
    await c.request({ type: 'hello', name: 'benchreader', id: 'h' }, (e) => e.type === 'welcome');
    const rand = prng(11);
    const historyMs: number[] = [];
    const joinSinceMs: number[] = [];
    for (let i = 0; i < requests; i++) {
      const room = `room${Math.floor(rand() * rooms)}`;
      // Where to resume from: the room's newest seq, asked of the server itself (not timed).
      const probe = await c.request({ type: 'join', room, history: 1, id: `p${i}` }, (e) => e.type === 'history' && e.room === room);
      const newest = (probe.event.messages as { seq: number }[])[0]?.seq ?? 0;
      await c.request({ type: 'leave', room, id: `q${i}` }, (e) => e.type === 'ack' && e.re === `q${i}`);
      // Resume 50 back: members, one history event of 50, then our own `joined`.
      const join = await c.request({ type: 'join', room, since: Math.max(0, newest - 50), id: `s${i}` }, (e) => e.type === 'joined' && e.room === room && e.name === 'benchreader');
      joinSinceMs.push(join.ms);
      // A page from a random place: mostly not in any cache.
      const before = 1 + Math.floor(rand() * newest);
      const page = await c.request({ type: 'history', room, before, limit: 50, id: `h${i}` }, (e) => e.type === 'history' && e.re === `h${i}`);
      historyMs.push(page.ms);
      await c.request({ type: 'leave', room, id: `x${i}` }, (e) => e.type === 'ack' && e.re === `x${i}`);
    }
    const rssAfter = rssMB(server.proc.pid!);
    c.close();
    await stop(server);
    server = await startServer(['--data-dir', dir, ...serverArgs()]);
    startMs.push(Math.round(server.startMs));
    return { startToListenMs: startMs, rssAtListenMB: rssAtListen, rssAfterRequestsMB: rssAfter, historyMs: quantiles(historyMs), joinSinceMs: quantiles(joinSinceMs) };
  } finally {
    await stop(server);
  }
}

// ---- throughput through the real server (flat out) ----

/** One client: hello, join, then `say` with a window of outstanding requests until `quota` acks or the deadline. */
function floodClient(port: number, name: string, quota: number, deadline: number, window: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ port, host: '127.0.0.1' });
    let buf = '';
    let ready = false;
    let sent = 0;
    let acked = 0;
    const finish = (): void => {
      socket.destroy();
      resolve(acked);
    };
    const pump = (): void => {
      let out = '';
      while (sent - acked < window && sent < quota && Date.now() < deadline) {
        out += JSON.stringify({ type: 'say', room: 'bench', text: `message ${sent} from ${name}`, id: sent++ }) + '\n';
      }
      if (out) socket.write(out);
      if (acked >= quota || (Date.now() >= deadline && acked === sent)) finish();
    };
    const timer = setTimeout(finish, Math.max(0, deadline - Date.now()) + 5000);
    timer.unref();
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(JSON.stringify({ type: 'hello', name }) + '\n' + JSON.stringify({ type: 'join', room: 'bench', history: 0 }) + '\n');
    });
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // Only acks and our own joined matter; skip parsing the broadcast messages.
        if (line.startsWith('{"type":"ack"')) acked++;
        else if (!ready && line.includes('"type":"joined"') && line.includes(`"name":"${name}"`)) ready = true;
        else if (line.startsWith('{"type":"error"')) {
          socket.destroy();
          return reject(new Error(line));
        }
      }
      if (ready) pump();
    });
  });
}

async function throughput(fsync: 'batch' | 'always', clients: number, messages: number, seconds: number): Promise<{ ackedPerSec: number; acked: number; seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-store-'));
  try {
    // Flat out measures the store and the hub, not a per-sender rate limit.
    const unlimited = serverHasFlag('--no-rate-limit') ? ['--no-rate-limit'] : [];
    const server = await startServer(['--data-dir', dir, '--fsync', fsync, ...unlimited, ...serverArgs()]);
    const t0 = performance.now();
    const deadline = Date.now() + seconds * 1000;
    const per = Math.ceil(messages / clients);
    const counts = await Promise.all(Array.from({ length: clients }, (_, i) => floodClient(server.tcpPort, `b${i}`, per, deadline, 64)));
    const elapsed = (performance.now() - t0) / 1000;
    await stop(server);
    const acked = counts.reduce((a, b) => a + b, 0);
    return { ackedPerSec: Math.round(acked / elapsed), acked, seconds: Number(elapsed.toFixed(2)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const child = argStr('child-open');
  const rooms = arg('rooms', 1000);
  const requests = arg('requests', 200);
  if (child) return childOpen(child, rooms, requests);
  const parts = (argStr('part') ?? 'latency,open,server,throughput').split(',');
  const stored = arg('stored', 1_000_000);
  const out = (o: object): void => void process.stdout.write(JSON.stringify({ bench: 'store', ...o }) + '\n');
  if (parts.includes('latency')) {
    const seconds = arg('seconds', 10);
    const rate = arg('rate', 2000);
    const convs = arg('convs', 100);
    const busy = argStr('busy-us') === undefined ? 0 : Number(argStr('busy-us'));
    for (const kind of ['memory', 'file'] as const) out({ part: 'latency', ...(await appendLatency(kind, seconds, rate, convs, busy)) });
  }
  if (parts.includes('open') || parts.includes('server') || parts.includes('freeze')) {
    await withDataDir(stored, rooms, async (dir) => {
      if (parts.includes('freeze')) out({ part: 'freeze', stored, rooms, freezeMs: freezeTimes(dir) });
      if (parts.includes('open')) {
        for (let i = 0; i < 2; i++) out({ part: 'open', stored, rooms, run: i + 1, ...(await runChild(['--child-open', dir, '--rooms', String(rooms), '--requests', String(requests)])) });
      }
      if (parts.includes('server')) out({ part: 'server', stored, rooms, ...(await serverPart(dir, rooms, requests)) });
    });
  }
  if (parts.includes('throughput')) {
    const messages = arg('messages', 50_000);
    const seconds = arg('seconds', 10);
    const clients = arg('clients', 8);
    const batch = await throughput('batch', clients, messages, seconds);
    const always = await throughput('always', clients, Math.min(messages, 20_000), seconds);
    out({ part: 'throughput', clients, fsyncBatch: batch, fsyncAlways: always });
  }
}

/** How long a seal's freeze blocks the event loop, on a copy of the dir's word index. */
function freezeTimes(dir: string): number[] {
  const scratch = mkdtempSync(join(tmpdir(), 'parley-freeze-'));
  try {
    const file = join(scratch, SEARCH_FILE);
    copyFileSync(join(dir, SEARCH_FILE), file);
    const snap = openSnapshot(file);
    if (typeof snap === 'string') throw new Error(`${SEARCH_FILE}: ${snap}`);
    const index = new SearchIndex({ sink: (docs) => new SnapshotSink(file, snap.covered, docs) });
    index.restore(snap.docs, snap.postings);
    const times: number[] = [];
    let key = Math.max(0, ...snap.docs.keys.subarray(-1)) + 1;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1000; i++) index.add(roomConv(`room${i % 100}`), 10_000_000 + round * 1000 + i, key++, ['benchmark', 'ordinary', `fresh${round}x${i}`]);
      const t0 = performance.now();
      if (!index.freeze()) throw new Error('freeze failed');
      times.push(Number((performance.now() - t0).toFixed(1)));
    }
    index.close();
    return times;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench/store: ${err.message}\n`);
  process.exitCode = 1;
});
