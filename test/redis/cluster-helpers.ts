// Shared by the cluster tests: a Parley node on a Redis URL, two of them on one redis-server for a
// describe block, and waits that poll instead of sleeping.
import { afterAll, beforeAll } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import type { Event, TcpClient } from '../helpers/tcp-client.js';
import { startRedis, type TestRedis } from './redis-server.js';

export function node(redisUrl: string, extra: string[] = []): Promise<RunningServer> {
  return startServer(['--redis', redisUrl, '--log-level', 'warn', ...extra]);
}

export interface TwoNodes {
  readonly a: RunningServer;
  readonly b: RunningServer;
  readonly redis: TestRedis;
  /** Closed after the block's tests. */
  track<T extends { close(): void }>(c: T): T;
}

/** Call inside a describe block: a redis-server and two nodes on it for the block's tests, stopped after. */
export function twoNodesOnOneRedis(): TwoNodes {
  let redis: TestRedis | undefined;
  let a: RunningServer | undefined;
  let b: RunningServer | undefined;
  const open: { close(): void }[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([node(redis.url), node(redis.url)]);
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.kill();
  });
  return {
    get a() {
      return a!;
    },
    get b() {
      return b!;
    },
    get redis() {
      return redis!;
    },
    track(c) {
      open.push(c);
      return c;
    },
  };
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends a request with a fresh id and resolves with its direct reply. */
export async function ask(c: TcpClient, req: Record<string, unknown>, timeoutMs = 10_000): Promise<Event> {
  const id = `q-${Math.random()}`;
  c.send({ ...req, id });
  return c.next((e) => e.re === id, timeoutMs);
}

export const roomMessages = (c: TcpClient, room: string): Event[] => c.events.filter((e) => e.type === 'message' && e.room === room);
