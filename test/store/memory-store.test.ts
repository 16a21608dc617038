// MemoryStore: the same contract as the file store, in the heap.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory-store.js';
import { dmConv, roomConv } from '../../server/store/store.js';
import { dm, historySeqs, range, say, seqs } from './store-helpers.js';

describe('MemoryStore', () => {
  it('numbers per conversation; done runs as a microtask, in append order; only then is it served', async () => {
    const store = new MemoryStore({ historyPerRoom: 3 });
    const order: number[] = [];
    for (let i = 1; i <= 5; i++) store.append(roomConv('lobby'), { room: 'Lobby', from: 'a', text: `t${i}` }, undefined, (_e, m) => order.push(m!.seq));
    expect(order).toEqual([]);
    expect(await store.lastSeq(roomConv('lobby'))).toBe(0); // read before the microtasks ran
    await Promise.resolve();
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(await store.lastSeq(roomConv('lobby'))).toBe(5);
    expect(await historySeqs(store, 'Lobby')).toEqual([3, 4, 5]);
    expect(await store.rooms()).toEqual(['Lobby']);
  });

  it('history before the done fires does not include the message', async () => {
    const store = new MemoryStore({ historyPerRoom: 100 });
    await say(store);
    const page = store.history(roomConv('lobby'), { limit: 10 });
    store.append(roomConv('lobby'), { room: 'Lobby', from: 'a', text: 'late' }, undefined, () => {});
    expect(seqs((await page).messages)).toEqual([1]);
  });

  it('pages both ways; inbox by identity, with retention and a limit; users paged', async () => {
    const store = new MemoryStore({ historyPerRoom: 3 });
    for (let i = 0; i < 3; i++) await say(store);
    const fwd = await store.history(roomConv('lobby'), { after: 1, limit: 1, from: 'oldest' });
    expect([seqs(fwd.messages), fwd.more]).toEqual([[2], true]);
    for (let i = 1; i <= 5; i++) await dm(store, 'carol', 'bob', true, `m${i}`);
    expect((await store.inbox('bob', 10)).map((i) => i.msg.text)).toEqual(['m3', 'm4', 'm5']);
    expect((await store.inbox('bob', 2)).map((i) => i.msg.text)).toEqual(['m3', 'm4']);
    let done = false;
    store.markDelivered('bob', [{ conv: dmConv('bob', 'carol'), seq: 4 }], () => (done = true));
    expect((await store.inbox('bob', 10)).map((i) => i.msg.text)).toEqual(['m3', 'm5']);
    expect(done).toBe(true);
    store.rememberUser('Zed', 't');
    store.rememberUser('amy', 't');
    expect((await store.users(undefined, 5)).users.map((u) => u.name)).toEqual(['amy', 'Zed']);
    expect(await store.knownUser('zed')).toEqual({ name: 'Zed', lastSeen: 't' });
  });

  it('retention over many messages keeps the newest N cheaply', async () => {
    const store = new MemoryStore({ historyPerRoom: 1500 });
    for (let i = 0; i < 5000; i++) store.append(roomConv('lobby'), { room: 'Lobby', from: 'a', text: 'x' }, undefined, () => {});
    await new Promise((r) => setImmediate(r));
    expect(await historySeqs(store, 'Lobby')).toEqual(range(3501, 5000));
  });
});
