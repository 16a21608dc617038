// The server pings a quiet TCP connection with a `ping` event and closes it if nothing comes back;
// the console client must answer with a `pong` request. The real server does not send pings yet (and
// would answer a pong with unknown_type), so the real client process talks to a scripted server here.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runConsole, type ConsoleProc } from '../helpers/console.js';

const TS = '2026-01-01T00:00:00.000Z';

/** A one-connection server that records each JSON line it receives. */
async function scriptedServer(): Promise<{ port: number; received: Record<string, unknown>[]; socket: () => Socket | undefined; close(): Promise<void> }> {
  const received: Record<string, unknown>[] = [];
  let current: Socket | undefined;
  const server: Server = createServer((s) => {
    current = s;
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        received.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    received,
    socket: () => current,
    close: () =>
      new Promise((r) => {
        current?.destroy();
        server.close(() => r());
      }),
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const running: ConsoleProc[] = [];
afterAll(() => {
  for (const c of running) c.proc.kill('SIGKILL');
});

describe('console client liveness', () => {
  it('answers a server ping event with a pong request, without an id, and prints nothing for it', async () => {
    const fake = await scriptedServer();
    try {
      const c = runConsole(['--host', '127.0.0.1', '--port', String(fake.port), '--name', 'pia', '--room', 'r']);
      running.push(c);
      await until('hello', () => fake.received.some((r) => r.type === 'hello'));
      const send = (ev: object): boolean => fake.socket()!.write(JSON.stringify(ev) + '\n');
      // Pinged before the welcome: a quiet connection can be pinged at any point.
      send({ type: 'ping' });
      await until('the first pong', () => fake.received.some((r) => r.type === 'pong'));
      send({ type: 'welcome', protocol: 1, name: 'pia', session: 's', server: 'scripted', time: TS });
      await c.waitFor(/connected to /);
      await until('join', () => fake.received.some((r) => r.type === 'join'));
      send({ type: 'ping' });
      await until('the second pong', () => fake.received.filter((r) => r.type === 'pong').length === 2);
      expect(fake.received.filter((r) => r.type === 'pong')).toEqual([{ type: 'pong' }, { type: 'pong' }]);
      // Something printed after the pings shows they printed nothing themselves.
      send({ type: 'time', time: TS });
      await c.waitFor(/server time: /);
      expect(c.out()).not.toMatch(/ping|pong/i);
    } finally {
      await fake.close();
    }
  });
});
