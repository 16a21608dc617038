// --max-inbox on a real server: DMs to an offline account beyond the bound are refused with
// inbox_full (not stored, nothing lost silently); the ones accepted are delivered at the next login,
// after which the sender may write again.
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { accountTcp, type TcpClient } from '../helpers/tcp-client.js';

let server: RunningServer | undefined;
const clients: TcpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.stop();
  server = undefined;
});

describe('a bounded offline inbox', () => {
  it('refuses the DM beyond --max-inbox with inbox_full, delivers the rest at login, then accepts again', async () => {
    server = await startServer(['--max-inbox', '3', '--min-password-length', '4']);
    const bob = await accountTcp(server.tcpPort, 'bob');
    bob.close();
    const alice = await accountTcp(server.tcpPort, 'alice');
    clients.push(alice);
    for (let i = 1; i <= 4; i++) alice.send({ type: 'dm', to: 'bob', text: `note ${i}`, id: i });
    for (let i = 1; i <= 3; i++) expect(await alice.next((e) => e.re === i)).toMatchObject({ type: 'ack', seq: i });
    const refused = await alice.next((e) => e.re === 4);
    expect(refused).toMatchObject({ type: 'error', code: 'inbox_full' });
    expect(refused.fatal).toBeUndefined();
    expect(String(refused.message)).toMatch(/bob has 3 messages waiting.*not sent/i);

    const back = await accountTcp(server.tcpPort, 'bob');
    clients.push(back);
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) texts.push(String((await back.next((e) => e.type === 'message')).text));
    expect(texts).toEqual(['note 1', 'note 2', 'note 3']);
    back.close();

    // Delivered, so the inbox has room: the next DM is stored and numbered right after the third.
    alice.send({ type: 'dm', to: 'bob', text: 'note 4 again', id: 5 });
    expect(await alice.next((e) => e.re === 5)).toMatchObject({ type: 'ack', seq: 4 });
  });
});
