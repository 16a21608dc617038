// --max-store-bytes on a real server process: filled well past a small budget over TCP, the oldest
// history goes (and the server says so on stderr), the disk stays near the budget, the newest messages
// are intact, and after a restart history and numbering carry on from them.
import { afterEach, describe, expect, it } from 'vitest';
import { logBytes } from '../../server/store/file-store.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { helloTcp, type TcpClient } from '../helpers/tcp-client.js';

const BUDGET = 128 * 1024;
/** The server's segments under that budget: an eighth of it. */
const SEGMENT = BUDGET / 8;

let server: RunningServer | undefined;
const clients: TcpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.stop();
  server = undefined;
});

async function metric(s: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
}

/** Says `count` messages in `room`, a window of them in flight at a time; resolves with the last seq. */
async function fill(c: TcpClient, room: string, count: number): Promise<number> {
  let last = 0;
  const text = `${room} `.padEnd(400, '.');
  for (let i = 0; i < count; i += 50) {
    for (let k = i; k < Math.min(count, i + 50); k++) c.send({ type: 'say', room, text: `${k} ${text}`, id: `${room}${k}` });
    const ack = await c.next((e) => e.re === `${room}${Math.min(count, i + 50) - 1}`, 10_000);
    expect(ack.type).toBe('ack');
    last = Number(ack.seq);
  }
  return last;
}

async function historyOf(c: TcpClient, room: string): Promise<number[]> {
  c.send({ type: 'history', room, limit: 1000, id: `h-${room}` });
  const h = await c.next((e) => e.re === `h-${room}`);
  return (h.messages as { seq: number }[]).map((m) => m.seq);
}

describe('--max-store-bytes on a real server', () => {
  it('drops the oldest history past the budget, logs it, keeps the disk near the budget and the newest intact across a restart', async () => {
    const dir = tempDir();
    const args = ['--data-dir', dir, '--max-store-bytes', '128K'];
    server = await startServer(args);
    const c = await helloTcp(server.tcpPort, 'filler');
    clients.push(c);
    c.send({ type: 'join', room: 'old', history: 0 });
    c.send({ type: 'join', room: 'busy', history: 0 });
    await c.next((e) => e.type === 'joined' && e.room === 'busy');
    expect(await fill(c, 'old', 10)).toBe(10);
    // ~650 KB into a 128 KiB budget.
    expect(await fill(c, 'busy', 1500)).toBe(1500);

    // Compaction runs behind the writes: poll until it has caught up.
    const deadline = Date.now() + 15_000;
    while ((logBytes(dir) > BUDGET + SEGMENT || !/over --max-store-bytes/.test(server.stderr())) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.stderr()).toMatch(/store: over --max-store-bytes \(\d+\.\d KiB > 128\.0 KiB\): dropped the \d+ oldest messages of \d+ conversations? with 0000000001\.log/);
    expect(logBytes(dir)).toBeLessThanOrEqual(BUDGET + SEGMENT);
    expect(await metric(server, 'parley_store_bytes')).toBeLessThanOrEqual(BUDGET + SEGMENT);

    const busy = await historyOf(c, 'busy');
    expect(busy[busy.length - 1]).toBe(1500);
    expect(busy[0]).toBeGreaterThan(1);
    expect(busy).toEqual(Array.from({ length: busy.length }, (_, i) => busy[0]! + i));
    // The quiet room keeps its newest message, which carries its numbering.
    expect(await historyOf(c, 'old')).toEqual([10]);
    c.close();
    expect(await server.stop()).toBe(0);

    server = await startServer(args);
    const d = await helloTcp(server.tcpPort, 'reader');
    clients.push(d);
    d.send({ type: 'join', room: 'busy', history: 0 });
    d.send({ type: 'join', room: 'old', history: 0 });
    await d.next((e) => e.type === 'joined' && e.room === 'old');
    const after = await historyOf(d, 'busy');
    expect(after[after.length - 1]).toBe(1500);
    expect(after[0]).toBeGreaterThanOrEqual(busy[0]!);
    d.send({ type: 'say', room: 'old', text: 'still numbered', id: 's' });
    expect(await d.next((e) => e.re === 's')).toMatchObject({ type: 'ack', seq: 11 });
  });
});
