// Store benchmark: acknowledged messages per second through the real server with --fsync batch and
// --fsync always, and the time from process start to the listening line with 1,000,000 stored
// messages. Prints one JSON line. Usage: node dist/bench/store.js [--messages N] [--seconds S]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStore, logBytes } from '../server/store/file-store.js';
import { roomConv } from '../server/store/store.js';

const SERVER_JS = join(dirname(fileURLToPath(import.meta.url)), '..', 'server', 'main.js');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  return Number.isFinite(v) && v > 0 ? v : def;
}

interface Server {
  proc: ChildProcess;
  tcpPort: number;
  startMs: number;
}

function startServer(args: string[]): Promise<Server> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [SERVER_JS, '--host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--log-level', 'warn', ...args], {
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
    const server = await startServer(['--data-dir', dir, '--fsync', fsync]);
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

/** Writes `total` messages over `rooms` rooms with FileStore itself (fsync off: it is only setup). */
async function generate(dir: string, total: number, rooms: number): Promise<number> {
  const store = new FileStore({ dir, fsync: 'off', historyPerRoom: 10_000, log: () => {} });
  await store.open();
  const ts = new Date().toISOString();
  for (let i = 0; i < total; ) {
    // Yield every slice so the writer can drain and memory stays bounded.
    const end = Math.min(total, i + 20_000);
    for (; i < end; i++) {
      const r = i % rooms;
      const room = `room${r}`;
      store.append(roomConv(room), { room, from: `user${i % 97}`, text: `benchmark message number ${i} with some ordinary text` }, undefined, () => {});
    }
    await new Promise((r) => setImmediate(r));
  }
  for (let u = 0; u < 97; u++) store.rememberUser(`user${u}`, ts);
  await store.close();
  return logBytes(dir);
}

async function startup(total: number): Promise<{ messages: number; logMB: number; generateMs: number; startMs: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-startup-'));
  try {
    const rooms = Math.max(1, Math.ceil(total / 10_000));
    const g0 = performance.now();
    const bytes = await generate(dir, total, rooms);
    const generateMs = Math.round(performance.now() - g0);
    const startMs: number[] = [];
    for (let i = 0; i < 2; i++) {
      const server = await startServer(['--data-dir', dir]);
      startMs.push(Math.round(server.startMs));
      await stop(server);
    }
    return { messages: total, logMB: Number((bytes / 1e6).toFixed(1)), generateMs, startMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const messages = arg('messages', 50_000);
  const seconds = arg('seconds', 10);
  const clients = arg('clients', 8);
  const stored = arg('stored', 1_000_000);
  const batch = await throughput('batch', clients, messages, seconds);
  const always = await throughput('always', clients, Math.min(messages, 20_000), seconds);
  const baseline = await startServer(['--memory']);
  await stop(baseline);
  const start = await startup(stored);
  process.stdout.write(
    JSON.stringify({ bench: 'store', clients, fsyncBatch: batch, fsyncAlways: always, emptyStartMs: Math.round(baseline.startMs), startup: start }) + '\n',
  );
}

main().catch((err: Error) => {
  process.stderr.write(`bench/store: ${err.message}\n`);
  process.exitCode = 1;
});
