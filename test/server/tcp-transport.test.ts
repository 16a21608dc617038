// The TCP transport in-process over real loopback sockets, with a small fake session instead of the
// hub: typed requests and rejections in, events out; pause and resume; the send-buffer bound counted
// with this turn's bytes and re-checked by the sweep; drain; liveness (ping, idle_timeout, close).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ServerEvent } from '../../protocol/messages.js';
import { createLogger } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import { Outgoing } from '../../server/outgoing.js';
import { createTcpTransport, type TcpOptions } from '../../server/tcp.js';
import { livenessSweep } from '../../server/ws/liveness.js';
import { FakeSession } from '../helpers/fake-session.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { skipUnless } from '../helpers/require.js';
import { connectTcp, type TcpClient } from '../helpers/tcp-client.js';

/** Waits poll for state; generous because the test machine is shared and often loaded. */
const WAIT = { timeout: 5000, interval: 10 };

interface Harness {
  server: Server;
  port: number;
  metrics: Metrics;
  logs: string[];
  /** Resolves with the session and server-side socket of the next connection. */
  next(): Promise<{ session: FakeSession; socket: Socket }>;
}

const servers: Server[] = [];
const clients: { destroy(): void }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function harness(over: Partial<TcpOptions> = {}, host = '127.0.0.1'): Promise<Harness> {
  const metrics = new Metrics();
  const logs: string[] = [];
  const sessions: FakeSession[] = [];
  const sockets: Socket[] = [];
  const server = createTcpTransport((peer) => {
    const s = new FakeSession(peer);
    sessions.push(s);
    return s;
  }, {
    maxMessageBytes: 100,
    maxBufferedBytes: 1024 * 1024,
    pingIntervalMs: 60_000,
    idleTimeoutMs: 120_000,
    log: createLogger('debug', (line) => logs.push(line)),
    metrics,
    ...over,
  });
  server.on('connection', (s: Socket) => sockets.push(s));
  server.listen(0, host);
  await once(server, 'listening');
  servers.push(server);
  let taken = 0;
  return {
    server,
    port: (server.address() as AddressInfo).port,
    metrics,
    logs,
    async next() {
      const i = taken++;
      await vi.waitFor(() => expect(sessions.length).toBeGreaterThan(i), { timeout: 10_000 });
      return { session: sessions[i]!, socket: sockets[i]! };
    },
  };
}

async function client(h: Harness): Promise<TcpClient> {
  const c = await connectTcp(h.port);
  clients.push({ destroy: () => c.socket.destroy() });
  return c;
}

const out = (event: ServerEvent): Outgoing => new Outgoing(event);
const big = (n: number): Outgoing => out({ type: 'error', code: 'bad_text', message: 'x'.repeat(n) });
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('tcp transport: values at the edge', () => {
  it('hands the session Request values, and bad JSON, failed validation, bad UTF-8 and long lines as rejections', async () => {
    const h = await harness();
    const c = await client(h);
    const { session } = await h.next();
    c.sendRaw('{"type":"hello","name":"amy","junk":1}\r\n');
    c.sendRaw('{"type":"join","id":5}\n');
    c.sendRaw('not json\n');
    c.sendRaw(Buffer.from([0x7b, 0xff, 0x7d, 0x0a]));
    c.sendRaw(`${'y'.repeat(150)}\n`);
    c.sendRaw('{"type":"pong"}\n');
    await vi.waitFor(() => expect(session.received.length).toBe(2), WAIT);
    expect(session.received).toEqual([{ type: 'hello', name: 'amy' }, { type: 'pong' }]);
    expect(session.rejected).toEqual([
      { code: 'bad_request', message: 'join needs the field "room"', re: 5, fatal: undefined },
      { code: 'bad_json', message: 'not valid JSON' },
      { code: 'bad_utf8', message: 'the line is not valid UTF-8' },
      { code: 'too_large', message: 'line longer than 100 bytes; discarded up to its newline' },
    ]);
    session.peer.send(out({ type: 'pong', re: 1 }));
    expect(await c.next((e) => e.type === 'pong')).toEqual({ type: 'pong', re: 1 });
    expect(session.peer.transport).toBe('tcp');
    expect(session.peer.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    c.close();
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
    expect(h.metrics.connections.tcp).toBe(0);
    expect(h.metrics.connectionsTotal.tcp).toBe(1);
  });
});

describe('tcp transport: pause and resume', () => {
  it('pause stops at once mid-chunk and stops reading the socket; resume continues on a later turn, nothing lost or reordered', async () => {
    const h = await harness();
    const c = await client(h);
    const { session, socket } = await h.next();
    session.onReceive = (req) => {
      if (req.type === 'time' && req.id === 1) session.peer.pause();
    };
    // One write, so the three lines share a chunk.
    c.sendRaw('{"type":"time","id":1}\n{"type":"time","id":2}\n{"type":"time","id":3}\n');
    await vi.waitFor(() => expect(session.received.length).toBe(1), WAIT);
    expect(socket.isPaused()).toBe(true);
    c.sendRaw('{"type":"time","id":4}\n');
    session.peer.resume();
    // Never synchronously.
    expect(session.received.length).toBe(1);
    await vi.waitFor(() => expect(session.received.map((r) => r.id)).toEqual([1, 2, 3, 4]), WAIT);
    expect(socket.isPaused()).toBe(false);
  });

  it('a client sending faster than it is served waits in its own buffers, not in our memory', async () => {
    const h = await harness({ maxMessageBytes: 2000 });
    const c = await client(h);
    const { session } = await h.next();
    session.onReceive = (req) => {
      if (req.id === 0) session.peer.pause();
    };
    const line = `{"type":"time","pad":"${'p'.repeat(1000)}","id":ID}\n`;
    const N = 16_000;
    const all = Array.from({ length: N }, (_, i) => line.replace('ID', String(i))).join('');
    c.sendRaw(all);
    // Wait until the kernel's buffers are full: the client's own queue has not moved for 300 ms.
    const seen: number[] = [];
    await vi.waitFor(
      () => {
        seen.push(c.socket.writableLength);
        const last = seen.slice(-4);
        expect(last.length === 4 && last.every((n) => n === last[0] && n > 0)).toBe(true);
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(session.received.length).toBe(1);
    // The server read at most a chunk or so of the 16 MB: the rest waits in kernel and client buffers.
    expect(h.metrics.bytesIn.tcp).toBeLessThan(1024 * 1024);
    session.peer.resume();
    await vi.waitFor(() => expect(session.received.length).toBe(N), { timeout: 20_000 });
    expect(session.received.every((r, i) => r.id === i)).toBe(true);
  });

  it('close while paused drops the rest, reads again to see the FIN, and disconnects once', async () => {
    const h = await harness();
    const c = await client(h);
    const { session } = await h.next();
    session.onReceive = (req) => {
      if (req.id === 1) session.peer.pause();
      if (req.id === 2) session.peer.close('bye');
    };
    c.sendRaw('{"type":"time","id":1}\n{"type":"time","id":2}\n{"type":"time","id":3}\n');
    await vi.waitFor(() => expect(session.received.length).toBe(1), WAIT);
    session.peer.resume();
    await c.closed();
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
    // Closing stopped delivery at once: the third request, in the same chunk, was not handed on.
    expect(session.received.map((r) => r.id)).toEqual([1, 2]);
  });
});

describe('tcp transport: send buffer', () => {
  it("bufferedBytes counts this turn's bytes; an event that would pass the bound cuts the connection though nothing follows", async () => {
    const h = await harness({ maxBufferedBytes: 64 * 1024 });
    const c = await client(h);
    const { session } = await h.next();
    c.socket.pause();
    const e = big(16 * 1024);
    session.peer.send(e);
    const line = e.encode((o) => Buffer.from(JSON.stringify(o.event) + '\n'));
    expect(session.peer.bufferedBytes).toBe(line.length);
    // The same turn, 80 KiB for a 64 KiB bound, and nothing more afterwards.
    for (let i = 0; i < 4; i++) session.peer.send(e);
    expect(h.metrics.render()).toMatch(/parley_errors_total\{code="slow_consumer"\} 1/);
    expect(h.logs.some((l) => / warn slow consumer tcp 127\.0\.0\.1:\d+: /.test(l))).toBe(true);
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
    c.socket.resume();
    await c.closed();
  });

  it('the liveness sweep re-checks the bound: bytes that reached the socket around send() are found with nothing more sent', async () => {
    // Intervals long enough that the sweep never runs (or pings) by itself: the test runs it.
    const h = await harness({ maxBufferedBytes: 64 * 1024, pingIntervalMs: 51_000, idleTimeoutMs: 101_000 });
    const c = await client(h);
    const { session, socket } = await h.next();
    c.socket.pause();
    const chunk = Buffer.alloc(60_000, 0x20);
    for (let i = 0; i < 2000 && socket.writableLength <= 64 * 1024; i++) {
      socket.write(chunk);
      if (i % 16 === 15) await nextTurn();
    }
    await nextTurn();
    expect(socket.writableLength).toBeGreaterThan(64 * 1024);
    expect(session.disconnectedCount).toBe(0);
    livenessSweep(51_000, 101_000).run();
    expect(h.metrics.render()).toMatch(/parley_errors_total\{code="slow_consumer"\} 1/);
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
  });

  it("drained follows a turn that reached the socket's high-water mark, once everything has left", async () => {
    const h = await harness();
    const c = await client(h);
    const { session } = await h.next();
    session.peer.send(out({ type: 'pong' }));
    await c.next((e) => e.type === 'pong');
    await nextTurn();
    expect(session.drainedCount).toBe(0);
    session.peer.send(big(10_000));
    session.peer.send(big(10_000));
    await vi.waitFor(() => expect(session.drainedCount).toBe(1), WAIT);
    expect(session.peer.bufferedBytes).toBe(0);
  });
});

describe('tcp transport: liveness', () => {
  it('a silent connection gets one ping event, then idle_timeout (fatal); the session closes it', async () => {
    const h = await harness({ pingIntervalMs: 60, idleTimeoutMs: 400 });
    const t0 = Date.now();
    const c = await client(h);
    const { session } = await h.next();
    expect(await c.next((e) => e.type === 'ping', 3000)).toEqual({ type: 'ping' });
    await c.closed(3000);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(390);
    expect(c.events.filter((e) => e.type === 'ping')).toHaveLength(1);
    expect(session.rejected).toHaveLength(1);
    expect(session.rejected[0]).toMatchObject({ code: 'idle_timeout', re: undefined, fatal: true });
    expect(session.rejected[0]!.message).toMatch(/^silent for \d+ ms$/);
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
  });

  it('a client that answers pings with pong requests outlives the idle timeout', async () => {
    const h = await harness({ pingIntervalMs: 50, idleTimeoutMs: 250 });
    const c = await client(h);
    const { session } = await h.next();
    let answered = 0;
    const answer = setInterval(() => {
      const pings = c.events.filter((e) => e.type === 'ping').length;
      for (; answered < pings; answered++) c.send({ type: 'pong' });
    }, 10);
    try {
      await vi.waitFor(() => expect(answered).toBeGreaterThanOrEqual(4), { timeout: 5000, interval: 20 });
    } finally {
      clearInterval(answer);
    }
    expect(session.rejected).toEqual([]);
    expect(session.received.filter((r) => r.type === 'pong').length).toBeGreaterThanOrEqual(3);
    expect(c.socket.destroyed).toBe(false);
  });

  it('a session that does not close on idle_timeout has the connection closed after the grace', async () => {
    const h = await harness({ pingIntervalMs: 40, idleTimeoutMs: 200, closeGraceMs: 100 });
    const c = await client(h);
    const { session } = await h.next();
    session.closeOnFatal = false;
    await vi.waitFor(() => expect(session.rejected.map((r) => r.code)).toEqual(['idle_timeout']), { timeout: 3000 });
    await c.closed(3000);
    // From the rejection itself: a poll that noticed it late would shorten the measured grace.
    expect(performance.now() - session.lastRejectAt).toBeGreaterThanOrEqual(50);
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
  });

  it('the connections of one setting share one sweep and its one timer', async () => {
    const h = await harness({ pingIntervalMs: 777, idleTimeoutMs: 7777 });
    const sweep = livenessSweep(777, 7777);
    const before = sweep.size;
    const a = await client(h);
    const b = await client(h);
    await h.next();
    await h.next();
    expect(sweep.size).toBe(before + 2);
    expect(sweep.running).toBe(true);
    a.close();
    b.close();
    await vi.waitFor(() => expect(sweep.size).toBe(before), WAIT);
  });
});

const skipHalfOpen = skipUnless(netnsUnavailable(), 'the half-open TCP connection test (network namespaces)');

describe.skipIf(skipHalfOpen)('tcp transport: a peer that vanished without a FIN', () => {
  it('is noticed and closed within the idle timeout, as a WebSocket would be', async () => {
    // A client in its own network namespace, linked to this one by a veth pair: once its end of the
    // link is down, nothing it does reaches us, not even the FIN or RST of its death.
    const tag = (process.pid % 10000).toString(36);
    const ns = `parley-ho-${tag}`;
    const [here, there] = [`pho${tag}a`, `pho${tag}b`];
    const net = `10.251.${process.pid % 250}`;
    const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const cleanup = (): void => {
      for (const args of [['link', 'del', here], ['netns', 'del', ns]]) {
        try {
          ip(...args);
        } catch {
          // already gone
        }
      }
    };
    cleanup();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      ip('netns', 'add', ns);
      ip('link', 'add', here, 'type', 'veth', 'peer', 'name', there);
      ip('link', 'set', there, 'netns', ns);
      ip('addr', 'add', `${net}.1/24`, 'dev', here);
      ip('link', 'set', here, 'up');
      ip('-n', ns, 'addr', 'add', `${net}.2/24`, 'dev', there);
      ip('-n', ns, 'link', 'set', there, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      const h = await harness({ pingIntervalMs: 100, idleTimeoutMs: 600, closeGraceMs: 300 }, `${net}.1`);
      const script = `const s = require('net').connect(${h.port}, '${net}.1', () => { s.write('{"type":"hello","name":"ghost"}\\n'); process.stdout.write('up\\n'); }); s.on('error', () => {}); setInterval(() => {}, 1000);`;
      child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const { session } = await h.next();
      await vi.waitFor(() => expect(session.received).toEqual([{ type: 'hello', name: 'ghost' }]), { timeout: 10_000 });
      // The peer vanishes: its link goes down, then it dies; we never hear of either.
      ip('-n', ns, 'link', 'set', there, 'down');
      child.kill('SIGKILL');
      const t0 = Date.now();
      await vi.waitFor(() => expect(session.rejected.map((r) => r.code)).toEqual(['idle_timeout']), { timeout: 5000 });
      await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), { timeout: 5000 });
      // Within the idle timeout (plus a sweep period and the close grace), not TCP's minutes.
      expect(Date.now() - t0).toBeLessThan(600 + 150 + 300 + 1000);
      expect(h.metrics.connections.tcp).toBe(0);
    } finally {
      child?.kill('SIGKILL');
      cleanup();
    }
  });
});
