// The Autobahn echo server (server/ws/echo.ts) as users run it: `node dist/server/ws/echo.js --port 0`.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_DEFAULT_HOST, ECHO_DEFAULT_PORT, ECHO_MAX_BUFFERED_BYTES, ECHO_MAX_MESSAGE_BYTES } from '../../server/ws/echo.js';
import { connectWs, ECHO_JS, OP, startEcho } from '../helpers/ws-client.js';

describe('ws echo server', () => {
  let echo: { port: number; proc: ChildProcess };
  beforeAll(async () => {
    echo = await startEcho();
  });
  afterAll(() => {
    echo?.proc.kill();
  });

  it('has the documented limits', () => {
    expect(ECHO_DEFAULT_PORT).toBe(9001);
    expect(ECHO_DEFAULT_HOST).toBe('127.0.0.1');
    expect(ECHO_MAX_MESSAGE_BYTES).toBe(16 * 1024 * 1024);
    expect(ECHO_MAX_BUFFERED_BYTES).toBeGreaterThan(ECHO_MAX_MESSAGE_BYTES);
  });

  it('echoes text as text and binary as binary, on any path', async () => {
    const c = await connectWs(echo.port, { path: '/anything/at/all' });
    c.sendText('hello ✓');
    c.sendFrame(OP.BINARY, Buffer.from([0, 1, 2, 255]));
    expect(await c.nextFrame((f) => f.opcode === OP.TEXT)).toMatchObject({ payload: Buffer.from('hello ✓') });
    expect(await c.nextFrame((f) => f.opcode === OP.BINARY)).toMatchObject({ payload: Buffer.from([0, 1, 2, 255]) });
    c.sendClose(1000);
    expect((await c.closeFrame()).code).toBe(1000);
    await c.closed();
  });

  it('reassembles fragmented messages with interleaved pings', async () => {
    const c = await connectWs(echo.port, { path: '/' });
    c.sendFrame(OP.TEXT, 'frag', { fin: false });
    c.sendFrame(OP.PING, 'mid');
    c.sendFrame(OP.CONT, 'ment', { fin: false });
    c.sendFrame(OP.CONT, 'ed', { fin: true });
    expect((await c.nextFrame((f) => f.opcode === OP.PONG)).payload.toString()).toBe('mid');
    expect((await c.nextFrame((f) => f.opcode === OP.TEXT)).payload.toString()).toBe('fragmented');
    c.destroy();
  });

  it('echoes a 4 MiB binary message, and with deflate compresses a large one', async () => {
    const c = await connectWs(echo.port, { path: '/', deflate: true });
    const big = Buffer.alloc(4 * 1024 * 1024, 0x5a);
    c.sendFrame(OP.BINARY, big);
    await c.nextFrame((f) => f.opcode === OP.BINARY, 20_000);
    expect(c.messages[0]?.compressed).toBe(true);
    expect(c.messages[0]?.data.equals(big)).toBe(true);
    c.destroy();
  });

  it('answers a plain HTTP request with 426 and rejects bad arguments', async () => {
    const res = await fetch(`http://127.0.0.1:${echo.port}/`);
    expect(res.status).toBe(426);
    const bad = spawn(process.execPath, [ECHO_JS, '--port', 'nope'], { stdio: 'ignore' });
    expect(await new Promise((r) => bad.once('exit', r))).toBe(2);
  });
});
