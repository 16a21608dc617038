// WsConnection in-process, over real loopback sockets, with short timeouts so each rule (control frames,
// closing handshake in both directions, close timeout, liveness, slow consumer, deflate) is quick to see.
import { createServer, type Server } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLOSE_TIMEOUT_MS, IDLE_CLOSE_CODE, WsConnection, type WsConnectionOptions } from '../../server/ws/connection.js';
import { DEFLATE_THRESHOLD } from '../../server/ws/deflate.js';
import { validateUpgrade } from '../../server/ws/handshake.js';
import { livenessSweep } from '../../server/ws/liveness.js';
import { clientFrame, connectWs, OP, type WsClient } from '../helpers/ws-client.js';

/** Waits poll for state; generous because the test machine is shared and often loaded. */
const WAIT = { timeout: 5000, interval: 10 };

interface Harness {
  port: number;
  conns: WsConnection[];
  /** The server side of each connection, in the same order. */
  sockets: Socket[];
  /** Text of every message received, in order, on any connection. */
  received: string[];
  closed: { code: number; reason: string }[];
  slow: number;
  drained: number;
  /** Called for every message before it is echoed (to pause from inside the handler). */
  onMessage: (conn: WsConnection, text: string) => void;
  /** Resolves with the next connection the server accepts. */
  accepted(): Promise<WsConnection>;
  server: Server;
}

const servers: Server[] = [];
const clients: WsClient[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) {
    s.close();
    s.closeAllConnections();
  }
});

/** A server whose connections refuse binary with 1003 unless `echo`, in which case they echo. */
async function harness(over: Partial<WsConnectionOptions> = {}, echo = false): Promise<Harness> {
  const h: Harness = { port: 0, conns: [], sockets: [], received: [], closed: [], slow: 0, drained: 0, onMessage: () => {}, accepted: () => Promise.reject(new Error('unset')), server: undefined as unknown as Server };
  let waiting: ((c: WsConnection) => void)[] = [];
  h.accepted = () => new Promise((r) => waiting.push(r));
  const server = createServer();
  server.on('upgrade', (req, socket, head: Buffer) => {
    if (!(socket instanceof Socket)) throw new Error('not a socket');
    const res = validateUpgrade(req, { allowedOrigins: [], deflate: true });
    if (!res.ok) throw new Error(res.reason);
    socket.write(res.response);
    const conn: WsConnection = new WsConnection(
      socket,
      {
        maxMessageBytes: 64 * 1024,
        maxBufferedBytes: 64 * 1024,
        deflate: res.deflate,
        pingIntervalMs: 60_000,
        idleTimeoutMs: 120_000,
        closeTimeoutMs: 300,
        ...over,
      },
      {
        message(data, binary) {
          if (!binary) h.received.push(data.toString());
          h.onMessage(conn, data.toString());
          if (binary && !echo) return 1003;
          conn.send(data, binary);
          return undefined;
        },
        closed(code, reason) {
          h.closed.push({ code, reason });
        },
        slowConsumer() {
          h.slow++;
        },
        drained() {
          h.drained++;
        },
      },
    );
    conn.start(head);
    h.conns.push(conn);
    h.sockets.push(socket);
    const w = waiting;
    waiting = [];
    for (const f of w) f(conn);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  h.server = server;
  h.port = (server.address() as AddressInfo).port;
  return h;
}

async function client(h: Harness, deflate = false): Promise<WsClient> {
  const c = await connectWs(h.port, { path: '/', deflate });
  clients.push(c);
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WsConnection', () => {
  it('has the documented defaults', () => {
    expect(CLOSE_TIMEOUT_MS).toBe(5000);
    expect(IDLE_CLOSE_CODE).toBe(1001);
  });

  it('answers a ping with a pong carrying the same payload (0 and 125 bytes)', async () => {
    const h = await harness();
    const c = await client(h);
    c.sendFrame(OP.PING, Buffer.alloc(0));
    expect((await c.nextFrame((f) => f.opcode === OP.PONG)).payload.length).toBe(0);
    const big = Buffer.alloc(125, 7);
    c.sendFrame(OP.PING, big);
    expect((await c.nextFrame((f) => f.opcode === OP.PONG)).payload.equals(big)).toBe(true);
  });

  it('ignores an unsolicited pong', async () => {
    const h = await harness();
    const c = await client(h);
    c.sendFrame(OP.PONG, 'heartbeat');
    c.sendText('still here');
    const echoed = await c.nextFrame((f) => f.opcode === OP.TEXT);
    expect(echoed.payload.toString()).toBe('still here');
    expect(c.frames.filter((f) => f.opcode !== OP.TEXT)).toEqual([]);
  });

  it('echoes text through the message callback, binary too when the owner wants it', async () => {
    const h = await harness({}, true);
    const c = await client(h);
    c.sendText('héllo');
    c.sendFrame(OP.BINARY, Buffer.from([0, 255, 1]));
    expect((await c.nextFrame((f) => f.opcode === OP.TEXT)).payload.toString()).toBe('héllo');
    expect([...(await c.nextFrame((f) => f.opcode === OP.BINARY)).payload]).toEqual([0, 255, 1]);
  });

  it('closes with 1003 when the owner refuses binary', async () => {
    const h = await harness();
    const c = await client(h);
    c.sendFrame(OP.BINARY, Buffer.from([1, 2, 3]));
    expect((await c.closeFrame()).code).toBe(1003);
    c.sendClose(1003);
    await c.closed();
    await sleep(20);
    expect(h.closed[0]?.code).toBe(1003);
  });

  it('peer-initiated close: echoes the code and the server closes TCP first', async () => {
    const h = await harness();
    const c = await client(h);
    c.sendClose(4001, 'done here');
    expect(await c.closeFrame()).toEqual({ code: 4001, reason: '' });
    await c.closed(); // the client never ended its side: the server did
    await sleep(20);
    expect(h.closed).toEqual([{ code: 4001, reason: 'done here' }]);
  });

  it('an empty close is answered with 1000', async () => {
    const h = await harness();
    const c = await client(h);
    c.sendClose();
    expect((await c.closeFrame()).code).toBe(1000);
    await c.closed();
    await sleep(20);
    expect(h.closed[0]?.code).toBe(1005);
  });

  it('server-initiated close waits for the peer answer, then closes', async () => {
    const h = await harness({ closeTimeoutMs: 5000 });
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    const t0 = Date.now();
    conn.close(1001, 'going');
    expect(await c.closeFrame()).toEqual({ code: 1001, reason: 'going' });
    expect(conn.isOpen).toBe(false);
    expect(conn.sendFrame(Buffer.from([0x81, 0]))).toBe(false); // nothing after our close frame
    c.sendClose(1001);
    await c.closed();
    expect(Date.now() - t0).toBeLessThan(2000); // the answer closed it, not the timeout
  });

  it('close timeout: a peer that never answers our close is destroyed after closeTimeoutMs', async () => {
    const h = await harness({ closeTimeoutMs: 300 });
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    const t0 = Date.now();
    conn.close(1000);
    await c.closeFrame();
    await c.closed(3000);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(2000);
    await sleep(20);
    expect(h.closed[0]?.code).toBe(1006);
  });

  it('frame errors close with the receiver close code: unmasked 1002, too big 1009, bad UTF-8 1007', async () => {
    const h = await harness({ maxMessageBytes: 1000 });
    const a = await client(h);
    a.sendRaw(clientFrame(OP.TEXT, Buffer.from('x'), { masked: false }));
    expect((await a.closeFrame()).code).toBe(1002);
    await a.closed();
    const b = await client(h);
    b.sendFrame(OP.TEXT, Buffer.alloc(1001, 0x61));
    expect((await b.closeFrame()).code).toBe(1009);
    await b.closed();
    const d = await client(h);
    d.sendFrame(OP.TEXT, Buffer.from([0xc3, 0x28]));
    expect((await d.closeFrame()).code).toBe(1007);
    await d.closed();
  });

  it('reads a message that arrived in the same packet as the handshake (head)', async () => {
    const h = await harness({}, true);
    // Send the request and a frame in one write, before the 101 comes back.
    const { connect } = await import('node:net');
    const s = connect({ port: h.port, host: '127.0.0.1' });
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    await new Promise<void>((r) => s.once('connect', () => r()));
    const req =
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    s.write(Buffer.concat([Buffer.from(req), clientFrame(OP.TEXT, Buffer.from('early'))]));
    await sleep(200);
    s.destroy();
    expect(Buffer.concat(got).toString('latin1')).toMatch(/101 Switching[\s\S]*\r\n\r\n\x81\x05early$/);
  });

  it('pings a quiet connection and closes it (1001) after idleTimeoutMs of silence', async () => {
    const h = await harness({ pingIntervalMs: 60, idleTimeoutMs: 400 });
    const c = await client(h);
    const t0 = Date.now();
    await c.nextFrame((f) => f.opcode === OP.PING, 2000);
    expect((await c.closeFrame(3000)).code).toBe(IDLE_CLOSE_CODE);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(380);
    // One ping per quiet spell, not one per interval.
    expect(c.frames.filter((f) => f.opcode === OP.PING).length).toBe(1);
  });

  it('any received byte counts as life: a client answering pings outlives idleTimeoutMs', async () => {
    // Generous figures: a loaded CI machine can stall timers for a few hundred ms, and the claim is
    // only that answered pings keep the connection past several idle timeouts.
    const idleTimeoutMs = 1200;
    const h = await harness({ pingIntervalMs: 150, idleTimeoutMs });
    const c = await client(h);
    const answeredPings = new Set<object>();
    const answer = setInterval(() => {
      for (const f of c.frames) if (f.opcode === OP.PING && !answeredPings.has(f)) {
        answeredPings.add(f);
        c.sendFrame(OP.PONG, f.payload);
      }
    }, 10);
    const t0 = Date.now();
    try {
      await vi.waitFor(() => {
        expect(c.frames.some((f) => f.opcode === OP.CLOSE)).toBe(false);
        expect(answeredPings.size).toBeGreaterThanOrEqual(3);
        expect(Date.now() - t0).toBeGreaterThan(2 * idleTimeoutMs);
      }, { timeout: 15_000, interval: 50 });
    } finally {
      clearInterval(answer);
    }
    expect(c.frames.some((f) => f.opcode === OP.CLOSE)).toBe(false);
  });

  it('slow consumer: a reader that stops reading is cut with 1008 at maxBufferedBytes, memory bounded', async () => {
    const maxBufferedBytes = 64 * 1024;
    const h = await harness({ maxBufferedBytes, closeTimeoutMs: 5000 });
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    c.socket.pause();
    const frame = Buffer.concat([Buffer.from([0x82, 126, 0x40, 0x00]), Buffer.alloc(16 * 1024, 1)]);
    let sent = 0;
    // Bounded: kernel buffers take a few MB, after that the 64 KiB user-space bound must trip.
    for (let i = 0; i < 5000 && conn.sendFrame(frame); i++) {
      sent++;
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(h.slow).toBe(1);
    expect(sent).toBeLessThan(5000);
    expect(conn.isOpen).toBe(false);
    // Waking up in time, the reader gets everything queued and then the reason.
    c.socket.resume();
    expect((await c.closeFrame(5000)).code).toBe(1008);
    expect(c.frames.filter((f) => f.opcode === OP.BINARY).length).toBe(sent);
    await c.closed();
  });

  it('deflate: large messages go out compressed (RSV1), small ones plain; compressed input is read', async () => {
    const h = await harness({}, true);
    const c = await client(h, true);
    expect(c.response.headers['sec-websocket-extensions']).toMatch(/permessage-deflate/);
    const big = 'abc'.repeat(DEFLATE_THRESHOLD);
    c.sendText(big);
    c.sendText('tiny');
    const bigFrame = await c.nextFrame((f) => f.opcode === OP.TEXT);
    expect(bigFrame.rsv1).toBe(true);
    expect(bigFrame.payload.length).toBeLessThan(big.length / 10);
    expect((await c.nextFrame((f) => f.opcode === OP.TEXT)).rsv1).toBe(false);
    expect(c.messages.map((m) => m.data.toString())).toEqual([big, 'tiny']);
    // A compressed message from the client is inflated before the callback sees it.
    const { deflateRawSync } = await import('node:zlib');
    const z = deflateRawSync(Buffer.from('hello hello hello'), { finishFlush: 2 });
    c.sendFrame(OP.TEXT, z.subarray(0, z.length - 4), { rsv1: true });
    await c.nextFrame((f) => f.opcode === OP.TEXT);
    expect(c.messages[2]?.data.toString()).toBe('hello hello hello');
  });
});

describe('WsConnection send buffer: bound, bufferedBytes, drained', () => {
  const binary = (n: number, fill = 1): Buffer => Buffer.concat([Buffer.from([0x82, 126, n >> 8, n & 0xff]), Buffer.alloc(n, fill)]);

  it("bufferedBytes includes this turn's frames, still corked", async () => {
    const h = await harness();
    const accepted = h.accepted();
    await client(h);
    const conn = await accepted;
    const f = binary(1000);
    conn.sendFrame(f);
    conn.sendFrame(f);
    expect(conn.bufferedBytes).toBe(2 * f.length);
    await vi.waitFor(() => expect(conn.bufferedBytes).toBe(0), WAIT);
  });

  it("this turn counts: a burst past the bound with nothing sent after it is cut with 1008, what was queued arrives first", async () => {
    const h = await harness({ maxBufferedBytes: 64 * 1024, closeTimeoutMs: 5000 });
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    c.socket.pause();
    const f = binary(16 * 1024);
    // One turn, 80 KiB for a 64 KiB bound, and then nothing more: no later send will notice. Frames are
    // queued while the connection holds less than the bound (so one frame may overshoot it).
    const took = [1, 2, 3, 4, 5].map(() => conn.sendFrame(f));
    expect(took).toEqual([true, true, true, true, false]);
    expect(h.slow).toBe(1);
    expect(conn.isOpen).toBe(false);
    c.socket.resume();
    expect((await c.closeFrame()).code).toBe(1008);
    expect(c.frames.filter((fr) => fr.opcode === OP.BINARY).length).toBe(4);
    await c.closed();
  });

  it('the liveness sweep re-checks the bound: bytes that reached the socket around sendFrame are found with nothing more sent', async () => {
    // Intervals long enough that the sweep never runs by itself (and never pings): the test runs it.
    const h = await harness({ maxBufferedBytes: 64 * 1024, pingIntervalMs: 50_000, idleTimeoutMs: 100_000, closeTimeoutMs: 5000 });
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    const socket = h.sockets[0]!;
    c.socket.pause();
    // Fill the kernel's buffers, then queue past the bound in user space, all beside sendFrame.
    const f = binary(60_000);
    let written = 0;
    while (socket.writableLength <= 64 * 1024 && written < 2000) {
      socket.write(f);
      written++;
      if (written % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setImmediate(r));
    expect(socket.writableLength).toBeGreaterThan(64 * 1024);
    expect(h.slow).toBe(0);
    livenessSweep(50_000, 100_000).run();
    expect(h.slow).toBe(1);
    expect(conn.isOpen).toBe(false);
    c.socket.resume();
    expect((await c.closeFrame(10_000)).code).toBe(1008);
    expect(c.frames.filter((fr) => fr.opcode === OP.BINARY).length).toBe(written);
  });

  it("drained follows a turn that reached the socket's high-water mark, once everything has left", async () => {
    const h = await harness();
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    conn.sendFrame(binary(100));
    await c.nextFrame((f) => f.opcode === OP.BINARY);
    await new Promise((r) => setImmediate(r));
    // Below the socket's writableHighWaterMark (16 KiB): no drain to report.
    expect(h.drained).toBe(0);
    conn.sendFrame(binary(10_000));
    conn.sendFrame(binary(10_000));
    await vi.waitFor(() => expect(h.drained).toBe(1), WAIT);
    expect(conn.bufferedBytes).toBe(0);
  });
});

describe('WsConnection pause and resume', () => {
  it('pause in the message handler stops at once mid-chunk, control frames included; resume continues on a later turn', async () => {
    const h = await harness();
    h.onMessage = (conn, text) => {
      if (text === 'first') conn.pause();
    };
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    // One write: the rest sits in the same chunk as 'first'.
    c.sendRaw(Buffer.concat([clientFrame(OP.TEXT, Buffer.from('first')), clientFrame(OP.PING, Buffer.from('p')), clientFrame(OP.TEXT, Buffer.from('second'))]));
    await vi.waitFor(() => expect(h.received).toEqual(['first']), WAIT);
    expect(h.sockets[0]!.isPaused()).toBe(true);
    // The echo of 'first' comes back; the ping behind the pause is not answered.
    await c.nextFrame((f) => f.opcode === OP.TEXT);
    expect(c.frames.some((f) => f.opcode === OP.PONG)).toBe(false);
    c.sendText('third');
    conn.resume();
    // Never synchronously.
    expect(h.received).toEqual(['first']);
    await vi.waitFor(() => expect(h.received).toEqual(['first', 'second', 'third']), WAIT);
    expect((await c.nextFrame((f) => f.opcode === OP.PONG)).payload.toString()).toBe('p');
    expect(h.sockets[0]!.isPaused()).toBe(false);
  });

  it('closing a paused connection reads again, so the answer closes it at once rather than the timeout', async () => {
    const h = await harness({ closeTimeoutMs: 5000 });
    const accepted = h.accepted();
    const c = await client(h);
    const conn = await accepted;
    conn.pause();
    const t0 = Date.now();
    conn.close(1000, 'done');
    expect((await c.closeFrame()).code).toBe(1000);
    c.sendClose(1000);
    await c.closed();
    expect(Date.now() - t0).toBeLessThan(2000);
    await vi.waitFor(() => expect(h.closed).toEqual([{ code: 1000, reason: '' }]), WAIT);
  });
});
