// Issue 11: TCP liveness. A console client whose machine sleeps, or whose NAT mapping dies, vanishes
// without a FIN; today the server keeps its connection (and its name: "name_taken" on reconnect) until
// TCP keepalive gives up, many minutes later. The protocol that is coming:
//   - the server sends `{"type":"ping"}` events to a TCP connection it has heard nothing from for
//     --ping-interval-ms;
//   - a client answers with the request `{"type":"pong"}`; any request counts as life;
//   - a connection silent for --idle-timeout-ms gets `error idle_timeout` (fatal) and is closed, and
//     its name is free again.
// Run with --idle-timeout-ms 1500 --ping-interval-ms 500. Timing bounds allow the server's "a quarter of
// the shorter interval late" plus a generous margin for a busy machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/require.js';
import { connectTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { blackholeUnavailable, createIsland, islandClient, type Island, type IslandClient } from './helpers/blackhole.js';
import { commonFlags, startServer, stopHard, type RunningServer } from './helpers/hostile-server.js';

const IDLE_MS = 1500;
const PING_MS = 500;
const FLAGS = ['--idle-timeout-ms', String(IDLE_MS), '--ping-interval-ms', String(PING_MS)];
/** How late a close may come after the idle timeout and still pass: sweep lateness plus a busy machine. */
const SLACK_MS = 2500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms; true once it holds, false when `timeoutMs` ran out first. */
async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Tries `hello name` on fresh connections until one is welcomed; the last reply when none was. */
async function helloWhenFree(port: number, name: string, timeoutMs: number): Promise<{ welcomed: boolean; last: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const c = await connectTcp(port);
    try {
      c.send({ type: 'hello', name, protocol: 1, id: 'h' });
      const e = await c.next((x) => x.re === 'h', 5000);
      last = JSON.stringify(e);
      if (e.type === 'welcome') return { welcomed: true, last };
    } finally {
      c.close();
    }
    if (Date.now() > deadline) return { welcomed: false, last };
    await sleep(200);
  }
}

describe('TCP liveness: silent clients are closed, live ones are kept', () => {
  let server: RunningServer;
  const clients: TcpClient[] = [];
  beforeAll(async () => {
    server = await startServer([...commonFlags(), ...FLAGS]);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await stopHard(server);
  });
  const hello = async (name: string): Promise<{ c: TcpClient; welcomedAt: number }> => {
    const c = await helloTcp(server.tcpPort, name);
    clients.push(c);
    return { c, welcomedAt: Date.now() };
  };
  const isOpen = (c: TcpClient): boolean => !c.socket.destroyed && !c.socket.readableEnded;

  it('a client that goes silent after hello is pinged, then sent error idle_timeout (fatal) and closed within the idle timeout', async () => {
    // It reads (the kernel would ACK anyway) but never writes again: to the server it is gone.
    const { c, welcomedAt } = await hello('silent');
    let closedAt = 0;
    c.socket.once('close', () => (closedAt = Date.now()));
    const closed = await until(() => closedAt !== 0, IDLE_MS + SLACK_MS);
    expect.soft(c.events.some((e) => e.type === 'ping'), `ping events before the close; got ${JSON.stringify(c.events)}`).toBe(true);
    expect(closed, `still open ${IDLE_MS + SLACK_MS} ms after its last request (idle timeout ${IDLE_MS} ms)`).toBe(true);
    expect(closedAt - welcomedAt, 'closed no earlier than the idle timeout').toBeGreaterThanOrEqual(IDLE_MS - 100);
    const err = c.events.find((e) => e.type === 'error');
    expect(err?.code).toBe('idle_timeout');
    expect(err?.fatal).toBe(true);
  });

  it('once a silent client is closed, its name is free again: a new hello with it is welcomed', async () => {
    await hello('sleeper');
    const t0 = Date.now();
    const r = await helloWhenFree(server.tcpPort, 'sleeper', IDLE_MS + SLACK_MS);
    expect(r.welcomed, `hello "sleeper" was not welcomed within ${IDLE_MS + SLACK_MS} ms of the first one going silent; last reply ${r.last}`).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(IDLE_MS - 100);
  });

  it('a client that answers ping events with pong stays connected well past the idle timeout', async () => {
    const { c } = await hello('answerer');
    let pings = 0;
    c.socket.on('data', () => {
      // Answer each new ping event once.
      const seen = c.events.filter((e) => e.type === 'ping').length;
      for (; pings < seen; pings++) c.send({ type: 'pong' });
    });
    const t0 = Date.now();
    // Three idle timeouts, watching for an early close all along.
    await until(() => !isOpen(c) || Date.now() - t0 >= 3 * IDLE_MS, 3 * IDLE_MS + 1000);
    expect(isOpen(c), `closed after ${Date.now() - t0} ms though it answered ${pings} pings`).toBe(true);
    expect(pings, 'the server sent ping events to the quiet connection').toBeGreaterThanOrEqual(2);
    // A pong is a request the protocol knows: no error for it.
    expect(c.events.filter((e) => e.type === 'error')).toEqual([]);
    c.send({ type: 'ping', id: 'still' });
    await c.next((e) => e.type === 'pong' && e.re === 'still', 2000);
  });

  it('a client that sends ping requests regularly (and ignores ping events) stays connected well past the idle timeout', async () => {
    const { c } = await hello('pinger');
    let n = 0;
    const timer = setInterval(() => c.send({ type: 'ping', id: `p${n++}` }), IDLE_MS / 4);
    try {
      const t0 = Date.now();
      await until(() => !isOpen(c) || Date.now() - t0 >= 3 * IDLE_MS, 3 * IDLE_MS + 1000);
      expect(isOpen(c), `closed after ${Date.now() - t0} ms though it sent ${n} pings`).toBe(true);
      const last = `p${n - 1}`;
      await c.next((e) => e.type === 'pong' && e.re === last, 2000);
      expect(c.events.filter((e) => e.type === 'error')).toEqual([]);
    } finally {
      clearInterval(timer);
    }
  });
});

const noBlackhole = skipUnless(blackholeUnavailable(), 'the half-open TCP test (network namespace with a blackhole qdisc)');

describe.skipIf(noBlackhole)('TCP liveness: a client that vanishes without a FIN', () => {
  let island: Island;
  let server: RunningServer;
  const procs: IslandClient[] = [];
  beforeAll(async () => {
    island = createIsland();
    server = await startServer([...commonFlags(), ...FLAGS], {}, { prefix: island.prefix });
  });
  afterAll(async () => {
    for (const p of procs) p.kill();
    island?.blackhole(false);
    await stopHard(server);
    island?.destroy();
  });

  it('is closed by the server within the idle timeout (no FIN, no RST ever arrives), and its name is free again', async () => {
    const ghost = islandClient(island, server.tcpPort, 'ghost');
    procs.push(ghost);
    const port = Number((await ghost.waitFor(/^local (\d+)$/m, 10_000))[1]);
    await ghost.waitFor(/"type":"welcome"/, 10_000);
    expect(island.established(server.tcpPort, port)).toBe(1);
    // From here no packet moves either way: a laptop lid closed, a NAT mapping gone. The client process
    // stays alive and its socket open, so no FIN or RST is ever sent, even once packets flow again.
    island.blackhole(true);
    const t0 = Date.now();
    const gone = await until(() => island.established(server.tcpPort, port) === 0, IDLE_MS + SLACK_MS);
    const after = Date.now() - t0;
    island.blackhole(false);
    expect.soft(gone, `the server still holds the connection ${after} ms after the client vanished (idle timeout ${IDLE_MS} ms)`).toBe(true);

    const again = islandClient(island, server.tcpPort, 'ghost');
    procs.push(again);
    const reply = await again.waitFor(/^\{.*"re":"h".*\}$/m, 10_000);
    expect(JSON.parse(reply[0]).type, `hello "ghost" after the vanished one: ${reply[0]}`).toBe('welcome');
  });
});
