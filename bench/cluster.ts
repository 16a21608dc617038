// Cluster fan-out benchmark: one room whose subscribers are spread over N nodes sharing one Redis,
// one sender flat out (a window of un-acked says), TCP. It compares Parley on one node (no Redis),
// Parley on N nodes (--redis), and the `ws`+`ioredis` reference (../shared/bench-reference, installed
// in a scratch folder by `make bench`) on one node and on N nodes. Reported: deliveries/s, latency
// from send to delivery (p50, p99), and order: every receiver must see the room's seqs increasing.
//
// Bounded: a fixed number of connections, a fixed measuring time, every process killed at the end;
// loopback only. The machine's 2 cores are shared by Redis, the nodes and this tool, so the figures
// compare the servers under the same squeeze rather than show what a real cluster would do.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WINDOW = 32;

interface Proc {
  proc: ChildProcess;
  tcpPort: number;
  pid: number;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => res(a.port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowUs = (): number => Math.round(performance.now() * 1000);

function reap(p: ChildProcess): void {
  const kill = (): void => {
    if (p.exitCode === null) p.kill('SIGKILL');
  };
  process.once('exit', kill);
  p.once('exit', () => process.removeListener('exit', kill));
}

async function startRedis(): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  reap(proc);
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return { proc, url: `redis://127.0.0.1:${port}` };
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

async function startNode(kind: 'ours' | 'ref', redisUrl: string | undefined, refDir: string, extra: string[] = []): Promise<Proc> {
  let args: string[];
  if (kind === 'ours') {
    args = [join(ROOT, 'dist', 'server', 'main.js'), '--host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--irc-port', '0', '--no-rate-limit', '--max-connections-per-ip', '0', '--log-level', 'warn', ...extra];
    args.push(...(redisUrl ? ['--redis', redisUrl] : ['--memory']));
  } else {
    args = [join(refDir, 'refserver-ws.js'), '--host', '127.0.0.1', '--http-port', String(await freePort()), '--tcp-port', String(await freePort())];
    if (redisUrl) args.push('--redis', redisUrl);
  }
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  reap(proc);
  const tcpPort = await new Promise<number>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`node did not start: ${out}`)), 15_000);
    const look = (d: Buffer): void => {
      out += d.toString();
      const ours = /parley listening tcp=[^:]+:(\d+)/.exec(out);
      const ref = /"ready":true.*"tcp":"[^:]+:(\d+)"/.exec(out);
      const m = ours ?? ref;
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    };
    proc.stdout!.on('data', look);
    proc.stderr!.on('data', look);
    proc.once('exit', (c) => rej(new Error(`node exited ${c}: ${out}`)));
  });
  return { proc, tcpPort, pid: proc.pid! };
}

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

interface Counters {
  measuring: boolean;
  delivered: number;
  reorders: number;
  latencies: number[];
}

/** One subscriber: counts message lines, checks seq order, samples latency from the text's timestamp. */
class Sub {
  readonly sock: net.Socket;
  private buf = '';
  private lastSeq = 0;
  joined!: Promise<void>;
  onAck: (() => void) | undefined;

  constructor(port: number, readonly name: string, counters: Counters, sample: boolean) {
    this.sock = net.connect({ port, host: '127.0.0.1' });
    this.sock.setNoDelay(true);
    this.sock.setEncoding('utf8');
    let joinedResolve!: () => void;
    this.joined = new Promise((r) => (joinedResolve = r));
    this.sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      let start = 0;
      while ((nl = this.buf.indexOf('\n', start)) >= 0) {
        const line = this.buf.slice(start, nl);
        start = nl + 1;
        if (line.startsWith('{"type":"message"')) {
          const s = line.indexOf('"seq":');
          const seq = s < 0 ? 0 : parseInt(line.slice(s + 6, s + 22), 10);
          if (seq <= this.lastSeq) counters.reorders++;
          this.lastSeq = seq;
          if (counters.measuring) {
            counters.delivered++;
            if (sample) {
              const t = line.indexOf('"text":"b:');
              if (t >= 0) counters.latencies.push(nowUs() - parseInt(line.slice(t + 10, t + 30), 10));
            }
          }
        } else if (line.includes('"type":"ack"')) this.onAck?.();
        else if (line.includes('"type":"members"')) joinedResolve();
      }
      this.buf = this.buf.slice(start);
    });
    this.sock.on('error', () => undefined);
  }

  send(obj: string): void {
    this.sock.write(obj + '\n');
  }
}

interface Result {
  label: string;
  nodes: number;
  deliveredPerS: number;
  p50ms: number;
  p99ms: number;
  reorders: number;
  cpuS: number;
  error?: string;
}

async function run(label: string, kind: 'ours' | 'ref', nodes: number, clients: number, durationS: number, refDir: string): Promise<Result> {
  const redis = nodes > 1 ? await startRedis() : undefined;
  const servers: Proc[] = [];
  const subs: Sub[] = [];
  const counters: Counters = { measuring: false, delivered: 0, reorders: 0, latencies: [] };
  try {
    for (let i = 0; i < nodes; i++) servers.push(await startNode(kind, redis?.url, refDir));
    for (let i = 0; i < clients; i++) {
      const sub = new Sub(servers[i % nodes]!.tcpPort, `b${i}`, counters, i % 10 === 0);
      subs.push(sub);
      sub.send(`{"type":"hello","name":"b${i}","protocol":1}`);
      sub.send(`{"type":"join","room":"fan","history":0,"id":"j"}`);
      if (i % 100 === 99) await Promise.all(subs.slice(-100).map((s) => s.joined));
    }
    await Promise.all(subs.map((s) => s.joined));
    await sleep(1000);
    const sender = subs[0]!;
    const pad = 'x'.repeat(60);
    let n = 0;
    let running = true;
    const say = (): void => {
      n++;
      sender.send(`{"type":"say","room":"fan","id":${n},"text":"b:${nowUs()}:${pad}"}`);
    };
    sender.onAck = () => {
      if (running) say();
    };
    for (let i = 0; i < WINDOW; i++) say();
    await sleep(1000);
    const cpu0 = [...servers.map((s) => s.pid), ...(redis ? [redis.proc.pid!] : [])].reduce((a, p) => a + cpuSeconds(p), 0);
    counters.measuring = true;
    const t0 = performance.now();
    await sleep(durationS * 1000);
    counters.measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    running = false;
    const cpu1 = [...servers.map((s) => s.pid), ...(redis ? [redis.proc.pid!] : [])].reduce((a, p) => a + cpuSeconds(p), 0);
    const lat = counters.latencies.sort((a, b) => a - b);
    const q = (x: number): number => +((lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] ?? 0) / 1000).toFixed(2);
    return { label, nodes, deliveredPerS: Math.round(counters.delivered / elapsed), p50ms: q(0.5), p99ms: q(0.99), reorders: counters.reorders, cpuS: +(cpu1 - cpu0).toFixed(1) };
  } catch (e) {
    return { label, nodes, deliveredPerS: 0, p50ms: 0, p99ms: 0, reorders: 0, cpuS: 0, error: e instanceof Error ? e.message : String(e) };
  } finally {
    for (const s of subs) s.sock.destroy();
    for (const s of servers) s.proc.kill('SIGKILL');
    redis?.proc.kill('SIGKILL');
    await sleep(300);
  }
}

// ---- Further scenarios of issue 14 point 7: acked, idle, failover (each bounded, every process killed) ----

/** A line-oriented TCP client: calls onLine for every line received. */
class Conn {
  readonly sock: net.Socket;
  private buf = '';
  closed = false;
  constructor(port: number, onLine: (line: string) => void, onClose?: () => void, localAddress?: string) {
    this.sock = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    this.sock.setNoDelay(true);
    this.sock.setEncoding('utf8');
    this.sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      let start = 0;
      while ((nl = this.buf.indexOf('\n', start)) >= 0) {
        onLine(this.buf.slice(start, nl));
        start = nl + 1;
      }
      this.buf = this.buf.slice(start);
    });
    this.sock.on('error', () => undefined);
    this.sock.on('close', () => {
      this.closed = true;
      onClose?.();
    });
  }
  send(obj: string): void {
    if (!this.closed) this.sock.write(obj + '\n');
  }
}

function rssKB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const quantile = (sorted: number[], x: number): number => sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))] ?? 0;

/** Acked says/s: `senders` clients spread over the nodes, each in its own room, `window` un-acked says each. */
async function acked(nodes: number, senders: number, window: number, durationS: number): Promise<string> {
  const redis = nodes > 1 ? await startRedis() : undefined;
  const servers: Proc[] = [];
  const conns: Conn[] = [];
  const lat: number[] = [];
  let acks = 0;
  let errors = 0;
  let measuring = false;
  let running = true;
  try {
    for (let i = 0; i < nodes; i++) servers.push(await startNode('ours', redis?.url, ''));
    const ready: Promise<void>[] = [];
    for (let i = 0; i < senders; i++) {
      const sent = new Map<number, number>();
      let n = 0;
      let readyRes!: () => void;
      ready.push(new Promise((r) => (readyRes = r)));
      const pad = 'x'.repeat(80);
      const say = (): void => {
        n++;
        sent.set(n, nowUs());
        c.send(`{"type":"say","room":"ak${i}","id":${n},"text":"${pad}"}`);
      };
      const c: Conn = new Conn(servers[i % nodes]!.tcpPort, (line) => {
        if (line.startsWith('{"type":"ack"')) {
          const re = parseInt(line.slice(line.indexOf('"re":') + 5), 10);
          const t = sent.get(re);
          sent.delete(re);
          if (measuring && t !== undefined) {
            acks++;
            lat.push(nowUs() - t);
          }
          if (running) say();
        } else if (line.startsWith('{"type":"members"')) {
          readyRes();
        } else if (line.startsWith('{"type":"error"')) {
          errors++;
          if (running) say();
        }
      });
      conns.push(c);
      c.send(`{"type":"hello","name":"ak${i}","protocol":1}`);
      c.send(`{"type":"join","room":"ak${i}","history":0}`);
      (c as unknown as { start: () => void }).start = () => {
        for (let k = 0; k < window; k++) say();
      };
    }
    await Promise.all(ready);
    for (const c of conns) (c as unknown as { start: () => void }).start();
    await sleep(1000);
    const pids = [...servers.map((s) => s.pid), ...(redis ? [redis.proc.pid!] : [])];
    const cpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const load = loadavg()[0]!.toFixed(1);
    measuring = true;
    const t0 = performance.now();
    await sleep(durationS * 1000);
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    running = false;
    const cpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - cpu0;
    lat.sort((a, b) => a - b);
    return `| ${nodes === 1 ? '1 node (--memory)' : `${nodes} nodes + Redis`} | ${senders} | ${window} | ${Math.round(acks / elapsed)} | ${(quantile(lat, 0.5) / 1000).toFixed(1)} | ${(quantile(lat, 0.99) / 1000).toFixed(1)} | ${errors} | ${cpu.toFixed(1)} | ${load} |`;
  } finally {
    running = false;
    for (const c of conns) c.sock.destroy();
    for (const s of servers) s.proc.kill('SIGKILL');
    redis?.proc.kill('SIGKILL');
    await sleep(300);
  }
}

/** Child of the idle scenario: opens `count` connections spread over `ports` at `rate`/s from `local`, says hello, holds them. */
async function idleChild(argv: string[]): Promise<void> {
  const get = (f: string): string => argv[argv.indexOf(f) + 1]!;
  const ports = get('--ports').split(',').map(Number);
  const count = Number(get('--count'));
  const rate = Number(get('--rate'));
  const local = get('--local');
  const tag = get('--tag');
  const holdMs = Number(get('--hold-ms'));
  let welcomed = 0;
  let closed = 0;
  let errors = 0;
  const conns: Conn[] = [];
  const t0 = performance.now();
  let openedMs = 0;
  const report = (what: string): void => {
    process.stdout.write(JSON.stringify({ what, welcomed, closed, errors, open: conns.length - closed, ms: Math.round(performance.now() - t0), openedMs }) + '\n');
  };
  const batch = Math.max(1, Math.round(rate / 20));
  for (let i = 0; i < count; i += batch) {
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const c: Conn = new Conn(
        ports[j % ports.length]!,
        (line) => {
          if (line.startsWith('{"type":"welcome"')) welcomed++;
          else if (line.startsWith('{"type":"ping"')) c.send('{"type":"pong"}');
          else if (line.startsWith('{"type":"error"')) errors++;
        },
        () => closed++,
        local,
      );
      c.send(`{"type":"hello","name":"${tag}_${j}","protocol":1}`);
      conns.push(c);
    }
    await sleep(50);
  }
  openedMs = Math.round(performance.now() - t0);
  const deadline = performance.now() + 60_000;
  while (welcomed + closed < count && performance.now() < deadline) await sleep(100);
  report('connected');
  await sleep(holdMs);
  report('held');
  for (const c of conns) c.sock.destroy();
}

/** Idle capacity: `total` connections over `nodes` nodes, from `children` load processes. */
async function idle(nodes: number, total: number, children: number, rate: number, holdS: number): Promise<string[]> {
  const redis = await startRedis();
  const servers: Proc[] = [];
  const kids: ChildProcess[] = [];
  try {
    for (let i = 0; i < nodes; i++) servers.push(await startNode('ours', redis.url, '', ['--max-connections', '0']));
    await sleep(1000);
    const rss0 = servers.map((s) => rssKB(s.pid));
    const redis0 = rssKB(redis.proc.pid!);
    const load = loadavg()[0]!.toFixed(1);
    const per = Math.ceil(total / children);
    const connected: Promise<{ welcomed: number; closed: number; errors: number; ms: number; openedMs: number }>[] = [];
    const held: Promise<{ open: number; closed: number }>[] = [];
    for (let k = 0; k < children; k++) {
      const kid = spawn(
        process.execPath,
        [fileURLToPath(import.meta.url), '--scenario', 'idle-child', '--ports', servers.map((s) => s.tcpPort).join(','), '--count', String(Math.min(per, total - k * per)), '--rate', String(Math.round(rate / children)), '--local', `127.0.0.${k + 2}`, '--tag', `i${k}`, '--hold-ms', String(holdS * 1000 + 3000)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      reap(kid);
      kids.push(kid);
      let out = '';
      let res1!: (v: { welcomed: number; closed: number; errors: number; ms: number; openedMs: number }) => void;
      let res2!: (v: { open: number; closed: number }) => void;
      connected.push(new Promise((r) => (res1 = r)));
      held.push(new Promise((r) => (res2 = r)));
      kid.stdout!.setEncoding('utf8');
      kid.stdout!.on('data', (d: string) => {
        out += d;
        for (const l of out.split('\n').slice(0, -1)) {
          const m = JSON.parse(l) as { what: string; welcomed: number; closed: number; errors: number; open: number; ms: number; openedMs: number };
          if (m.what === 'connected') res1(m);
          else res2(m);
        }
        out = out.slice(out.lastIndexOf('\n') + 1);
      });
      kid.once('exit', () => {
        res1({ welcomed: 0, closed: 0, errors: 0, ms: -1, openedMs: -1 });
        res2({ open: 0, closed: 0 });
      });
    }
    const c = await Promise.all(connected);
    const welcomed = c.reduce((a, x) => a + x.welcomed, 0);
    const connectMs = Math.max(...c.map((x) => x.ms));
    await sleep(holdS * 1000);
    const rss1 = servers.map((s) => rssKB(s.pid));
    const redis1 = rssKB(redis.proc.pid!);
    const h = await Promise.all(held);
    const open = h.reduce((a, x) => a + x.open, 0);
    const perNode = Math.round(welcomed / nodes);
    const lines = [
      `idle: ${total} asked, ${welcomed} welcomed in ${(connectMs / 1000).toFixed(1)} s (all opened after ${(Math.max(...c.map((x) => x.openedMs)) / 1000).toFixed(1)} s; paced at ${rate}/s over ${children} load processes), ${open} still open after ${holdS} s more, errors ${c.reduce((a, x) => a + x.errors, 0)}, closed ${c.reduce((a, x) => a + x.closed, 0)}; load ${load}`,
      '',
      '| node | RSS before MB | RSS holding MB | KB per connection (~' + perNode + ' each) |',
      '| --- | --- | --- | --- |',
      ...servers.map((s, i) => `| ${i + 1} | ${(rss0[i]! / 1024).toFixed(0)} | ${(rss1[i]! / 1024).toFixed(0)} | ${((rss1[i]! - rss0[i]!) / perNode).toFixed(1)} |`),
      `| redis-server | ${(redis0 / 1024).toFixed(0)} | ${(redis1 / 1024).toFixed(0)} | ${((redis1 - redis0) / welcomed).toFixed(2)} (per connection of the cluster) |`,
    ];
    return lines;
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
    for (const s of servers) s.proc.kill('SIGKILL');
    redis.proc.kill('SIGKILL');
    await sleep(500);
  }
}

/**
 * Failover: `clients` receivers on node A of 3 in one room; a sender on node B says at `rate`/s (acked);
 * node A is killed with SIGKILL; each receiver reconnects to B or C (a fresh guest name: the dead node's
 * names are freed only after --node-timeout-ms) and joins with `since` its last seq. Measured: time from
 * the kill until every receiver has its join reply (`members`) and until its resumed history arrived; then,
 * after the sender stops, every receiver must hold every acked seq since its first one exactly once.
 */
async function failover(clients: number, rate: number): Promise<string[]> {
  const redis = await startRedis();
  const servers: Proc[] = [];
  const conns: Conn[] = [];
  try {
    for (let i = 0; i < 3; i++) servers.push(await startNode('ours', redis.url, ''));
    const acked: number[] = [];
    let sendErrors = 0;
    let n = 0;
    const sender = new Conn(servers[1]!.tcpPort, (line) => {
      if (line.startsWith('{"type":"ack"')) {
        const s = line.indexOf('"seq":');
        acked.push(parseInt(line.slice(s + 6), 10));
      } else if (line.startsWith('{"type":"error"')) sendErrors++;
    });
    conns.push(sender);
    sender.send('{"type":"hello","name":"fo_sender","protocol":1}');
    sender.send('{"type":"join","room":"fo","history":0}');
    interface R {
      seen: Map<number, number>;
      src: Map<number, string>;
      raw: Map<number, string[]>;
      node: string;
      first: number;
      last: number;
      joinedAt: number;
      historyAt: number;
      welcomeAt: number;
      conn?: Conn;
    }
    const rs: R[] = [];
    let killAt = 0;
    let ready = 0;
    const attach = (r: R, i: number, port: number, name: string, since?: number): void => {
      let gotMembers = false;
      const c = new Conn(
        port,
        (line) => {
          if (line.startsWith('{"type":"message"')) {
            const s = line.indexOf('"seq":');
            const seq = parseInt(line.slice(s + 6), 10);
            r.seen.set(seq, (r.seen.get(seq) ?? 0) + 1);
            r.src.set(seq, (r.src.get(seq) ?? '') + (since === undefined ? 'L' : 'N'));
            if (since !== undefined) r.raw.set(seq, [...(r.raw.get(seq) ?? []), `+${Math.round(performance.now() - killAt)}ms ${line}`]);
            if (!r.first) r.first = seq;
            if (seq > r.last) r.last = seq;
          } else if (line.startsWith('{"type":"welcome"')) {
            if (since !== undefined) r.welcomeAt = performance.now() - killAt;
          } else if (line.startsWith('{"type":"members"')) {
            gotMembers = true;
            if (since === undefined) ready++;
            else r.joinedAt = performance.now() - killAt;
          } else if (line.startsWith('{"type":"history"') && gotMembers) {
            const h = JSON.parse(line) as { messages: { seq: number }[]; more?: boolean };
            for (const m of h.messages) {
              r.seen.set(m.seq, (r.seen.get(m.seq) ?? 0) + 1);
              r.src.set(m.seq, (r.src.get(m.seq) ?? '') + 'H');
              if (m.seq > r.last) r.last = m.seq;
            }
            if (since !== undefined && !h.more) r.historyAt = performance.now() - killAt;
          }
        },
        () => {
          if (since === undefined && killAt) {
            // the node died: resume on another one
            r.node = i % 2 === 0 ? 'B' : 'C';
            attach(r, i, servers[1 + (i % 2)]!.tcpPort, name + 'r', r.last);
          }
        },
      );
      r.conn = c;
      conns.push(c);
      c.send(`{"type":"hello","name":"${name}","protocol":1}`);
      c.send(since === undefined ? '{"type":"join","room":"fo","history":0}' : `{"type":"join","room":"fo","since":${since}}`);
    };
    for (let i = 0; i < clients; i++) {
      const r: R = { seen: new Map(), src: new Map(), raw: new Map(), node: 'A', first: 0, last: 0, joinedAt: -1, historyAt: -1, welcomeAt: -1 };
      rs.push(r);
      attach(r, i, servers[0]!.tcpPort, `fo${i}`);
      if (i % 100 === 99) await sleep(50);
    }
    const t0 = performance.now();
    while (ready < clients && performance.now() - t0 < 15_000) await sleep(50);
    if (ready < clients) throw new Error(`only ${ready}/${clients} receivers joined`);
    let saying = true;
    const pad = 'y'.repeat(60);
    const tick = setInterval(() => {
      for (let k = 0; k < rate / 50 && saying; k++) {
        n++;
        sender.send(`{"type":"say","room":"fo","id":${n},"mid":"m${n}","text":"${pad}"}`);
      }
    }, 20);
    await sleep(2000);
    const load = loadavg()[0]!.toFixed(1);
    killAt = performance.now();
    servers[0]!.proc.kill('SIGKILL');
    const deadline = performance.now() + 30_000;
    while (rs.some((r) => r.historyAt < 0) && performance.now() < deadline) await sleep(20);
    await sleep(2000);
    saying = false;
    clearInterval(tick);
    await sleep(1500);
    const resumed = rs.filter((r) => r.joinedAt >= 0);
    const joins = resumed.map((r) => r.joinedAt).sort((a, b) => a - b);
    const wel = rs.filter((r) => r.welcomeAt >= 0).map((r) => r.welcomeAt).sort((a, b) => a - b);
    const hist = rs.filter((r) => r.historyAt >= 0).map((r) => r.historyAt).sort((a, b) => a - b);
    let missing = 0;
    let doubled = 0;
    const doubledOn: Record<string, number> = { B: 0, C: 0 };
    const ackedSorted = [...acked].sort((a, b) => a - b);
    for (const r of rs) {
      for (const s of ackedSorted) if (s >= r.first && !r.seen.has(s)) missing++;
      for (const [k, v] of r.seen) if (v > 1) {
        if (doubled < 3) process.stderr.write(`doubled seq ${k} seen as ${r.src.get(k)} (L live before the kill, H resumed history, N live after) on node ${r.node}; joined at +${Math.round(r.joinedAt)}ms: ${(r.raw.get(k) ?? []).join(' | ')}\n`);
        doubled += v - 1;
        doubledOn[r.node] = (doubledOn[r.node] ?? 0) + v - 1;
      }
    }
    return [
      `failover: ${clients} receivers on node A of 3 (room "fo"), a sender on node B saying ${rate}/s acked; node A SIGKILLed after 2 s; load ${load}`,
      '',
      '| resumed (members reply) | time to welcome ms (p50 / max) | time to last members reply ms (p50 / max) | time to last resumed history ms (p50 / max) | says acked | missing (acked, not received) | doubled | sender errors |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      `| ${resumed.length}/${clients} | ${quantile(wel, 0.5).toFixed(0)} / ${(wel[wel.length - 1] ?? -1).toFixed(0)} | ${quantile(joins, 0.5).toFixed(0)} / ${(joins[joins.length - 1] ?? -1).toFixed(0)} | ${quantile(hist, 0.5).toFixed(0)} / ${(hist[hist.length - 1] ?? -1).toFixed(0)} | ${acked.length} | ${missing} | ${doubled} (on B ${doubledOn['B']}, on C ${doubledOn['C']}) | ${sendErrors} |`,
    ];
  } finally {
    for (const c of conns) c.sock.destroy();
    for (const s of servers) s.proc.kill('SIGKILL');
    redis.proc.kill('SIGKILL');
    await sleep(300);
  }
}

async function runScenario(scenario: string, argv: string[]): Promise<void> {
  const arg = (flag: string, def: number): number => {
    const i = argv.indexOf(flag);
    return i >= 0 ? Number(argv[i + 1]) : def;
  };
  let lines: string[];
  if (scenario === 'acked') {
    const senders = arg('--senders', 100);
    const window = arg('--window', 4);
    const durationS = arg('--duration', 5);
    const nodes = arg('--nodes', 3);
    lines = [
      `acked says, ${senders} senders each in its own room, spread over the nodes, window ${window} un-acked each, 100 B, TCP, ${durationS} s after 1 s of load`,
      '',
      '| setup | senders | window | acked says/s | say->ack p50 ms | p99 ms | errors | CPU s (nodes + Redis) | load |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      await acked(1, senders, window, durationS),
      await acked(nodes, senders, window, durationS),
    ];
  } else if (scenario === 'idle') {
    lines = await idle(arg('--nodes', 3), arg('--connections', 50_000), arg('--children', 4), arg('--rate', 2000), arg('--hold', 5));
  } else if (scenario === 'failover') {
    lines = await failover(arg('--clients', 300), arg('--rate', 200));
  } else throw new Error(`unknown scenario ${scenario} (fanout, acked, idle, failover)`);
  process.stdout.write(lines.join('\n') + '\n');
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `cluster-${scenario}.md`), lines.join('\n') + '\n');
}

async function main(argv: string[]): Promise<void> {
  const si = argv.indexOf('--scenario');
  const scenario = si >= 0 ? argv[si + 1]! : 'fanout';
  if (scenario === 'idle-child') return idleChild(argv);
  if (scenario !== 'fanout') {
    try {
      execFileSync('redis-server', ['--version'], { stdio: 'pipe' });
    } catch {
      process.stderr.write('bench/cluster: skipped: redis-server is not installed (apt-get install redis-server)\n');
      return;
    }
    return runScenario(scenario, argv);
  }
  const arg = (flag: string, def: number): number => {
    const i = argv.indexOf(flag);
    return i >= 0 ? Number(argv[i + 1]) : def;
  };
  const clients = arg('--clients', 600);
  const nodes = arg('--nodes', 3);
  const durationS = arg('--duration', 5);
  const refDir = process.env['BENCH_REF_DIR'] ?? '/tmp/bench-ref';
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' });
  } catch {
    process.stderr.write('bench/cluster: skipped: redis-server is not installed (apt-get install redis-server)\n');
    return;
  }
  let haveRef = true;
  try {
    readFileSync(join(refDir, 'node_modules', 'ioredis', 'package.json'));
  } catch {
    haveRef = false;
    process.stderr.write(`bench/cluster: no reference with ioredis in ${refDir} (make bench installs it); Parley alone\n`);
  }
  const plan: [string, 'ours' | 'ref', number][] = [
    ['parley, 1 node', 'ours', 1],
    [`parley, ${nodes} nodes + Redis`, 'ours', nodes],
    ...(haveRef
      ? ([
          ['ws ref, 1 node', 'ref', 1],
          [`ws+ioredis ref, ${nodes} nodes + Redis`, 'ref', nodes],
        ] as [string, 'ours' | 'ref', number][])
      : []),
  ];
  const results: Result[] = [];
  for (const [label, kind, n] of plan) {
    const load = loadavg()[0]!.toFixed(1);
    const r = await run(label, kind, n, clients, durationS, refDir);
    results.push(r);
    process.stderr.write(`${label}: ${r.error ?? `${r.deliveredPerS} deliveries/s, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms, reorders ${r.reorders}, server+redis CPU ${r.cpuS} s`} (load ${load})\n`);
  }
  const lines = [
    `TCP fan-out, 1 room, ${clients} subscribers spread over the nodes, 1 sender flat out (window ${WINDOW}), 100 B, ${durationS} s; load average ${loadavg()[0]!.toFixed(1)}`,
    '',
    '| setup | deliveries/s | p50 ms | p99 ms | out of order | CPU s (nodes + Redis) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.label} | ${r.error ? `failed: ${r.error}` : r.deliveredPerS} | ${r.p50ms} | ${r.p99ms} | ${r.reorders} | ${r.cpuS} |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cluster.md'), lines.join('\n') + '\n');
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench/cluster: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
