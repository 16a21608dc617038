// The send-buffer bound, for both transports: a reader that stops reading is cut off while the others
// keep everything, and a single legitimate burst (a long history reply) larger than the bound is not
// mistaken for a slow reader, because the rule judges only what is still unsent from earlier turns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { helloWs } from '../helpers/ws-client.js';

const BOUND = 65536;

const received = (c: TcpClient): number => c.events.filter((e) => e.type === 'message' && e.text === TEXT).length;

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const TEXT = 'z'.repeat(3900);

describe('slow consumers', () => {
  let server: RunningServer;
  const cleanup: (() => void)[] = [];
  beforeAll(async () => {
    server = await startServer(['--memory', '--log-level', 'warn', '--max-buffered-bytes', String(BOUND)]);
  });
  afterAll(async () => {
    for (const c of cleanup) c();
    await server?.stop();
  });
  const tcp = async (name: string): Promise<TcpClient> => {
    const c = await helloTcp(server.tcpPort, name);
    cleanup.push(() => c.close());
    return c;
  };
  const join = async (c: TcpClient, room: string): Promise<void> => {
    c.send({ type: 'join', room });
    await c.next((e) => e.type === 'members');
  };

  it('a history reply of ~240 KB reaches a joiner whose bound is 64 KiB, over TCP and WebSocket', async () => {
    const talker = await tcp('historian');
    await join(talker, 'archive');
    for (let i = 0; i < 60; i++) talker.send({ type: 'say', room: 'archive', text: TEXT, id: i });
    await talker.next((e) => e.type === 'ack' && e.re === 59, 10_000);

    const reader = await tcp('reader');
    reader.send({ type: 'join', room: 'archive', history: 60 });
    const h = await reader.next((e) => e.type === 'history', 10_000);
    expect((h.messages as unknown[]).length).toBe(60);

    const browser = await helloWs(server.httpPort, 'browser');
    cleanup.push(() => browser.destroy());
    browser.sendJson({ type: 'join', room: 'archive', history: 60 });
    const hw = await browser.next((e) => e.type === 'history', 10_000);
    expect((hw.messages as unknown[]).length).toBe(60);

    // Both are still connected and live.
    talker.send({ type: 'say', room: 'archive', text: 'still here?' });
    await reader.next((e) => e.type === 'message' && e.text === 'still here?');
    await browser.next((e) => e.type === 'message' && e.text === 'still here?');
    expect(server.stderr()).not.toMatch(/slow consumer/);
  });

  it('a TCP client that never reads is cut off; a reading one gets every message', async () => {
    const talker = await tcp('flooder');
    const slow = await tcp('sleeper');
    const fast = await tcp('reader2');
    for (const c of [talker, slow, fast]) await join(c, 'flood');
    slow.socket.pause();

    let sent = 0;
    let cut = false;
    // Bounded: the kernel's socket buffers take a few MB before the server's own bound can trip.
    for (let batch = 0; batch < 100 && !cut; batch++) {
      for (let i = 0; i < 50; i++) talker.send({ type: 'say', room: 'flood', text: TEXT });
      sent += 50;
      await until(() => received(fast) === sent, 10_000);
      cut = /slow consumer tcp/.test(server.stderr());
    }
    expect(cut).toBe(true);
    // Reading again, the sleeper finds its connection gone.
    slow.socket.resume();
    await slow.closed(10_000);
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
    expect(await res.text()).toMatch(/^parley_errors_total\{code="slow_consumer"\} [1-9]/m);
    // The reader was never held back by the sleeper.
    talker.send({ type: 'say', room: 'flood', text: 'after' });
    await fast.next((e) => e.type === 'message' && e.text === 'after');
  });
});
