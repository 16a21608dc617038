// Shared by the cluster tests: a Parley node on a Redis URL, and waits that poll instead of sleeping.
import { startServer, type RunningServer } from '../helpers/server.js';
import type { Event, TcpClient } from '../helpers/tcp-client.js';

export function node(redisUrl: string, extra: string[] = []): Promise<RunningServer> {
  return startServer(['--redis', redisUrl, '--log-level', 'warn', ...extra]);
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
