// Protocol v1 over TCP against the real server process: the basic promise of issue 2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';

let server: RunningServer;
const clients: TcpClient[] = [];

async function user(name: string, room?: string): Promise<TcpClient> {
  const c = await helloTcp(server.tcpPort, name);
  clients.push(c);
  if (room !== undefined) {
    c.send({ type: 'join', room });
    await c.next((e) => e.type === 'joined' && e.name === name);
  }
  return c;
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

describe('chat over TCP', () => {
  it('two users chat both ways with names, seq and ts', async () => {
    const ann = await user('ann', 'general');
    const bob = await user('bob', 'general');
    await ann.next((e) => e.type === 'joined' && e.name === 'bob');
    ann.send({ type: 'say', room: 'general', text: 'hi bob', id: 'a1' });
    const atBob = await bob.next((e) => e.type === 'message' && e.text === 'hi bob');
    expect(atBob).toMatchObject({ room: 'general', from: 'ann' });
    expect(atBob.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const ack = await ann.next((e) => e.type === 'ack');
    expect(ack).toEqual({ type: 'ack', re: 'a1', seq: atBob.seq });
    bob.send({ type: 'say', room: 'General', text: 'hello ann' });
    const atAnn = await ann.next((e) => e.type === 'message' && e.text === 'hello ann');
    expect(atAnn).toMatchObject({ from: 'bob', room: 'general', seq: (atBob.seq as number) + 1 });
    // The sender sees its own message too.
    await bob.next((e) => e.type === 'message' && e.text === 'hello ann');
  });

  it('five users in one room all receive; another room does not', async () => {
    const five = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5'].map((n) => user(n, 'five')));
    const other = await user('outsider', 'elsewhere');
    five[2]!.send({ type: 'say', room: 'five', text: 'to all five' });
    for (const c of five) expect(await c.next((e) => e.type === 'message')).toMatchObject({ from: 'u3', text: 'to all five', room: 'five' });
    other.send({ type: 'ping', id: 'p' });
    await other.next((e) => e.type === 'pong');
    expect(other.events.some((e) => e.type === 'message')).toBe(false);
  });

  it('direct messages reach the recipient and echo to the sender; a name with no account, offline, is not_reachable', async () => {
    const carol = await accountTcp(server.tcpPort, 'carol');
    const dave = await accountTcp(server.tcpPort, 'Dave');
    carol.send({ type: 'dm', to: 'dave', text: 'psst', id: 7 });
    expect(await dave.next((e) => e.type === 'message')).toMatchObject({ from: 'carol', to: 'Dave', text: 'psst', seq: 1 });
    expect(await carol.next((e) => e.type === 'message')).toMatchObject({ from: 'carol', to: 'Dave', text: 'psst' });
    expect(await carol.next((e) => e.type === 'ack')).toEqual({ type: 'ack', re: 7, seq: 1 });
    carol.send({ type: 'dm', to: 'nobody-ever', text: 'x', id: 8 });
    expect(await carol.next((e) => e.type === 'error')).toMatchObject({ code: 'not_reachable', re: 8 });
  });

  it('history with a user pages back through that direct conversation only', async () => {
    const erin = await accountTcp(server.tcpPort, 'Erin');
    const finn = await accountTcp(server.tcpPort, 'finn');
    const gil = await accountTcp(server.tcpPort, 'gil');
    for (let i = 1; i <= 5; i++) {
      (i % 2 ? erin : finn).send({ type: 'dm', to: i % 2 ? 'finn' : 'erin', text: `dm ${i}`, id: `d${i}` });
      await (i % 2 ? erin : finn).next((e) => e.type === 'ack' && e.re === `d${i}`);
    }
    gil.send({ type: 'dm', to: 'finn', text: 'not yours, erin', id: 'g' });
    await gil.next((e) => e.type === 'ack');
    // The server's spelling of the other side comes back in `with`; newest page first, oldest first within it.
    finn.send({ type: 'history', with: 'erin', limit: 3, id: 'h1' });
    const page = await finn.next((e) => e.type === 'history' && e.re === 'h1');
    expect(page).toMatchObject({ with: 'Erin', more: true });
    expect(page.room).toBeUndefined();
    expect((page.messages as { text: string; seq: number }[]).map((m) => [m.seq, m.text])).toEqual([[3, 'dm 3'], [4, 'dm 4'], [5, 'dm 5']]);
    finn.send({ type: 'history', with: 'ERIN', before: 3, id: 'h2' });
    const older = await finn.next((e) => e.type === 'history' && e.re === 'h2');
    expect((older.messages as { seq: number }[]).map((m) => m.seq)).toEqual([1, 2]);
    expect(older.more).toBe(false);
    // Erin sees the same conversation from her side, and nothing of gil's.
    erin.send({ type: 'history', with: 'finn', id: 'h3' });
    const hers = await erin.next((e) => e.type === 'history' && e.re === 'h3');
    expect((hers.messages as { text: string }[]).map((m) => m.text)).toEqual(['dm 1', 'dm 2', 'dm 3', 'dm 4', 'dm 5']);
    erin.send({ type: 'history', with: 'gil', id: 'h4' });
    expect(await erin.next((e) => e.type === 'history' && e.re === 'h4')).toMatchObject({ with: 'gil', messages: [], more: false });
    erin.send({ type: 'history', with: 'nobody-ever', id: 'h5' });
    expect(await erin.next((e) => e.type === 'error' && e.re === 'h5')).toMatchObject({ code: 'no_such_user' });
    erin.send({ type: 'history', room: 'general', with: 'finn', id: 'h6' });
    expect(await erin.next((e) => e.type === 'error' && e.re === 'h6')).toMatchObject({ code: 'bad_request' });
  });

  it('leave, who, rooms, time, ping, bye', async () => {
    const eve = await user('eve', 'hall');
    const fay = await user('fay', 'hall');
    fay.send({ type: 'who', room: 'hall', id: 'w' });
    expect(await fay.next((e) => e.type === 'users')).toMatchObject({ re: 'w', room: 'hall', users: [{ name: 'eve', online: true }, { name: 'fay', online: true }] });
    fay.send({ type: 'rooms', id: 'r' });
    const rooms = await fay.next((e) => e.type === 'rooms');
    expect(rooms.rooms).toContainEqual({ name: 'hall', members: 2 });
    eve.send({ type: 'leave', room: 'hall', id: 'l' });
    expect(await fay.next((e) => e.type === 'left')).toMatchObject({ room: 'hall', name: 'eve' });
    expect(await eve.next((e) => e.type === 'ack')).toEqual({ type: 'ack', re: 'l' });
    eve.send({ type: 'say', room: 'hall', text: 'x', id: 's' });
    expect(await eve.next((e) => e.type === 'error')).toMatchObject({ code: 'not_member', re: 's' });
    fay.send({ type: 'time', id: 't' });
    expect((await fay.next((e) => e.type === 'time')).time).toMatch(/Z$/);
    eve.send({ type: 'bye', id: 'b' });
    expect(await eve.next((e) => e.type === 'bye')).toMatchObject({ reason: 'client', re: 'b' });
    await eve.closed();
  });

  it('a disconnect is announced as left with reason disconnect, and frees the name', async () => {
    const gus = await user('gus', 'porch');
    const hal = await user('hal', 'porch');
    await gus.next((e) => e.type === 'joined' && e.name === 'hal');
    hal.close();
    expect(await gus.next((e) => e.type === 'left')).toMatchObject({ name: 'hal', reason: 'disconnect' });
    const again = await user('HAL');
    expect(again.events.find((e) => e.type === 'welcome')).toMatchObject({ name: 'HAL' });
  });

  it('name_taken and bad_name are not fatal: the client may retry', async () => {
    await user('ivy');
    const c = await import('../helpers/tcp-client.js').then((m) => m.connectTcp(server.tcpPort));
    clients.push(c);
    c.send({ type: 'hello', name: 'IVY', id: 1 });
    expect(await c.next((e) => e.type === 'error')).toMatchObject({ code: 'name_taken', re: 1 });
    c.send({ type: 'hello', name: 'bad name!', id: 2 });
    expect(await c.next((e) => e.type === 'error')).toMatchObject({ code: 'bad_name', re: 2 });
    c.send({ type: 'hello', name: 'ivy2', id: 3 });
    expect(await c.next((e) => e.type === 'welcome')).toMatchObject({ name: 'ivy2', re: 3, protocol: 1 });
  });

  it('join sends members, then history, then joined', async () => {
    const jo = await user('jo', 'hist');
    jo.send({ type: 'say', room: 'hist', text: 'one' });
    jo.send({ type: 'say', room: 'hist', text: 'two', id: 'x' });
    await jo.next((e) => e.type === 'ack');
    const kim = await user('kim');
    const before = kim.events.length;
    kim.send({ type: 'join', room: 'hist', id: 'j' });
    await kim.next((e) => e.type === 'joined' && e.name === 'kim');
    const seen = kim.events.slice(before).map((e) => e.type);
    expect(seen).toEqual(['members', 'history', 'joined']);
    const history = kim.events.find((e) => e.type === 'history')!;
    expect((history.messages as { text: string }[]).map((m) => m.text)).toEqual(['one', 'two']);
  });
});
