// Guests never seen again are forgotten, on a real server process with its file store: a thousand
// distinct guest names connecting and leaving leave at most --max-known-guests behind (read from the
// server's own count in /metrics), its RSS stays bounded, the rest go after --forget-guests-after, an
// account never does, and a restart does not bring them back. The hub-level test
// (hub-forget-guests.test.ts) runs the full 20,000: real connects cost ~0.35 ms each on a quiet machine,
// and several ms on a loaded one.
import { afterEach, describe, expect, it } from 'vitest';
import { createUsers, rssKB } from '../../bench/attacks.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';

const GUESTS = 1000;
const CAP = 100;

let server: RunningServer | undefined;
const clients: TcpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.stop();
  server = undefined;
});

async function knownUsers(s: RunningServer): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
  return Number(/^parley_known_users (\d+)$/m.exec(text)?.[1]);
}

async function poll(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describe('forgetting guests on a real server', () => {
  it(`${GUESTS} guests through a cap of ${CAP}: bounded count and RSS, all forgotten after the timeout, the account kept, across a restart`, async () => {
    const dir = tempDir();
    // --forget-guests-after 1: the first may go during the churn; the cap is what bounds it meanwhile.
    const args = ['--data-dir', dir, '--forget-guests-after', '1', '--max-known-guests', String(CAP), '--max-connections-per-ip', '0', '--min-password-length', '4'];
    server = await startServer(args);
    const ann = await accountTcp(server.tcpPort, 'ann');
    ann.close();
    const rssBefore = rssKB(server.proc.pid!);

    const made = await createUsers(server.tcpPort, GUESTS, Date.now() + 40_000, 'guest');
    expect(made).toBe(GUESTS);
    // The cap plus ann, however many came: not 1,001.
    await poll(async () => (await knownUsers(server!)) <= CAP + 1, 5000);
    expect(await knownUsers(server)).toBeLessThanOrEqual(CAP + 1);
    // Generous, so a busy machine cannot make it flake: the point is "not growing with every name".
    expect(rssKB(server.proc.pid!) - rssBefore).toBeLessThan(64 * 1024);

    await poll(async () => (await knownUsers(server!)) === 1, 10_000);
    expect(await knownUsers(server)).toBe(1);
    const asker = await helloTcp(server.tcpPort, 'asker');
    clients.push(asker);
    asker.send({ type: 'whois', name: `guest${GUESTS - 1}`, id: 'g' });
    expect(await asker.next((e) => e.re === 'g')).toMatchObject({ type: 'error', code: 'no_such_user' });
    asker.send({ type: 'whois', name: 'ann', id: 'a' });
    expect(await asker.next((e) => e.re === 'a')).toMatchObject({ type: 'user', name: 'ann', account: true, lastSeen: expect.any(String) });
    asker.close();
    expect(await server.stop()).toBe(0);

    server = await startServer(args);
    // ann, and asker (gone a moment ago, not yet due): no guest from before comes back.
    expect(await knownUsers(server)).toBeLessThanOrEqual(2);
    const again = await helloTcp(server.tcpPort, 'again');
    clients.push(again);
    again.send({ type: 'who', limit: 500, id: 'w' });
    const who = await again.next((e) => e.re === 'w');
    expect((who.users as { name: string }[]).map((u) => u.name).filter((n) => n.startsWith('guest'))).toEqual([]);
  });
});
