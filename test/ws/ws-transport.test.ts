// The WebSocket transport in-process, over real loopback sockets, with a fake session instead of the
// hub: typed requests in, encoded events out (one serialisation per broadcast), the hub's close
// reasons as close codes, pause mid-chunk, the send-buffer bound with this turn's bytes, drain, and
// one liveness sweep shared with the TCP transport.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ServerEvent } from '../../protocol/messages.js';
import { createLogger } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import { Outgoing } from '../../server/outgoing.js';
import { createTcpTransport } from '../../server/tcp.js';
import { createWsTransport, type WsTransportOptions } from '../../server/ws-transport.js';
import { livenessSweep } from '../../server/ws/liveness.js';
import { fakeHub } from '../helpers/fake-session.js';
import { connectTcp } from '../helpers/tcp-client.js';
import { clientFrame, connectWs, OP, type WsClient } from '../helpers/ws-client.js';

/** Waits poll for state; generous because the test machine is shared and often loaded. */
const WAIT = { timeout: 5000, interval: 10 };

const servers: (Server | NetServer)[] = [];
const clients: { destroy(): void }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function harness(over: Partial<WsTransportOptions> = {}) {
  const hub = fakeHub();
  const metrics = new Metrics();
  const logs: string[] = [];
  const opts: WsTransportOptions = {
    maxMessageBytes: 1000,
    maxBufferedBytes: 1024 * 1024,
    allowedOrigins: [],
    deflate: true,
    pingIntervalMs: 60_000,
    idleTimeoutMs: 120_000,
    log: createLogger('debug', (line) => logs.push(line)),
    metrics,
    closeTimeoutMs: 2000,
    ...over,
  };
  const transport = createWsTransport(hub.connect, opts);
  const server = createServer();
  server.on('upgrade', (req, socket, head: Buffer) => transport.upgrade(req, socket, head));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  return {
    hub,
    metrics,
    logs,
    transport,
    async client(deflate = false): Promise<WsClient> {
      const c = await connectWs(port, { path: '/ws', deflate });
      clients.push(c);
      return c;
    },
  };
}

const out = (event: ServerEvent): Outgoing => new Outgoing(event);

describe('ws transport: values at the edge', () => {
  it('hands the session Request values and rejections; its events arrive as text frames', async () => {
    const h = await harness();
    const c = await h.client();
    const session = await h.hub.session(0);
    c.sendJson({ type: 'hello', name: 'amy', extra: true });
    c.sendText('{"type":"join","id":"j"}');
    c.sendText('{oops');
    c.sendJson({ type: 'pong' });
    await vi.waitFor(() => expect(session.received).toEqual([{ type: 'hello', name: 'amy' }, { type: 'pong' }]), WAIT);
    expect(session.rejected).toEqual([
      { code: 'bad_request', message: 'join needs the field "room"', re: 'j', fatal: undefined },
      { code: 'bad_json', message: 'not valid JSON' },
    ]);
    session.peer.send(out({ type: 'time', time: 'now', re: 2 }));
    expect(await c.next((e) => e.type === 'time')).toEqual({ type: 'time', time: 'now', re: 2 });
    expect(session.peer.transport).toBe('ws');
    expect(h.metrics.connections.ws).toBe(1);
  });

  it('binary closes with 1003; the hub closing with a reason gives its close code', async () => {
    const h = await harness();
    const a = await h.client();
    a.sendFrame(OP.BINARY, Buffer.from('{"type":"ping"}'));
    expect((await a.closeFrame()).code).toBe(1003);
    const b = await h.client();
    const session = await h.hub.session(1);
    session.peer.close('too_large');
    expect(await b.closeFrame()).toEqual({ code: 1009, reason: 'too_large' });
    b.sendClose(1009);
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
  });

  it('a broadcast is serialised once for TCP, plain and deflate WebSocket recipients alike', async () => {
    const h = await harness();
    const tcpHub = fakeHub();
    const tcp = createTcpTransport(tcpHub.connect, {
      maxMessageBytes: 1000,
      maxBufferedBytes: 1024 * 1024,
      pingIntervalMs: 60_000,
      idleTimeoutMs: 120_000,
      log: createLogger('silent'),
      metrics: new Metrics(),
    });
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    servers.push(tcp);
    const t = await connectTcp((tcp.address() as AddressInfo).port);
    clients.push({ destroy: () => t.socket.destroy() });
    const plain = await h.client();
    const zipped = await h.client(true);
    const peers = [(await tcpHub.session(0)).peer, (await h.hub.session(0)).peer, (await h.hub.session(1)).peer];
    const text = 'the same words for everyone '.repeat(100);
    const event = out({ type: 'message', room: 'r', from: 'amy', text, seq: 1, ts: 'now' });
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      for (const p of peers) p.send(event);
      expect(stringify).toHaveBeenCalledTimes(1);
    } finally {
      stringify.mockRestore();
    }
    expect((await t.next((e) => e.type === 'message')).text).toBe(text);
    expect((await plain.next((e) => e.type === 'message')).text).toBe(text);
    expect((await zipped.next((e) => e.type === 'message')).text).toBe(text);
    expect(plain.messages[0]!.compressed).toBe(false);
    expect(zipped.messages[0]!.compressed).toBe(true);
  });
});

describe('ws transport: pause, send buffer, drain', () => {
  it('pause stops at once mid-chunk; resume continues on a later turn, nothing lost or reordered', async () => {
    const h = await harness();
    const c = await h.client();
    const session = await h.hub.session(0);
    session.onReceive = (req) => {
      if (req.id === 1) session.peer.pause();
    };
    c.sendRaw(Buffer.concat([1, 2, 3].map((id) => clientFrame(OP.TEXT, Buffer.from(JSON.stringify({ type: 'time', id }))))));
    await vi.waitFor(() => expect(session.received.length).toBe(1), WAIT);
    c.sendJson({ type: 'time', id: 4 });
    session.peer.resume();
    expect(session.received.length).toBe(1);
    await vi.waitFor(() => expect(session.received.map((r) => r.id)).toEqual([1, 2, 3, 4]), WAIT);
  });

  it("counts this turn's bytes: an event sent once the bound is reached closes with 1008 though nothing follows", async () => {
    const h = await harness({ maxBufferedBytes: 64 * 1024 });
    const c = await h.client();
    const session = await h.hub.session(0);
    c.socket.pause();
    const e = out({ type: 'error', code: 'bad_text', message: 'x'.repeat(16 * 1024) });
    session.peer.send(e);
    expect(session.peer.bufferedBytes).toBeGreaterThan(16 * 1024);
    for (let i = 0; i < 4; i++) session.peer.send(e);
    expect(h.metrics.render()).toMatch(/parley_errors_total\{code="slow_consumer"\} 1/);
    expect(h.logs.some((l) => / warn slow consumer ws 127\.0\.0\.1:\d+: /.test(l))).toBe(true);
    c.socket.resume();
    expect((await c.closeFrame()).code).toBe(1008);
    // Queued while under the bound (the fourth took it past): they arrive before the close.
    expect(c.messages.length).toBe(4);
    c.sendClose(1008);
    await vi.waitFor(() => expect(session.disconnectedCount).toBe(1), WAIT);
  });

  it('drained reaches the session after a turn that reached the high-water mark', async () => {
    const h = await harness();
    await h.client();
    const session = await h.hub.session(0);
    const e = out({ type: 'error', code: 'bad_text', message: 'x'.repeat(10_000) });
    session.peer.send(e);
    session.peer.send(e);
    await vi.waitFor(() => expect(session.drainedCount).toBe(1), WAIT);
    expect(session.peer.bufferedBytes).toBe(0);
  });
});

describe('liveness across transports', () => {
  it('TCP and WebSocket connections with one setting share one sweep', async () => {
    const h = await harness({ pingIntervalMs: 888, idleTimeoutMs: 8888 });
    const tcpHub = fakeHub();
    const tcp = createTcpTransport(tcpHub.connect, {
      maxMessageBytes: 1000,
      maxBufferedBytes: 1024 * 1024,
      pingIntervalMs: 888,
      idleTimeoutMs: 8888,
      log: createLogger('silent'),
      metrics: new Metrics(),
    });
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    servers.push(tcp);
    const sweep = livenessSweep(888, 8888);
    const t = await connectTcp((tcp.address() as AddressInfo).port);
    clients.push({ destroy: () => t.socket.destroy() });
    await h.client();
    await tcpHub.session(0);
    await h.hub.session(0);
    expect(sweep.size).toBe(2);
    expect(sweep.running).toBe(true);
  });
});
