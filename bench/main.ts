// Parley load tool: spawns a server (ours and/or the `ws`-based reference), drives it with raw TCP and
// WebSocket clients over node:net, and reports throughput, end-to-end latency, loss/dup/reorder and the
// server's RSS/CPU read from /proc. One process holds all clients: the machine has 2 cores shared with
// the server under test, so extra workers would only steal CPU from the thing being measured.
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as zc, inflateRawSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** ours: Parley; ref: the `ws` reference; floor: bench/floor-server.ts, the least a chat server can do. */
type ServerKind = 'ours' | 'ref' | 'floor';

export interface Options {
  server: ServerKind;
  transport: 'tcp' | 'ws' | 'both';
  clients: number;
  rooms: number;
  senders: number;
  /** Total says per second over all senders; 0 = flat out, paced only by WINDOW un-acked says per sender. */
  rate: number;
  size: number;
  durationS: number;
  warmupS: number;
  deflate: boolean;
  idle: boolean;
  dataDir: string | null;
  fsync: string | null;
  refDir: string;
}

/** Un-acked says a flat-out sender keeps in flight: enough to keep the server busy, bounded so neither side buffers without limit. */
const WINDOW = Number(process.env["BENCH_WINDOW"] ?? 32);
/** Connects in flight at once; more overflows the listen backlog and turns into SYN retries (1 s stalls). */
const CONNECT_CONCURRENCY = 256;
/** Hard time bounds: no run may hang the suite. */
const CONNECT_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 3_000;
// The reference needs 35-55 s to compress a 1,000-client join storm one client at a time; a bound
// it cannot meet would start the load on top of that backlog and measure the backlog instead.
const SETTLE_TIMEOUT_MS = 120_000;

// ---------- latency histogram: log-linear, 16 sub-buckets per power of two, fixed memory ----------
class Histogram {
  readonly counts = new Float64Array(64 * 16);
  n = 0;
  max = 0;
  add(us: number): void {
    const v = us < 1 ? 1 : Math.floor(us);
    const e = 31 - Math.clz32(v);
    const sub = e < 4 ? (v << (4 - e)) & 15 : (v >>> (e - 4)) & 15;
    const idx = e * 16 + sub;
    this.counts[idx < this.counts.length ? idx : this.counts.length - 1]! += 1;
    this.n++;
    if (v > this.max) this.max = v;
  }
  /** Upper edge of the bucket holding quantile q, in µs (≤ 6% above the true value). */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const target = q * this.n;
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i]!;
      if (acc >= target) {
        const e = Math.floor(i / 16), sub = i % 16;
        const lo = e < 4 ? (sub >> (4 - e)) : (16 + sub) * 2 ** (e - 4);
        const hi = e < 4 ? lo + 1 : lo + 2 ** (e - 4);
        return Math.min(hi, this.max);
      }
    }
    return this.max;
  }
}

// ---------- shared counters ----------
interface Stats {
  sent: number;
  events: number;
  acked: number;
  delivered: number;
  bytes: number;
  dups: number;
  reorders: number;
  errors: number;
  measuring: boolean;
  mDelivered: number;
  mBytes: number;
  mAcked: number;
  hist: Histogram;
}

const nowUs = (): number => Math.round(performance.now() * 1000);

const TEXT_MARK = Buffer.from('"text":"b:');
const ACK_MARK = Buffer.from('"type":"ack"');
const MEMBERS_MARK = Buffer.from('"type":"members"');
const ERROR_MARK = Buffer.from('"type":"error"');

/** Reads a decimal integer at buf[i..] up to the next ':'; returns [value, index after ':']. */
function readInt(buf: Buffer, i: number): [number, number] {
  let v = 0;
  for (; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 58) return [v, i + 1];
    v = v * 10 + (c - 48);
  }
  return [v, i];
}

// ---------- shared inflate for context-free messages ----------
// Without context takeover a compressed message decodes the same for every receiver, and a server
// that compresses once per broadcast sends every receiver the same bytes: the tool inflates each
// distinct payload once instead of once per receiver, so its own CPU does not cap the measurement.
const inflated = new Map<string, Buffer>();

function inflateShared(data: Buffer): Buffer {
  const key = data.toString('latin1');
  let out = inflated.get(key);
  if (!out) {
    out = inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zc.Z_SYNC_FLUSH });
    if (inflated.size >= 4096) inflated.clear();
    inflated.set(key, out);
  }
  return out;
}

// ---------- random mask pool: RFC 6455 wants unpredictable masks; one crypto call per 64 KB, not per frame ----------
const maskPool = Buffer.alloc(65536);
let maskPos = maskPool.length;
function nextMask(): Buffer {
  if (maskPos + 4 > maskPool.length) { randomFillSync(maskPool); maskPos = 0; }
  const m = maskPool.subarray(maskPos, maskPos + 4);
  maskPos += 4;
  return m;
}

function wsFrame(payload: Buffer): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(hdr + 4 + len);
  out[0] = 0x81;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); }
  else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(len), 2); }
  const mask = nextMask();
  mask.copy(out, hdr);
  const p = hdr + 4;
  for (let i = 0; i < len; i++) out[p + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

// ---------- one client connection ----------
class Client {
  sock!: net.Socket;
  private rest: Buffer | null = null;
  private handshaken = false;
  private deflate = false;
  /** server_no_context_takeover negotiated: every compressed message stands alone. */
  private noContext = false;
  private window: Buffer = Buffer.alloc(0);
  private frag: Buffer[] = [];
  private fragCompressed = false;
  /** Highest counter seen per sender: detects dups and reordering without storing messages. */
  readonly last = new Map<number, number>();
  received = 0;
  inflight = 0;
  counter = 0;
  joined = false;
  onJoined: (() => void) | null = null;
  onAck: (() => void) | null = null;
  constructor(readonly id: number, readonly ws: boolean, readonly room: string, readonly stats: Stats, readonly offerDeflate: boolean) {}

  connect(port: number): Promise<void> {
    return new Promise((res, rej) => {
      const s = net.connect({ host: '127.0.0.1', port });
      this.sock = s;
      s.setNoDelay(true);
      s.on('error', (e) => { this.stats.errors++; rej(e); });
      s.on('data', (d: Buffer) => this.onData(d));
      s.once('connect', () => {
        if (!this.ws) { this.handshaken = true; res(); return; }
        const key = randomBytes(16).toString('base64');
        s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (this.offerDeflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') + '\r\n');
        this.onHandshake = (ok, why) => (ok ? res() : rej(new Error(why)));
      });
    });
  }
  private onHandshake: ((ok: boolean, why: string) => void) | null = null;

  send(obj: string): void {
    const b = Buffer.from(obj);
    this.sock.write(this.ws ? wsFrame(b) : Buffer.concat([b, Buffer.from('\n')]));
  }

  private onData(d: Buffer): void {
    let buf = this.rest ? Buffer.concat([this.rest, d]) : d;
    this.rest = null;
    if (!this.handshaken) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) { this.rest = buf; return; }
      const head = buf.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) { this.onHandshake?.(false, `handshake: ${head.split('\r\n')[0]}`); this.sock.destroy(); return; }
      this.deflate = /permessage-deflate/i.test(head);
      this.noContext = /server_no_context_takeover/i.test(head);
      this.handshaken = true;
      this.onHandshake?.(true, '');
      buf = buf.subarray(end + 4);
    }
    if (this.ws) this.parseFrames(buf); else this.parseLines(buf);
  }

  private parseLines(buf: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      this.onMessage(buf, start, nl);
      start = nl + 1;
    }
    if (start < buf.length) this.rest = Buffer.from(buf.subarray(start));
  }

  private parseFrames(buf: Buffer): void {
    let p = 0;
    while (buf.length - p >= 2) {
      const b0 = buf[p]!, b1 = buf[p + 1]!;
      let len = b1 & 0x7f, h = 2;
      if (len === 126) { if (buf.length - p < 4) break; len = buf.readUInt16BE(p + 2); h = 4; }
      else if (len === 127) { if (buf.length - p < 10) break; len = Number(buf.readBigUInt64BE(p + 2)); h = 10; }
      if (buf.length - p < h + len) break;
      const payload = buf.subarray(p + h, p + h + len);
      p += h + len;
      const op = b0 & 0x0f, fin = (b0 & 0x80) !== 0;
      if (op === 8) { this.sock.end(); return; }
      if (op === 9) { this.sock.write(Buffer.from([0x8a, 0x80, 0, 0, 0, 0])); continue; }
      if (op >= 8) continue;
      if (op !== 0) this.fragCompressed = (b0 & 0x40) !== 0;
      if (!fin) { this.frag.push(Buffer.from(payload)); continue; }
      let msg: Buffer = this.frag.length ? Buffer.concat([...this.frag, payload]) : payload;
      this.frag = [];
      if (this.fragCompressed && this.deflate) msg = this.inflate(msg);
      this.onMessage(msg, 0, msg.length);
    }
    if (p < buf.length) this.rest = Buffer.from(buf.subarray(p));
  }

  /**
   * Server context takeover means each message is compressed against the previous 32 KB of output:
   * a raw inflate with that history as preset dictionary reproduces exactly that window, synchronously.
   */
  private inflate(data: Buffer): Buffer {
    if (this.noContext) return inflateShared(data);
    const input = Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]);
    // SYNC_FLUSH: a permessage-deflate message never ends the deflate stream, so a FINISH-style inflate would fail.
    const out = this.window.length ? inflateRawSync(input, { dictionary: this.window, finishFlush: zc.Z_SYNC_FLUSH }) : inflateRawSync(input, { finishFlush: zc.Z_SYNC_FLUSH });
    const w = this.window.length + out.length > 32768 ? Buffer.concat([this.window, out]).subarray(-32768) : Buffer.concat([this.window, out]);
    this.window = Buffer.from(w);
    return out;
  }

  private onMessage(buf: Buffer, start: number, end: number): void {
    const st = this.stats;
    st.events++;
    const t = buf.indexOf(TEXT_MARK, start);
    if (t >= 0 && t < end) {
      let i = t + TEXT_MARK.length;
      let sender: number, n: number, ts: number;
      [sender, i] = readInt(buf, i);
      [n, i] = readInt(buf, i);
      [ts, i] = readInt(buf, i);
      const prev = this.last.get(sender) ?? 0;
      if (n <= prev) { if (n === prev) st.dups++; else st.reorders++; return; }
      if (n !== prev + 1) st.reorders++;
      this.last.set(sender, n);
      this.received++;
      st.delivered++;
      st.bytes += end - start;
      if (st.measuring) { st.mDelivered++; st.mBytes += end - start; st.hist.add(nowUs() - ts); }
      return;
    }
    const a = buf.indexOf(ACK_MARK, start);
    if (a >= 0 && a < end) { st.acked++; if (st.measuring) st.mAcked++; this.inflight--; this.onAck?.(); return; }
    const m = buf.indexOf(MEMBERS_MARK, start);
    if (m >= 0 && m < end) { this.joined = true; this.onJoined?.(); this.onJoined = null; return; }
    const e = buf.indexOf(ERROR_MARK, start);
    if (e >= 0 && e < end) { st.errors++; if (st.errors < 5) process.stderr.write(`bench: server error ${buf.subarray(start, end).toString().slice(0, 200)}\n`); }
  }

  sayNext(senderIdx: number, pad: string): void {
    this.counter++;
    this.inflight++;
    this.stats.sent++;
    this.send(`{"type":"say","room":"${this.room}","id":${this.counter},"text":"b:${senderIdx}:${this.counter}:${nowUs()}:${pad}"}`);
  }
}

// ---------- server processes ----------
interface ServerProc { proc: ChildProcess; pid: number; tcpPort: number; httpPort: number; stop(): Promise<void>; }

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const a = s.address() as net.AddressInfo; s.close(() => res(a.port)); });
  });
}

async function startServer(o: Options): Promise<ServerProc> {
  let args: string[];
  if (o.server === 'ours') {
    // Rate limits off: a load generator is a flood by design (docs/benchmarks.md says so). Connection
    // caps off too: every client comes from 127.0.0.1, and the idle scenarios hold 19,000 of them,
    // past both the per-address default (100) and the server-wide one (10,000).
    args = [join(ROOT, 'dist', 'server', 'main.js'), '--host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--irc-port', '0', '--no-rate-limit',
      '--max-connections-per-ip', '0', '--max-connections', '0'];
    if (o.dataDir) { args.push('--data-dir', o.dataDir); if (o.fsync) args.push('--fsync', o.fsync); } else args.push('--memory');
    if (!o.deflate) args.push('--no-deflate');
  } else if (o.server === 'floor') {
    args = [join(ROOT, 'dist', 'bench', 'floor-server.js')];
  } else {
    // The reference prints its configured ports, so it needs real ones (small race, loopback only).
    const [h, t] = [await freePort(), await freePort()];
    args = [join(o.refDir, 'refserver-ws.js'), '--host', '127.0.0.1', '--http-port', String(h), '--tcp-port', String(t)];
    if (o.deflate) args.push('--deflate');
  }
  // exec through sh so the server gets the full open-files hard limit, and its pid is node's own.
  const pin = process.env['BENCH_SERVER_CPUS'] ? `taskset -c ${process.env['BENCH_SERVER_CPUS']} ` : '';
  const cmd = `ulimit -n $(ulimit -Hn); exec ${pin}"${process.execPath}" ${args.map((a) => `'${a}'`).join(' ')}`;
  // BENCH_SERVER_NODE_OPTIONS reaches the server under test only (e.g. V8 heap sizing experiments).
  const env = { ...process.env, NODE_OPTIONS: process.env['BENCH_SERVER_NODE_OPTIONS'] ?? '' };
  const proc = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], env });
  // A crash of the tool must not leave a server running (it would hold ports and CPU).
  const reap = (): void => { if (proc.exitCode === null) proc.kill('SIGKILL'); };
  process.once('exit', reap);
  proc.once('exit', () => process.removeListener('exit', reap));
  const ports = await new Promise<[number, number]>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`server did not start: ${out}`)), 10_000);
    const look = (d: Buffer): void => {
      out += d.toString();
      const m1 = /parley listening tcp=[^:]+:(\d+) http=[^:]+:(\d+)/.exec(out);
      if (m1) { clearTimeout(timer); res([Number(m1[1]), Number(m1[2])]); }
      const m2 = /"ready":true.*"http":"[^:]+:(\d+)","tcp":"[^:]+:(\d+)"/.exec(out);
      if (m2) { clearTimeout(timer); res([Number(m2[2]), Number(m2[1])]); }
    };
    proc.stdout!.on('data', look);
    proc.stderr!.on('data', look);
    proc.once('exit', (c) => rej(new Error(`server exited ${c}: ${out}`)));
  });
  return {
    proc, pid: proc.pid!, tcpPort: ports[0], httpPort: ports[1],
    stop: () => new Promise((res) => {
      if (proc.exitCode !== null) { res(); return; }
      const k = setTimeout(() => proc.kill('SIGKILL'), 3000);
      proc.once('exit', () => { clearTimeout(k); res(); });
      proc.kill('SIGTERM');
    }),
  };
}

function procStats(pid: number): { rssKB: number; cpuS: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuS = (Number(f[11]) + Number(f[12])) / 100; // utime+stime in USER_HZ=100 ticks
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { rssKB: m ? Number(m[1]) : 0, cpuS };
  } catch { return { rssKB: 0, cpuS: 0 }; }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Result {
  server: string; transport: string; clients: number; connected: number; rooms: number; senders: number; rate: number; size: number;
  deflate: boolean; durationS: number; sent: number; acked: number; delivered: number; deliveredPerS: number; ackedPerS: number; MBPerS: number;
  lost: number; dups: number; reorders: number; errors: number;
  latencyUs: { p50: number; p90: number; p99: number; max: number; n: number };
  serverRssKB: number; serverRssIdleKB: number; serverRssPerConnKB: number; serverCpuS: number; toolCpuS: number; toolRssKB: number;
  /** Seconds from the last join's reply until the event stream went quiet. */
  settleS?: number;
  error?: string;
}

export async function runOnce(o: Options): Promise<Result> {
  const stats: Stats = { sent: 0, events: 0, acked: 0, delivered: 0, bytes: 0, dups: 0, reorders: 0, errors: 0, measuring: false, mDelivered: 0, mBytes: 0, mAcked: 0, hist: new Histogram() };
  const srv = await startServer(o);
  const clients: Client[] = [];
  const base: Result = {
    server: o.server, transport: o.transport, clients: o.clients, connected: 0, rooms: o.rooms, senders: o.senders, rate: o.rate, size: o.size,
    deflate: o.deflate, durationS: o.durationS, sent: 0, acked: 0, delivered: 0, deliveredPerS: 0, ackedPerS: 0, MBPerS: 0, lost: 0, dups: 0, reorders: 0, errors: 0,
    latencyUs: { p50: 0, p90: 0, p99: 0, max: 0, n: 0 }, serverRssKB: 0, serverRssIdleKB: 0, serverRssPerConnKB: 0, serverCpuS: 0, toolCpuS: 0, toolRssKB: 0,
  };
  const cpu0 = process.cpuUsage();
  try {
    await sleep(200);
    base.serverRssIdleKB = procStats(srv.pid).rssKB;
    // Connect + hello + join, CONNECT_CONCURRENCY at a time.
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < o.clients && Date.now() < deadline) {
        const i = next++;
        const ws = o.transport === 'ws' || (o.transport === 'both' && i % 2 === 1);
        const c = new Client(i, ws, `r${i % o.rooms}`, stats, o.deflate);
        await c.connect(ws ? srv.httpPort : srv.tcpPort);
        const joined = new Promise<void>((r) => { c.onJoined = r; });
        c.send(`{"type":"hello","name":"b${i}","protocol":1}`);
        c.send(`{"type":"join","room":"${c.room}","history":0,"id":"j"}`);
        await joined;
        clients.push(c);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, o.clients) }, worker));
    base.connected = clients.length;
    if (clients.length < o.clients) throw new Error(`only ${clients.length}/${o.clients} connected in time`);
    // Settle: N joins into one room make ~N²/2 `joined` events; measuring before they are flushed would
    // charge that backlog to the load (with deflate it takes the reference many seconds).
    const settleStart = Date.now();
    let settled = false;
    for (let prev = -1; Date.now() < settleStart + SETTLE_TIMEOUT_MS;) {
      if (stats.events === prev) { settled = true; break; }
      prev = stats.events;
      await sleep(500);
    }
    base.settleS = +((Date.now() - settleStart) / 1000).toFixed(1);
    // Not fatal: the figures still say something, but the table must show they include the backlog.
    if (!settled) base.error = `join events still flowing after ${SETTLE_TIMEOUT_MS / 1000} s; load started on a backlog`;
    if (o.idle) {
      await sleep(1000);
      const s = procStats(srv.pid);
      base.serverRssKB = s.rssKB;
      base.serverCpuS = s.cpuS;
      base.serverRssPerConnKB = (s.rssKB - base.serverRssIdleKB) / clients.length;
      return base;
    }
    // Senders: the first S clients, spread over rooms by construction (client i is in room i % R).
    const senders = clients.slice(0, o.senders);
    const pad = 'x'.repeat(Math.max(0, o.size - 40));
    let running = true;
    let timer: NodeJS.Timeout | null = null;
    if (o.rate === 0) {
      for (let k = 0; k < senders.length; k++) {
        const c = senders[k]!;
        c.onAck = () => { if (running && c.inflight < WINDOW) c.sayNext(k, pad); };
        for (let j = 0; j < WINDOW; j++) c.sayNext(k, pad);
      }
    } else {
      // A 1 ms tick whose budget follows the clock: sends stay spread out (a coarse tick would send
      // bursts, and the queueing inside each burst would be measured as server latency) and a late
      // tick catches up instead of lowering the rate.
      let budget = 0, rr = 0, last = performance.now();
      timer = setInterval(() => {
        const now = performance.now();
        budget += (o.rate * (now - last)) / 1000;
        last = now;
        while (budget >= 1) { budget--; const c = senders[rr % senders.length]!; c.sayNext(rr % senders.length, pad); rr++; }
      }, 1);
    }
    const t0 = Date.now();
    let lastD = 0;
    const progress = setInterval(() => {
      const s = procStats(srv.pid);
      process.stderr.write(`bench ${o.server} t=${((Date.now() - t0) / 1000).toFixed(0)}s delivered/s=${stats.delivered - lastD} acked=${stats.acked} p99=${(stats.hist.quantile(0.99) / 1000).toFixed(2)}ms srvRSS=${(s.rssKB / 1024).toFixed(0)}MB srvCPU=${s.cpuS.toFixed(1)}s\n`);
      lastD = stats.delivered;
    }, 1000);
    await sleep(o.warmupS * 1000);
    const srvCpu0 = procStats(srv.pid).cpuS;
    const tool0 = process.cpuUsage();
    stats.measuring = true;
    const m0 = performance.now();
    await sleep(o.durationS * 1000);
    stats.measuring = false;
    const elapsed = (performance.now() - m0) / 1000;
    const s1 = procStats(srv.pid);
    const toolCpu = process.cpuUsage(tool0);
    running = false;
    if (timer) clearInterval(timer);
    clearInterval(progress);
    // Drain: wait until every say is acked and every delivery arrived, bounded in time.
    const expectedPerReceiver = (c: Client): number => { let e = 0; for (let k = 0; k < senders.length; k++) if (senders[k]!.room === c.room) e += senders[k]!.counter; return e; };
    const dd = Date.now() + DRAIN_TIMEOUT_MS;
    let expected = 0;
    for (;;) {
      expected = 0;
      for (const c of clients) expected += expectedPerReceiver(c);
      if ((stats.acked >= stats.sent && stats.delivered >= expected) || Date.now() > dd) break;
      await sleep(50);
    }
    Object.assign(base, {
      sent: stats.sent, acked: stats.acked, delivered: stats.delivered, deliveredPerS: Math.round(stats.mDelivered / elapsed), ackedPerS: Math.round(stats.mAcked / elapsed),
      MBPerS: +(stats.mBytes / elapsed / 1e6).toFixed(2), lost: Math.max(0, expected - stats.delivered), dups: stats.dups, reorders: stats.reorders, errors: stats.errors,
      latencyUs: { p50: stats.hist.quantile(0.5), p90: stats.hist.quantile(0.9), p99: stats.hist.quantile(0.99), max: stats.hist.max, n: stats.hist.n },
      serverRssKB: s1.rssKB, serverRssPerConnKB: +((s1.rssKB - base.serverRssIdleKB) / clients.length).toFixed(2), serverCpuS: +(s1.cpuS - srvCpu0).toFixed(2),
      toolCpuS: +((toolCpu.user + toolCpu.system) / 1e6).toFixed(2),
    });
    return base;
  } catch (e) {
    base.error = e instanceof Error ? e.message : String(e);
    base.connected = clients.length;
    return base;
  } finally {
    base.toolRssKB = Math.round(process.memoryUsage().rss / 1024);
    if (base.toolCpuS === 0) { const c = process.cpuUsage(cpu0); base.toolCpuS = +((c.user + c.system) / 1e6).toFixed(2); }
    for (const c of clients) c.sock.destroy();
    await srv.stop();
  }
}

// ---------- scenarios ----------
interface Scenario { name: string; title: string; metric: 'deliveredPerS' | 'p99' | 'rssPerConn' | 'ackedPerS'; opts: Partial<Options>; servers: ServerKind[]; target: string; }

const SCENARIOS: Scenario[] = [
  { name: 'fanout-ws', title: 'WS fan-out: 1 room, 1,000 subscribers, 1 sender flat out, 100 B', metric: 'deliveredPerS', opts: { transport: 'ws', clients: 1000, rooms: 1, senders: 1, rate: 0, size: 100 }, servers: ['ours', 'ref'], target: '>= 3x reference' },
  { name: 'fanout-tcp', title: 'TCP fan-out: 1 room, 1,000 subscribers, 1 sender flat out, 100 B', metric: 'deliveredPerS', opts: { transport: 'tcp', clients: 1000, rooms: 1, senders: 1, rate: 0, size: 100 }, servers: ['ours', 'ref'], target: '>= 2x reference' },
  { name: 'chatty', title: 'Chatty: 2,000 conns (half WS) in 100 rooms, 2,000 msg/s total', metric: 'p99', opts: { transport: 'both', clients: 2000, rooms: 100, senders: 2000, rate: 2000, size: 100 }, servers: ['ours', 'ref', 'floor'], target: 'p99 <= 1/2 reference' },
  { name: 'idle-ws', title: 'Idle: 19,000 WS connections after hello+join', metric: 'rssPerConn', opts: { transport: 'ws', clients: 19000, rooms: 1000, senders: 0, idle: true }, servers: ['ours', 'ref'], target: 'RSS/conn <= 3/4 reference' },
  { name: 'idle-tcp', title: 'Idle: 19,000 TCP connections after hello+join', metric: 'rssPerConn', opts: { transport: 'tcp', clients: 19000, rooms: 1000, senders: 0, idle: true }, servers: ['ours', 'ref'], target: '(informational)' },
  { name: 'deflate', title: 'Deflate fan-out: 1 room, 1,000 WS with permessage-deflate', metric: 'deliveredPerS', opts: { transport: 'ws', clients: 1000, rooms: 1, senders: 1, rate: 0, size: 100, deflate: true }, servers: ['ours', 'ref'], target: '>= 5x reference at <= 1/10 RSS per conn' },
  { name: 'deflate-2k', title: 'Deflate fan-out, compressible 2 KB messages: 1 room, 1,000 WS, 1 sender flat out', metric: 'deliveredPerS', opts: { transport: 'ws', clients: 1000, rooms: 1, senders: 1, rate: 0, size: 2048, deflate: true }, servers: ['ours', 'ref'], target: '>= 5x reference at <= 1/10 RSS per conn' },
  { name: 'durable', title: 'Durable: acked says/s, 100 TCP senders in 100 rooms, --data-dir, fsync batch', metric: 'ackedPerS', opts: { transport: 'tcp', clients: 100, rooms: 100, senders: 100, rate: 0, size: 100, fsync: 'batch' }, servers: ['ours'], target: '(no reference equivalent)' },
];

function metricOf(s: Scenario, r: Result): number {
  if (s.metric === 'p99') return r.latencyUs.p99 / 1000;
  if (s.metric === 'rssPerConn') return r.serverRssPerConnKB;
  return s.metric === 'ackedPerS' ? r.ackedPerS : r.deliveredPerS;
}
const UNIT: Record<Scenario['metric'], string> = { deliveredPerS: 'deliveries/s', ackedPerS: 'acked says/s', p99: 'p99 ms', rssPerConn: 'KB RSS / connection' };

function esc(s: string): string { return s.replace(/&/g, '&amp;').replace(/</g, '&lt;'); }

/** A hand-written bar chart: one bar per run, ours blue, reference grey; no dependency, diffable text. */
function svgChart(s: Scenario, runs: Result[]): string {
  const W = 640, H = 300, left = 70, top = 50, bottom = 60, bw = 60, gap = 30;
  const vals = runs.map((r) => (r.error ? 0 : metricOf(s, r)));
  const max = Math.max(1e-9, ...vals) * 1.15;
  const ph = H - top - bottom;
  let body = `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(s.title)}</text>\n`;
  body += `<text x="${W / 2}" y="40" text-anchor="middle" font-size="12">${esc(UNIT[s.metric])} (target: ${esc(s.target)})</text>\n`;
  body += `<line x1="${left}" y1="${top + ph}" x2="${W - 20}" y2="${top + ph}" stroke="#333"/>\n`;
  runs.forEach((r, i) => {
    const v = vals[i]!;
    const h = (v / max) * ph, x = left + 20 + i * (bw + gap);
    body += `<rect x="${x}" y="${top + ph - h}" width="${bw}" height="${h}" fill="${r.server === 'ours' ? '#2f6fd6' : r.server === 'ref' ? '#999' : '#d9a441'}"/>\n`;
    body += `<text x="${x + bw / 2}" y="${top + ph - h - 5}" text-anchor="middle" font-size="11">${r.error ? 'n/a' : +v.toFixed(2)}</text>\n`;
    body += `<text x="${x + bw / 2}" y="${top + ph + 16}" text-anchor="middle" font-size="11">${r.server === 'ours' ? 'parley' : r.server === 'ref' ? 'ws ref' : 'floor'}</text>\n`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}</svg>\n`;
}

function defaults(): Options {
  return { server: 'ours', transport: 'tcp', clients: 100, rooms: 1, senders: 1, rate: 0, size: 100, durationS: 5, warmupS: 1, deflate: false, idle: false, dataDir: null, fsync: null, refDir: process.env['BENCH_REF_DIR'] ?? '/tmp/bench-ref' };
}

async function runScenario(s: Scenario, base: Options, reps: number): Promise<Result[]> {
  const runs: Result[] = [];
  for (let k = 0; k < reps; k++) {
    for (const server of s.servers) {
      if (server === 'ref' && !existsSync(join(base.refDir, 'node_modules', 'ws'))) { process.stderr.write(`bench: reference not installed in ${base.refDir}, skipped\n`); continue; }
      const o: Options = { ...base, ...s.opts, server };
      if (s.name === 'durable') o.dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
      process.stderr.write(`bench: scenario ${s.name} server=${server}\n`);
      const r = await runOnce(o);
      runs.push(r);
      process.stdout.write(JSON.stringify({ scenario: s.name, ...r }) + '\n');
    }
  }
  const ours = runs.filter((r) => r.server === 'ours' && !r.error).map((r) => metricOf(s, r));
  const ref = runs.filter((r) => r.server === 'ref' && !r.error).map((r) => metricOf(s, r));
  const med = (a: number[]): number => { const b = [...a].sort((x, y) => x - y); return b.length ? b[Math.floor(b.length / 2)]! : NaN; };
  const ratio = ours.length && ref.length ? med(ours) / med(ref) : NaN;
  process.stderr.write(`\n| ${s.name} | server | ${UNIT[s.metric]} | p50 ms | p99 ms | RSS/conn KB | srv CPU s | tool CPU s | lost | dups | error |\n|---|---|---|---|---|---|---|---|---|---|---|\n`);
  for (const r of runs) process.stderr.write(`| | ${r.server} | ${r.error ? 'n/a' : +metricOf(s, r).toFixed(2)} | ${(r.latencyUs.p50 / 1000).toFixed(2)} | ${(r.latencyUs.p99 / 1000).toFixed(2)} | ${r.serverRssPerConnKB.toFixed(2)} | ${r.serverCpuS} | ${r.toolCpuS} | ${r.lost} | ${r.dups} | ${r.error ?? ''} |\n`);
  process.stderr.write(`ratio ours/ref (median): ${Number.isNaN(ratio) ? 'n/a' : ratio.toFixed(2)}  target ${s.target}\n`);
  const floor = runs.filter((r) => r.server === 'floor' && !r.error).map((r) => metricOf(s, r));
  if (floor.length) process.stderr.write(`floor (median): ${med(floor).toFixed(2)}; floor/ref ${ref.length ? (med(floor) / med(ref)).toFixed(2) : 'n/a'}\n`);
  process.stderr.write('\n');
  const svg = svgChart(s, runs);
  for (const dir of [join(ROOT, 'bench', 'results'), join(ROOT, 'docs')]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', `bench-${s.name}.svg`), svg);
  writeFileSync(join(ROOT, 'docs', `bench-${s.name}.svg`), svg);
  writeFileSync(join(ROOT, 'bench', 'results', `bench-${s.name}.json`), JSON.stringify({ scenario: s.name, ratio, runs }, null, 1));
  return runs;
}

const HELP = `usage: npm run bench -- [--suite | --scenario NAME[,NAME]] [--reps N]
       npm run bench -- [--server ours|ref|floor] [--transport tcp|ws|both] [--clients N] [--rooms R] [--senders S]
                        [--rate MSGS_PER_S (0 = flat out)] [--size BYTES] [--duration S] [--warmup S] [--deflate] [--idle]
                        [--data-dir DIR --fsync batch|always] [--ref-dir DIR]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`;

async function main(argv: string[]): Promise<number> {
  const o = defaults();
  let scen: string[] = [];
  let reps = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => { const x = argv[++i]; if (x === undefined) throw new Error(`missing value for ${a}`); return x; };
    switch (a) {
      case '--suite': scen = SCENARIOS.map((s) => s.name); break;
      case '--scenario': scen = v().split(','); break;
      case '--reps': reps = Number(v()); break;
      case '--server': { const s = v(); if (s !== 'ours' && s !== 'ref' && s !== 'floor') throw new Error('--server ours|ref|floor'); o.server = s; break; }
      case '--transport': { const t = v(); if (t !== 'tcp' && t !== 'ws' && t !== 'both') throw new Error('--transport tcp|ws|both'); o.transport = t; break; }
      case '--clients': o.clients = Number(v()); break;
      case '--rooms': o.rooms = Number(v()); break;
      case '--senders': o.senders = Number(v()); break;
      case '--rate': o.rate = Number(v()); break;
      case '--size': o.size = Number(v()); break;
      case '--duration': o.durationS = Number(v()); break;
      case '--warmup': o.warmupS = Number(v()); break;
      case '--deflate': o.deflate = true; break;
      case '--idle': o.idle = true; break;
      case '--data-dir': o.dataDir = v(); break;
      case '--fsync': o.fsync = v(); break;
      case '--ref-dir': o.refDir = v(); break;
      case '-h': case '--help': process.stdout.write(HELP + '\n'); return 0;
      default: throw new Error(`unknown flag ${a}\n${HELP}`);
    }
  }
  if (o.senders > o.clients) o.senders = o.clients;
  if (scen.length) {
    for (const n of scen) {
      const s = SCENARIOS.find((x) => x.name === n);
      if (!s) throw new Error(`unknown scenario ${n}`);
      await runScenario(s, o, reps);
    }
    return 0;
  }
  const r = await runOnce(o);
  process.stdout.write(JSON.stringify(r) + '\n');
  return r.error ? 1 : 0;
}

/** The tool itself holds up to 20,000 sockets: re-exec once under the open-files hard limit if the soft one is lower. */
function reexecWithFdLimit(): boolean {
  if (process.env['BENCH_FD_RAISED']) return false;
  const soft = execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim();
  const hard = execSync('ulimit -Hn', { shell: '/bin/sh' }).toString().trim();
  if (soft === hard) return false;
  const args = [process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawn('sh', ['-c', `ulimit -n ${hard}; exec ${args}`], { stdio: 'inherit', env: { ...process.env, BENCH_FD_RAISED: '1' } });
  child.on('exit', (c) => process.exit(c ?? 1));
  return true;
}

if (!reexecWithFdLimit()) main(process.argv.slice(2)).then((c) => process.exit(c), (e: unknown) => { process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(2); });
