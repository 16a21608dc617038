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

async function startNode(kind: 'ours' | 'ref', redisUrl: string | undefined, refDir: string): Promise<Proc> {
  let args: string[];
  if (kind === 'ours') {
    args = [join(ROOT, 'dist', 'server', 'main.js'), '--host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--irc-port', '0', '--no-rate-limit', '--log-level', 'warn'];
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

async function main(argv: string[]): Promise<void> {
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
