// Presence and names across nodes, with real processes and a real redis-server: a name is held by
// one user cluster-wide (two nodes cannot both admit "alice", nor a look-alike beside her), an
// account may be online on several nodes at once, who/whois/rooms/members see every node, and a node
// killed without a word loses its users (left in their rooms, names free) within its node timeout
// plus a heartbeat (12 s by default; these nodes use 4 s, so the test waits ~5 s, not ~12 s).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer } from '../helpers/server.js';
import { accountTcp, connectTcp, helloTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';
import { ask, node } from './cluster-helpers.js';
import { skipWithoutRedis, startRedis, type TestRedis } from './redis-server.js';

const skip = skipWithoutRedis('cluster presence tests');
const NODE_TIMEOUT_MS = 4000;

describe.skipIf(skip)('cluster presence: three nodes, one Redis', () => {
  let redis: TestRedis;
  let a: RunningServer;
  let b: RunningServer;
  let c: RunningServer;
  const open: TcpClient[] = [];
  const track = <T extends TcpClient>(x: T): T => {
    open.push(x);
    return x;
  };

  beforeAll(async () => {
    redis = await startRedis();
    // Every node: the killed node's promise sets when it counts as gone, the others' heartbeats when
    // the purge runs.
    const fast = ['--node-timeout-ms', String(NODE_TIMEOUT_MS)];
    [a, b, c] = await Promise.all([node(redis.url, fast), node(redis.url, fast), node(redis.url, fast)]);
  });
  afterAll(async () => {
    for (const x of open) x.close();
    await Promise.all([a?.stop(), b?.stop(), c?.stop('SIGKILL')]);
    await redis?.kill();
  });

  it('a guest name held on one node is name_taken on another, and so is a look-alike; free again once she leaves', async () => {
    const alice = track(await helloTcp(a.tcpPort, 'alice'));
    const other = track(await connectTcp(b.tcpPort));
    expect(await ask(other, { type: 'hello', name: 'Alice' })).toMatchObject({ type: 'error', code: 'name_taken' });
    expect(await ask(other, { type: 'hello', name: 'aIice' })).toMatchObject({ type: 'error', code: 'name_taken' });
    alice.send({ type: 'bye' });
    await alice.closed();
    const deadline = Date.now() + 5000;
    let answer: Event;
    do answer = await ask(other, { type: 'hello', name: 'alice' });
    while (answer.type !== 'welcome' && Date.now() < deadline);
    expect(answer.type).toBe('welcome');
  });

  it('two hellos for one name on two nodes at the same moment: exactly one is welcomed', async () => {
    for (let round = 0; round < 10; round++) {
      const name = `race${round}`;
      const [x, y] = await Promise.all([connectTcp(a.tcpPort), connectTcp(b.tcpPort)]);
      track(x);
      track(y);
      const [rx, ry] = await Promise.all([ask(x, { type: 'hello', name }), ask(y, { type: 'hello', name })]);
      expect([rx.type, ry.type].sort()).toEqual(['error', 'welcome']);
    }
  });

  it('an account may be online on two nodes at once; who, whois, members and rooms see every node', async () => {
    const ann1 = track(await accountTcp(a.tcpPort, 'ann'));
    const ann2 = track(await accountTcp(b.tcpPort, 'ann'));
    expect(ann2.events.some((e) => e.type === 'welcome')).toBe(true);
    const bea = track(await helloTcp(c.tcpPort, 'bea'));
    for (const x of [ann1, bea]) await ask(x, { type: 'join', room: 'lobby' });
    // A joiner on a third node is told every member, wherever they are.
    const cid = track(await helloTcp(b.tcpPort, 'cid'));
    const members = await ask(cid, { type: 'join', room: 'lobby' });
    expect((members.users as string[]).sort()).toEqual(['ann', 'bea', 'cid']);
    expect(members.guests).toEqual(expect.arrayContaining(['bea', 'cid']));
    const who = await ask(bea, { type: 'who', room: 'lobby' });
    expect((who.users as { name: string }[]).map((u) => u.name)).toEqual(['ann', 'bea', 'cid']);
    const rooms = await ask(ann2, { type: 'rooms' });
    expect(rooms.rooms).toEqual(expect.arrayContaining([{ name: 'lobby', members: 3 }]));
    const whois = await ask(cid, { type: 'whois', name: 'bea' });
    expect(whois).toMatchObject({ type: 'user', name: 'bea', online: true, account: false });
    const users = await ask(cid, { type: 'who' });
    const byName = new Map((users.users as { name: string; online: boolean }[]).map((u) => [u.name, u.online]));
    expect(byName.get('ann')).toBe(true);
    expect(byName.get('bea')).toBe(true);
    // joined reaches members on other nodes.
    await ann1.next((e) => e.type === 'joined' && e.name === 'cid');
  });

  it('joined and left are said once per user, whichever nodes its sessions are on', async () => {
    const gus1 = track(await accountTcp(a.tcpPort, 'gus'));
    const gus2 = track(await accountTcp(b.tcpPort, 'gus'));
    const watcher = track(await helloTcp(c.tcpPort, 'onlooker'));
    await ask(watcher, { type: 'join', room: 'once' });
    await ask(gus1, { type: 'join', room: 'once' });
    await watcher.next((e) => e.type === 'joined' && e.name === 'gus');
    await ask(gus2, { type: 'join', room: 'once' });
    // gus's second session leaves: gus is still in the room (on A), so only that session hears it.
    expect(await ask(gus2, { type: 'leave', room: 'once' })).toMatchObject({ type: 'ack' });
    expect(gus2.events.some((e) => e.type === 'left' && e.room === 'once')).toBe(true);
    await ask(gus1, { type: 'leave', room: 'once' });
    await watcher.next((e) => e.type === 'left' && e.name === 'gus');
    const seen = watcher.events.filter((e) => (e.type === 'joined' || e.type === 'left') && e.name === 'gus').map((e) => e.type);
    expect(seen).toEqual(['joined', 'left']);
  });

  it('DMs with a guest reach it on another node, numbered per pair of sessions; not_reachable once it is gone', async () => {
    const hal = track(await helloTcp(a.tcpPort, 'hal'));
    const ivy = track(await helloTcp(b.tcpPort, 'ivy'));
    expect((await ask(hal, { type: 'dm', to: 'ivy', text: 'one' })).seq).toBe(1);
    expect(await ivy.next((e) => e.type === 'message' && e.text === 'one')).toMatchObject({ from: 'hal', to: 'ivy', seq: 1, guest: true });
    expect((await ask(ivy, { type: 'dm', to: 'hal', text: 'two' })).seq).toBe(2);
    expect(await hal.next((e) => e.type === 'message' && e.text === 'two')).toMatchObject({ from: 'ivy', seq: 2 });
    await hal.next((e) => e.type === 'message' && e.text === 'one');
    ivy.send({ type: 'bye' });
    await ivy.closed();
    let answer: Event;
    const deadline = Date.now() + 5000;
    do answer = await ask(hal, { type: 'dm', to: 'ivy', text: 'three' });
    while (answer.type !== 'error' && Date.now() < deadline);
    expect(answer.code).toBe('not_reachable');
  });

  it('away messages show to members, who and whois on other nodes, and end with the last session', async () => {
    const kim = track(await helloTcp(a.tcpPort, 'kim'));
    await ask(kim, { type: 'join', room: 'afk' });
    await ask(kim, { type: 'away', text: 'at lunch' });
    const lee = track(await helloTcp(b.tcpPort, 'lee'));
    const members = await ask(lee, { type: 'join', room: 'afk' });
    expect(members.away).toEqual({ kim: 'at lunch' });
    expect(((await ask(lee, { type: 'who', room: 'afk' })).users as { name: string; away?: string }[]).find((u) => u.name === 'kim')?.away).toBe('at lunch');
    expect((await ask(lee, { type: 'whois', name: 'kim' })).away).toBe('at lunch');
    await ask(kim, { type: 'away' });
    await lee.next((e) => e.type === 'away' && e.name === 'kim' && e.text === undefined);
    expect((await ask(lee, { type: 'whois', name: 'kim' })).away).toBeUndefined();
  });

  it('a node killed with SIGKILL: its users leave their rooms everywhere and their names are free within its timeout and a heartbeat', async () => {
    const dan = track(await helloTcp(c.tcpPort, 'dan'));
    await ask(dan, { type: 'join', room: 'wake' });
    const eve = track(await helloTcp(a.tcpPort, 'eve'));
    await ask(eve, { type: 'join', room: 'wake' });
    const killedAt = Date.now();
    await c.stop('SIGKILL');
    const left = await eve.next((e) => e.type === 'left' && e.name === 'dan' && e.room === 'wake', 16_000);
    expect(left.reason).toBe('disconnect');
    expect(Date.now() - killedAt).toBeLessThan(NODE_TIMEOUT_MS * 1.2 + 1000);
    const again = track(await connectTcp(b.tcpPort));
    expect((await ask(again, { type: 'hello', name: 'dan' })).type).toBe('welcome');
    const who = await ask(eve, { type: 'who', room: 'wake' });
    expect((who.users as { name: string }[]).map((u) => u.name)).toEqual(['eve']);
  }, 30_000);
});
