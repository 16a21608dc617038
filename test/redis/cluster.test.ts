// Two (or three) real server processes sharing one real redis-server: one order per conversation
// whichever node a message was sent to, delivery to each node's own members, history and resume
// from the streams, accounts, tokens, topics and offline inboxes shared, and client message ids
// (mid) stored once.
import { describe, expect, it } from 'vitest';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { ask, roomMessages, twoNodesOnOneRedis, until } from './cluster-helpers.js';
import { skipWithoutRedis } from './redis-server.js';

const skip = skipWithoutRedis('cluster tests');

const messages = roomMessages;

async function join(c: TcpClient, room: string, extra: Record<string, unknown> = {}): Promise<void> {
  const id = `join-${room}-${Math.random()}`;
  c.send({ type: 'join', room, id, ...extra });
  await c.next((e) => e.type === 'members' && e.re === id);
  await c.next((e) => e.type === 'joined' && e.room === room && e.name === c.events.find((w) => w.type === 'welcome')?.name);
}

describe.skipIf(skip)('cluster: two nodes, one Redis', () => {
  const nodes = twoNodesOnOneRedis();
  const track = nodes.track;

  it('a message said on one node reaches members on both, numbered once, acked with its seq', async () => {
    const alice = track(await helloTcp(nodes.a.tcpPort, 'alice'));
    const bob = track(await helloTcp(nodes.b.tcpPort, 'bob'));
    await join(alice, 'general');
    await join(bob, 'general');
    alice.send({ type: 'say', room: 'general', text: 'hi from A', id: 1 });
    const ack = await alice.next((e) => e.type === 'ack' && e.re === 1);
    expect(ack.seq).toBe(1);
    const onB = await bob.next((e) => e.type === 'message' && e.text === 'hi from A');
    expect(onB).toMatchObject({ room: 'general', from: 'alice', seq: 1 });
    bob.send({ type: 'say', room: 'general', text: 'hi from B', id: 2 });
    expect((await alice.next((e) => e.type === 'message' && e.text === 'hi from B')).seq).toBe(2);
    expect((await bob.next((e) => e.type === 'message' && e.text === 'hi from B')).seq).toBe(2);
    // The sender's own node delivers from the notice too: exactly once.
    await until('echoes', () => messages(alice, 'general').length === 2 && messages(bob, 'general').length === 2);
  });

  it('senders on both nodes at once: every member sees 1..N once each, in order, the same sequence everywhere', async () => {
    const senders = [track(await helloTcp(nodes.a.tcpPort, 'sa')), track(await helloTcp(nodes.b.tcpPort, 'sb')), track(await helloTcp(nodes.a.tcpPort, 'sc'))];
    const watchers = [track(await helloTcp(nodes.a.tcpPort, 'wa')), track(await helloTcp(nodes.b.tcpPort, 'wb'))];
    for (const c of [...senders, ...watchers]) await join(c, 'race');
    const PER = 150;
    for (let i = 0; i < PER; i++) for (const [k, s] of senders.entries()) s.send({ type: 'say', room: 'race', text: `${k}:${i}`, id: `${k}-${i}` });
    const total = PER * senders.length;
    for (const w of [...watchers, ...senders]) await until(`all ${total}`, () => messages(w, 'race').length >= total, 30_000);
    const seqs = messages(watchers[0]!, 'race').map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const order = (c: TcpClient): string[] => messages(c, 'race').map((m) => `${String(m.seq)}:${String(m.text)}`);
    for (const c of [...watchers, ...senders]) expect(order(c)).toEqual(order(watchers[0]!));
    // Each sender's own messages keep the order it sent them in.
    for (let k = 0; k < senders.length; k++) {
      const mine = order(watchers[1]!).filter((t) => t.split(':')[1] === String(k)).map((t) => Number(t.split(':')[2]));
      expect(mine).toEqual(Array.from({ length: PER }, (_, i) => i));
    }
  }, 60_000);

  it('timestamps never go backwards with seq', async () => {
    const w = track(await helloTcp(nodes.b.tcpPort, 'tsw'));
    w.send({ type: 'join', room: 'race', history: 1000, id: 'h' });
    const h = await w.next((e) => e.type === 'history' && e.room === 'race');
    const ts = (h.messages as { ts: string }[]).map((m) => m.ts);
    expect(ts.length).toBeGreaterThan(100);
    expect([...ts].sort()).toEqual(ts);
  });

  it('history, join with since, and a resume on the other node read the stream', async () => {
    const carol = track(await helloTcp(nodes.b.tcpPort, 'carol'));
    carol.send({ type: 'join', room: 'general', since: 1, id: 'since' });
    const h = await carol.next((e) => e.type === 'history' && e.room === 'general');
    expect((h.messages as { seq: number; text: string }[]).map((m) => [m.seq, m.text])).toEqual([[2, 'hi from B']]);
    carol.send({ type: 'history', room: 'general', limit: 1, id: 'page' });
    const page = await carol.next((e) => e.re === 'page');
    expect(page).toMatchObject({ type: 'history', more: true });
    expect((page.messages as { seq: number }[]).map((m) => m.seq)).toEqual([2]);
  });

  it('accounts, tokens and topics are shared: register on A, log in with the token on B', async () => {
    const dora = track(await accountTcp(nodes.a.tcpPort, 'dora'));
    const token = dora.events.find((e) => e.re === 'register')?.token;
    expect(typeof token).toBe('string');
    dora.close();
    const { connectTcp } = await import('../helpers/tcp-client.js');
    const again = track(await connectTcp(nodes.b.tcpPort));
    again.send({ type: 'hello', name: 'dora', token, id: 'h' });
    expect((await again.next((e) => e.re === 'h')).type).toBe('welcome');
    const guest = track(await connectTcp(nodes.b.tcpPort));
    guest.send({ type: 'hello', name: 'Dora', id: 'g' });
    expect((await guest.next((e) => e.re === 'g')).code).toBe('auth_required');
    await join(again, 'topics');
    again.send({ type: 'topic', room: 'topics', text: 'shared topic', id: 't' });
    await again.next((e) => e.re === 't');
    const asker = track(await helloTcp(nodes.a.tcpPort, 'asker'));
    asker.send({ type: 'topic', room: 'topics', id: 'q' });
    expect((await asker.next((e) => e.re === 'q')).text).toBe('shared topic');
  });

  it('a DM between accounts on different nodes arrives once; to an offline account it waits in its inbox', async () => {
    const erin = track(await accountTcp(nodes.a.tcpPort, 'erin'));
    const fred = track(await accountTcp(nodes.b.tcpPort, 'fred'));
    erin.send({ type: 'dm', to: 'fred', text: 'psst', id: 'd1' });
    expect((await erin.next((e) => e.re === 'd1')).seq).toBe(1);
    expect(await fred.next((e) => e.type === 'message' && e.text === 'psst')).toMatchObject({ from: 'erin', to: 'fred', seq: 1 });
    await erin.next((e) => e.type === 'message' && e.text === 'psst');
    fred.close();
    await until('fred offline', () => fred.socket.destroyed);
    // Offline as far as the cluster knows (node B has released his session), so the DM is queued.
    await until('fred offline everywhere', async () => (await ask(erin, { type: 'whois', name: 'fred' })).online === false);
    erin.send({ type: 'dm', to: 'fred', text: 'while you were out', id: 'd2' });
    expect((await erin.next((e) => e.re === 'd2')).seq).toBe(2);
    const back = track(await accountTcp(nodes.a.tcpPort, 'fred'));
    expect(await back.next((e) => e.type === 'message' && e.text === 'while you were out')).toMatchObject({ seq: 2 });
    back.send({ type: 'history', with: 'erin', id: 'hw' });
    const hist = await back.next((e) => e.re === 'hw');
    expect((hist.messages as { seq: number }[]).map((m) => m.seq)).toEqual([1, 2]);
  });

  it('a say repeated with the same mid is stored once: the repeat is acked with the first seq and delivered to nobody', async () => {
    const gil = track(await helloTcp(nodes.a.tcpPort, 'gil'));
    const watcher = track(await helloTcp(nodes.b.tcpPort, 'midwatch'));
    await join(gil, 'mid');
    await join(watcher, 'mid');
    gil.send({ type: 'say', room: 'mid', text: 'once', mid: 'm-1', id: 'x1' });
    const first = await gil.next((e) => e.re === 'x1');
    gil.send({ type: 'say', room: 'mid', text: 'once', mid: 'm-1', id: 'x2' });
    const second = await gil.next((e) => e.re === 'x2');
    expect(second).toMatchObject({ type: 'ack', seq: first.seq });
    gil.send({ type: 'say', room: 'mid', text: 'after', mid: 'm-2', id: 'x3' });
    await watcher.next((e) => e.type === 'message' && e.text === 'after');
    expect(messages(watcher, 'mid').map((m) => m.text)).toEqual(['once', 'after']);
    gil.send({ type: 'say', room: 'mid', text: 'x', mid: 'y'.repeat(65), id: 'x4' });
    expect((await gil.next((e) => e.re === 'x4')).code).toBe('bad_request');
  });

  it('/healthz reports the node, Redis, and ok', async () => {
    const res = await fetch(`http://127.0.0.1:${nodes.a.httpPort}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', store: 'redis', redis: { connected: true, subscribed: true } });
  });
});
