// A data dir written before accounts existed (the v1 fixture of test/store): it opens with its rooms
// and history, its direct conversations and queued DMs are shown to nobody who merely registers one of
// those names, and an operator's claim of both names makes them visible to their owners.
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, SERVER_JS, startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';

const FIXTURE = join(ROOT, 'test', 'store', 'fixtures', 'v1-data');
const running: RunningServer[] = [];
afterAll(async () => {
  for (const s of running) await s.stop('SIGKILL');
});

const texts = (e: Record<string, unknown>): string[] => (e.messages as { text: string }[]).map((m) => m.text);

async function historyWith(c: TcpClient, name: string, id: string): Promise<string[]> {
  c.send({ type: 'history', with: name, id });
  return texts(await c.next((e) => e.re === id));
}

describe('a data dir from before accounts', () => {
  it('keeps its rooms and history, hides its DMs from new accounts, and shows them once both names are claimed', async () => {
    const dir = tempDir();
    cpSync(FIXTURE, dir, { recursive: true });
    let s = await startServer(['--data-dir', dir]);
    running.push(s);
    const reader = await helloTcp(s.tcpPort, 'reader');
    reader.send({ type: 'join', room: 'lobby', history: 5 });
    const members = await reader.next((e) => e.type === 'members');
    expect(members.room).toBe('Lobby');
    const page = await reader.next((e) => e.type === 'history');
    expect(texts(page)).toEqual([196, 197, 198, 199, 200].map((n) => `line ${n} of Lobby`));
    reader.close();

    // Registering a name from then is not proof of having used it: nothing of the old bob shows.
    const bob = await accountTcp(s.tcpPort, 'Bob');
    const alice = await accountTcp(s.tcpPort, 'Alice');
    bob.send({ type: 'ping', id: 'p' });
    await bob.next((e) => e.re === 'p');
    expect(bob.events.some((e) => e.type === 'message')).toBe(false);
    expect(await historyWith(alice, 'bob', 'h1')).toEqual([]);
    bob.close();
    alice.close();
    await s.stop();

    for (const name of ['bob', 'alice']) {
      const r = spawnSync(process.execPath, [SERVER_JS, 'accounts', 'claim', name, '--data-dir', dir], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    s = await startServer(['--data-dir', dir]);
    running.push(s);
    // The old queued DMs reach the claimed bob at his next login, and the old conversation is theirs.
    const bob2 = await accountTcp(s.tcpPort, 'Bob');
    const queued: string[] = [];
    while (queued.length < 2) queued.push((await bob2.next((e) => e.type === 'message')).text as string);
    expect(queued).toEqual(['psst 2 ✓ "q"', 'psst 3 ✓ "q"']);
    expect(await historyWith(bob2, 'alice', 'h2')).toHaveLength(3);
    bob2.close();
  });
});
