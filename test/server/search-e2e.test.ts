// search against the real server process: rooms one is in, one's own stored DMs, nothing else;
// edits and deletions; pages; refusals row by row; and the index surviving a restart of a file store.
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';

const servers: RunningServer[] = [];
const clients: TcpClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop('SIGKILL');
});
async function server(args: string[] = []): Promise<RunningServer> {
  const s = await startServer(args);
  servers.push(s);
  return s;
}
const track = (c: TcpClient): TcpClient => {
  clients.push(c);
  return c;
};

let ids = 0;
/** Sends a request and resolves with its direct reply. */
async function ask(c: TcpClient, req: Record<string, unknown>): Promise<Event> {
  const id = `q${++ids}`;
  c.send({ ...req, id });
  return c.next((e) => e.re === id);
}
const texts = (e: Event): string[] => (e.messages as { text: string }[]).map((m) => m.text);

async function say(c: TcpClient, room: string, text: string): Promise<void> {
  expect(await ask(c, { type: 'say', room, text })).toMatchObject({ type: 'ack' });
}

describe('search end to end', () => {
  it('finds in the rooms one is in and in one’s own DMs, newest first, paged; refusals row by row', async () => {
    const s = await server();
    const ann = track(await accountTcp(s.tcpPort, 'ann'));
    const bob = track(await accountTcp(s.tcpPort, 'bob'));
    const cat = track(await accountTcp(s.tcpPort, 'cat'));
    const gus = track(await helloTcp(s.tcpPort, 'gus'));
    for (const [c, room] of [[ann, 'Lobby'], [bob, 'Lobby'], [bob, 'Dev'], [gus, 'Lobby']] as const) await ask(c, { type: 'join', room });
    await say(ann, 'Lobby', 'Deploy on Friday');
    await say(bob, 'Lobby', 'no deployment today');
    await say(bob, 'Dev', 'deploy friday in dev');
    await say(ann, 'Lobby', 'friday DEPLOY again');
    expect(await ask(ann, { type: 'dm', to: 'bob', text: 'the deploy password is hunter2' })).toMatchObject({ type: 'ack' });
    expect(await ask(cat, { type: 'dm', to: 'bob', text: 'cat tells bob: deploy hunter2' })).toMatchObject({ type: 'ack' });

    // One room: the result is a history item; terms are what the server compared.
    const lobby = await ask(ann, { type: 'search', query: 'Deploy', room: 'lobby' });
    expect(lobby).toMatchObject({ type: 'results', terms: ['deploy'], more: false });
    expect(lobby.next).toBeUndefined();
    expect(lobby.messages).toEqual([
      { type: 'message', room: 'Lobby', from: 'ann', text: 'friday DEPLOY again', seq: 3, ts: expect.any(String) },
      { type: 'message', room: 'Lobby', from: 'ann', text: 'Deploy on Friday', seq: 1, ts: expect.any(String) },
    ]);
    // Everywhere: ann's room (not Dev, which she is not in) and her own DM, with `with`.
    const all = await ask(ann, { type: 'search', query: 'deploy' });
    expect(texts(all)).toEqual(['the deploy password is hunter2', 'friday DEPLOY again', 'Deploy on Friday']);
    expect((all.messages as Event[])[0]).toMatchObject({ to: 'bob', from: 'ann', with: 'bob' });
    // bob sees both DMs, each filed under its other side, and Dev.
    const bobs = await ask(bob, { type: 'search', query: 'hunter2' });
    expect((bobs.messages as Event[]).map((m) => m.with)).toEqual(['cat', 'ann']);
    expect(texts(await ask(bob, { type: 'search', query: 'deploy friday' }))).toEqual(['friday DEPLOY again', 'deploy friday in dev', 'Deploy on Friday']);
    // Pages: next continues below the last one shown.
    const p1 = await ask(bob, { type: 'search', query: 'deploy', limit: 2 });
    expect(p1).toMatchObject({ more: true, next: expect.any(Number) });
    const p2 = await ask(bob, { type: 'search', query: 'deploy', limit: 2, before: p1.next });
    const p3 = await ask(bob, { type: 'search', query: 'deploy', limit: 2, before: p2.next });
    expect([...texts(p1), ...texts(p2), ...texts(p3)]).toEqual([
      'cat tells bob: deploy hunter2',
      'the deploy password is hunter2',
      'friday DEPLOY again',
      'deploy friday in dev',
      'Deploy on Friday',
    ]);
    expect(p3.more).toBe(false);

    // Someone else's DM is never found: not by ann, not with `with`, not by a guest.
    expect(texts(await ask(ann, { type: 'search', query: 'cat tells' }))).toEqual([]);
    expect(texts(await ask(ann, { type: 'search', query: 'hunter2', with: 'cat' }))).toEqual([]);
    expect(texts(await ask(ann, { type: 'search', query: 'hunter2', with: 'BOB' }))).toEqual(['the deploy password is hunter2']);
    expect(texts(await ask(gus, { type: 'search', query: 'hunter2' }))).toEqual([]);
    expect(texts(await ask(gus, { type: 'search', query: 'hunter2', with: 'bob' }))).toEqual([]);
    // A guest finds what is in its rooms.
    expect(texts(await ask(gus, { type: 'search', query: 'today' }))).toEqual(['no deployment today']);

    // Edited: found by the new text only; deleted: not found.
    expect(await ask(ann, { type: 'edit', room: 'lobby', seq: 1, text: 'rollout on Monday' })).toMatchObject({ type: 'ack' });
    expect(texts(await ask(ann, { type: 'search', query: 'deploy', room: 'lobby' }))).toEqual(['friday DEPLOY again']);
    expect(await ask(ann, { type: 'search', query: 'monday', room: 'lobby' })).toMatchObject({ messages: [{ seq: 1, text: 'rollout on Monday', editedTs: expect.any(String) }] });
    expect(await ask(ann, { type: 'delete', room: 'lobby', seq: 3 })).toMatchObject({ type: 'ack' });
    expect(texts(await ask(ann, { type: 'search', query: 'deploy', room: 'lobby' }))).toEqual([]);

    const refusals: [string, Record<string, unknown>, string][] = [
      ['a room one is not in', { query: 'deploy', room: 'dev' }, 'not_member'],
      ['a room that does not exist', { query: 'deploy', room: 'nowhere' }, 'not_member'],
      ['with a name never seen', { query: 'deploy', with: 'nobody' }, 'no_such_user'],
      ['room and with together', { query: 'deploy', room: 'lobby', with: 'bob' }, 'bad_request'],
      ['no words', { query: '?!' }, 'bad_request'],
      ['no query', {}, 'bad_request'],
      ['a query too long', { query: 'a'.repeat(201) }, 'bad_request'],
      ['too many words', { query: 'a b c d e f g h i j k' }, 'bad_request'],
      ['limit over 100', { query: 'deploy', limit: 101 }, 'bad_request'],
      ['a cursor that is no number', { query: 'deploy', before: 'x' }, 'bad_request'],
      ['a bad room name', { query: 'deploy', room: 'a b' }, 'bad_room'],
    ];
    for (const [label, fields, code] of refusals) {
      expect({ label, reply: await ask(ann, { type: 'search', ...fields }) }).toMatchObject({ label, reply: { type: 'error', code } });
    }
  });

  it('the file store answers from its index after a restart (clean and kill -9)', async () => {
    const dir = tempDir();
    const args = ['--data-dir', dir];
    let s = await server(args);
    let ann = track(await accountTcp(s.tcpPort, 'ann'));
    await ask(ann, { type: 'join', room: 'Lobby' });
    for (let i = 1; i <= 30; i++) await say(ann, 'Lobby', `note ${i}${i % 10 === 0 ? ' milestone' : ''}`);
    const want = ['note 30 milestone', 'note 20 milestone', 'note 10 milestone'];
    expect(texts(await ask(ann, { type: 'search', query: 'milestone', room: 'lobby' }))).toEqual(want);
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      ann.close();
      await s.stop(signal);
      s = await server(args);
      ann = track(await accountTcp(s.tcpPort, 'ann'));
      await ask(ann, { type: 'join', room: 'Lobby' });
      expect(texts(await ask(ann, { type: 'search', query: 'milestone', room: 'lobby' }))).toEqual(want);
    }
  });
});
