// The WebSocket transport end to end: the real server process, raw WebSocket and TCP clients in the
// same rooms, the hub's close reasons as close codes, liveness flags, slow consumers and deflate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeCodeFor } from '../../server/ws-transport.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp } from '../helpers/tcp-client.js';
import { connectWs, helloWs, OP, type WsClient } from '../helpers/ws-client.js';

async function metrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"=]/g, '\\$&')} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Connections a suite opened, destroyed when it ends whatever its tests did. */
function tracker(): { open: { destroy(): void }[]; track: <T extends { destroy(): void }>(c: T) => T } {
  const open: { destroy(): void }[] = [];
  return {
    open,
    track: (c) => {
      open.push(c);
      return c;
    },
  };
}

describe('closeCodeFor', () => {
  it('maps hub reasons to close codes', () => {
    expect(closeCodeFor(undefined)).toBe(1000);
    expect(closeCodeFor('bye')).toBe(1000);
    expect(closeCodeFor('shutdown')).toBe(1001);
    expect(closeCodeFor('idle_timeout')).toBe(1001);
    expect(closeCodeFor('too_large')).toBe(1009);
    expect(closeCodeFor('bad_utf8')).toBe(1007);
    expect(closeCodeFor('protocol_unsupported')).toBe(1008);
    expect(closeCodeFor('slow_consumer')).toBe(1008);
  });
});

describe('ws transport', () => {
  let server: RunningServer;
  const { open, track } = tracker();
  beforeAll(async () => {
    server = await startServer(['--log-level', 'warn', '--hello-timeout-ms', '2000']);
  });
  afterAll(async () => {
    for (const c of open) c.destroy();
    await server?.stop();
  });

  it('a WebSocket client and a TCP client chat in one room, both ways', async () => {
    const ws = track(await helloWs(server.httpPort, 'wsamy'));
    const tcp = await helloTcp(server.tcpPort, 'tcpbob');
    open.push({ destroy: () => tcp.close() });
    ws.sendJson({ type: 'join', room: 'lobby', id: 'j1' });
    await ws.next((e) => e.type === 'members');
    tcp.send({ type: 'join', room: 'lobby', id: 'j2' });
    await tcp.next((e) => e.type === 'members');
    ws.sendJson({ type: 'say', room: 'lobby', text: 'hi from ws ✓' });
    expect(await tcp.next((e) => e.type === 'message')).toMatchObject({ from: 'wsamy', text: 'hi from ws ✓' });
    tcp.send({ type: 'say', room: 'lobby', text: 'hi from tcp' });
    expect(await ws.next((e) => e.type === 'message' && e.from === 'tcpbob')).toMatchObject({ text: 'hi from tcp' });
    const m = await metrics(server.httpPort);
    expect(metric(m, 'parley_connections{transport="ws"}')).toBeGreaterThanOrEqual(1);
    expect(metric(m, 'parley_connections_total{transport="ws"}')).toBeGreaterThanOrEqual(1);
    expect(metric(m, 'parley_bytes_in_total{transport="ws"}')).toBeGreaterThan(0);
    expect(metric(m, 'parley_bytes_out_total{transport="ws"}')).toBeGreaterThan(0);
  });

  it('bye closes with 1000; binary closes with 1003', async () => {
    const a = track(await helloWs(server.httpPort, 'byer'));
    a.sendJson({ type: 'bye' });
    expect((await a.closeFrame()).code).toBe(1000);
    a.sendClose(1000);
    await a.closed();
    const b = track(await connectWs(server.httpPort));
    b.sendFrame(OP.BINARY, Buffer.from('{"type":"ping"}'));
    expect((await b.closeFrame()).code).toBe(1003);
  });

  it('a message over --max-message-bytes closes with 1009', async () => {
    const c = track(await connectWs(server.httpPort));
    c.sendText('x'.repeat(70_000)); // default max is below this
    expect((await c.closeFrame()).code).toBe(1009);
  });

  it('no hello in time: the hub closes the connection (idle_timeout -> 1001)', async () => {
    const c = track(await connectWs(server.httpPort));
    expect(await c.next((e) => e.type === 'error', 5000)).toMatchObject({ code: 'idle_timeout' });
    expect((await c.closeFrame(5000)).code).toBe(1001);
  });

  it('deflate end to end: a large broadcast arrives compressed, a small one plain', async () => {
    const z = track(await helloWs(server.httpPort, 'zipper', { deflate: true }));
    expect(z.response.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
    const plain = track(await helloWs(server.httpPort, 'plain'));
    for (const c of [z, plain]) {
      c.sendJson({ type: 'join', room: 'zip', id: 'j' });
      await c.next((e) => e.type === 'members');
    }
    const big = 'compress me please '.repeat(150);
    z.sendJson({ type: 'say', room: 'zip', text: big });
    z.sendJson({ type: 'say', room: 'zip', text: 'small' });
    await z.next((e) => e.type === 'message' && e.text === big);
    await z.next((e) => e.type === 'message' && e.text === 'small');
    await plain.next((e) => e.type === 'message' && e.text === 'small');
    const bigOnZ = z.messages.find((m) => m.data.includes(big));
    const smallOnZ = z.messages.find((m) => m.data.includes('"small"'));
    expect(bigOnZ?.compressed).toBe(true);
    expect(smallOnZ?.compressed).toBe(false);
    // The client that did not negotiate deflate gets it uncompressed.
    expect(plain.messages.find((m) => m.data.includes(big))?.compressed).toBe(false);
    const zFrame = z.frames.find((f) => f.rsv1);
    expect(zFrame!.payload.length).toBeLessThan(big.length / 5);
  });

  it('ping from the client is answered with the same payload', async () => {
    const c = track(await connectWs(server.httpPort));
    c.sendFrame(OP.PING, 'are you there');
    expect((await c.nextFrame((f) => f.opcode === OP.PONG)).payload.toString()).toBe('are you there');
  });
});

describe('ws transport liveness and shutdown', () => {
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('--ping-interval-ms pings a quiet client and --idle-timeout-ms closes it with 1001', async () => {
    server = await startServer(['--log-level', 'warn', '--ping-interval-ms', '100', '--idle-timeout-ms', '500']);
    const c = await helloWs(server.httpPort, 'sleepy');
    await c.nextFrame((f) => f.opcode === OP.PING, 3000);
    expect((await c.closeFrame(3000)).code).toBe(1001);
    c.destroy();
  });

  it('shutdown: clients hear bye, then close 1001', async () => {
    server ??= await startServer(['--log-level', 'warn']);
    const c: WsClient = await helloWs(server.httpPort, 'leaver');
    const stopped = server.stop();
    expect(await c.next((e) => e.type === 'bye')).toMatchObject({ reason: 'shutdown' });
    expect((await c.closeFrame()).code).toBe(1001);
    c.sendClose(1001);
    await c.closed();
    expect(await stopped).toBe(0);
    server = undefined;
  });
});

describe('ws transport slow consumer', () => {
  let server: RunningServer | undefined;
  const { open, track } = tracker();
  afterAll(async () => {
    for (const c of open) c.destroy();
    await server?.stop();
  });

  it('slow consumer: a client that never reads is cut with 1008 while another keeps receiving; RSS bounded', async () => {
    // The bound counts everything unsent, this turn's bytes included; 100 messages of ~4 KB per batch.
    server = await startServer(['--log-level', 'warn', '--max-buffered-bytes', String(1024 * 1024)]);
    const slow = track(await helloWs(server.httpPort, 'sloth'));
    const fast = track(await helloWs(server.httpPort, 'hare'));
    const talker = await helloTcp(server.tcpPort, 'talker');
    open.push({ destroy: () => talker.close() });
    for (const c of [slow, fast]) {
      c.sendJson({ type: 'join', room: 'flood', id: 'j' });
      await c.next((e) => e.type === 'members');
    }
    talker.send({ type: 'join', room: 'flood', id: 'j' });
    await talker.next((e) => e.type === 'members');
    slow.socket.pause();

    const text = 'y'.repeat(3900);
    let sent = 0;
    let cut = false;
    // Bounded: kernel socket buffers absorb some MB before the server's 64 KiB bound can trip.
    for (let batch = 0; batch < 60 && !cut; batch++) {
      for (let i = 0; i < 100; i++) talker.send({ type: 'say', room: 'flood', text });
      sent += 100;
      const before = sent;
      await fast.next((e) => e.type === 'message' && e.text === text && fast.messages.length >= before, 10_000).catch(() => undefined);
      cut = metric(await metrics(server.httpPort), 'parley_errors_total{code="slow_consumer"}') >= 1;
    }
    expect(cut).toBe(true);
    // The fast reader got every message, none lost to the other's trouble.
    const deadline = Date.now() + 10_000;
    const count = (): number => fast.messages.filter((m) => m.data.includes('"yyyy')).length;
    while (count() < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(count()).toBe(sent);
    const rss = metric(await metrics(server.httpPort), 'parley_process_resident_memory_bytes');
    expect(rss).toBeLessThan(300 * 1024 * 1024);
    // The slow one, reading again, finds the reason after what was queued (or was cut by the timeout).
    slow.socket.resume();
    const close = await slow.closeFrame(10_000).catch(() => undefined);
    if (close) expect(close.code).toBe(1008);
    await slow.closed(10_000);
    expect(count()).toBe(sent);
  });
});
