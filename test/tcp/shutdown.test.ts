// Graceful shutdown (issue 2, point 3): on SIGINT/SIGTERM every client hears bye/shutdown, its socket
// closes, and the process exits 0.
import { describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';
import { connectTcp, helloTcp } from '../helpers/tcp-client.js';

describe('graceful shutdown', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s: bye to every client, sockets closed, exit 0', async (signal) => {
    const server = await startServer();
    const a = await helloTcp(server.tcpPort, 'a');
    a.send({ type: 'join', room: 'general' });
    await a.next((e) => e.type === 'history');
    const b = await helloTcp(server.tcpPort, 'b');
    const anonymous = await connectTcp(server.tcpPort);
    anonymous.send({ type: 'ping' });
    await anonymous.next((e) => e.type === 'pong');
    const code = server.stop(signal);
    for (const c of [a, b, anonymous]) {
      expect(await c.next((e) => e.type === 'bye')).toEqual({ type: 'bye', reason: 'shutdown' });
      await c.closed();
    }
    expect(await code).toBe(0);
    expect(server.stderr()).toMatch(/shut/i);
  });

  it('exits 0 even when a client never reads', async () => {
    const server = await startServer();
    const stuck = await helloTcp(server.tcpPort, 'stuck');
    stuck.socket.pause();
    const t0 = Date.now();
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    stuck.close();
  });
});
