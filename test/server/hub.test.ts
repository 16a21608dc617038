// The hub's ordering and pacing rules with a store whose writes complete, and whose reads answer, only
// when the test says so: this is where "no gap, no duplicate" between history and live messages is
// decided, so it is tested with every interleaving a slow disk can produce.
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { settle, setup, waitFor } from '../helpers/hub-harness.js';

const seqs = (msgs: ChatMessage[]): number[] => msgs.map((m) => m.seq);

describe('hub ordering with a slow store', () => {
  it('sends nothing and acks nothing before the store says durable', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    ann.send({ type: 'say', room: 'r', text: 'one', id: 1 });
    await settle();
    expect(ann.peer.events.some((e) => e.type === 'message' || e.type === 'ack')).toBe(false);
    store.release();
    await settle();
    expect(ann.peer.events.slice(-2).map((e) => e.type)).toEqual(['message', 'ack']);
  });

  it('a join while messages are in flight gets history then live with no gap and no duplicate', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    await settle();
    for (let i = 1; i <= 5; i++) ann.send({ type: 'say', room: 'r', text: `m${i}` });
    await settle();
    store.release(2); // m1, m2 durable; m3..m5 still in flight
    const bob = await user('bob');
    bob.send({ type: 'join', room: 'r' });
    await settle();
    expect(seqs(bob.peer.messages())).toEqual([1, 2]);
    ann.send({ type: 'say', room: 'r', text: 'm6' });
    await settle();
    store.release();
    await settle();
    expect(seqs(bob.peer.messages())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seqs(ann.peer.messages())).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('messages stored while the history read is in flight arrive once, after the history, in order', async () => {
    for (let releasedDuringRead = 0; releasedDuringRead <= 4; releasedDuringRead++) {
      for (const since of [undefined, 0, 1, 3]) {
        const { store, user } = setup();
        const ann = await user('ann');
        ann.send({ type: 'join', room: 'r' });
        await settle();
        for (let i = 1; i <= 6; i++) ann.send({ type: 'say', room: 'r', text: `m${i}` });
        await settle();
        store.release(2);
        await settle();
        const bob = await user('bob');
        await settle();
        store.holdReads();
        bob.send(since === undefined ? { type: 'join', room: 'r' } : { type: 'join', room: 'r', since });
        await settle();
        // Messages become durable and are published while bob's history read is held.
        store.release(releasedDuringRead);
        await settle();
        store.releaseReads();
        await settle();
        store.release();
        await settle();
        const label = `released during read=${releasedDuringRead} since=${since}`;
        // A `since` beyond what was stored when the join came is clamped to it (nobody saw more).
        expect(seqs(bob.peer.messages()), label).toEqual([1, 2, 3, 4, 5, 6].filter((s) => s > Math.min(since ?? 0, 2)));
        // The joiner's own `joined` comes after its history and the catch-up.
        const types = bob.peer.events.map((e) => e.type);
        expect(types.indexOf('joined'), label).toBeGreaterThan(types.lastIndexOf('history'));
      }
    }
  });

  it('resume with since in every interleaving delivers each message exactly once', async () => {
    for (let durable = 0; durable <= 6; durable++) {
      for (let since = 0; since <= 6; since++) {
        const { store, user } = setup();
        const ann = await user('ann');
        ann.send({ type: 'join', room: 'r' });
        await settle();
        for (let i = 1; i <= 6; i++) ann.send({ type: 'say', room: 'r', text: `m${i}` });
        await settle();
        store.release(durable);
        const bob = await user('bob');
        bob.send({ type: 'join', room: 'r', since });
        await settle();
        store.release();
        await settle();
        const expected = [1, 2, 3, 4, 5, 6].filter((s) => s > Math.min(since, durable));
        expect(seqs(bob.peer.messages()), `durable=${durable} since=${since}`).toEqual(expected);
      }
    }
  });

  it('a failed write is reported as unavailable and reaches nobody; the next message takes its seq', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    const bob = await user('bob');
    for (const u of [ann, bob]) u.send({ type: 'join', room: 'r' });
    await settle();
    ann.send({ type: 'say', room: 'r', text: 'lost', id: 'x' });
    await settle();
    store.fail();
    await settle();
    expect(bob.peer.messages()).toEqual([]);
    expect(ann.peer.events.at(-1)).toMatchObject({ type: 'error', code: 'unavailable', re: 'x' });
    expect(ann.peer.events.some((e) => e.type === 'ack')).toBe(false);
    ann.send({ type: 'say', room: 'r', text: 'kept', id: 'y' });
    await settle();
    store.release();
    await settle();
    expect(bob.peer.messages().map((m) => [m.seq, m.text])).toEqual([[1, 'kept']]);
  });

  it('a failed read is answered unavailable and the connection goes on', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    await settle();
    store.failReads = true;
    ann.send({ type: 'history', room: 'r', id: 'h' });
    await settle();
    expect(ann.peer.events.at(-1)).toMatchObject({ type: 'error', code: 'unavailable', re: 'h' });
    store.failReads = false;
    ann.send({ type: 'ping', id: 'p' });
    await settle();
    expect(ann.peer.events.at(-1)).toMatchObject({ type: 'pong', re: 'p' });
  });

  it('a DM whose recipient connects while it is in flight arrives exactly once', async () => {
    const { store, user } = setup();
    const bob1 = await user('bob', { account: true });
    await settle();
    bob1.session.disconnected();
    const ann = await user('ann', { account: true });
    ann.send({ type: 'dm', to: 'bob', text: 'first' });
    await settle();
    store.release();
    ann.send({ type: 'dm', to: 'bob', text: 'second' });
    await settle();
    const bob = await user('bob', { account: true });
    await settle();
    expect(bob.peer.messages().map((m) => m.text)).toEqual(['first']);
    store.release();
    await settle();
    expect(bob.peer.messages().map((m) => m.text)).toEqual(['first', 'second']);
    bob.session.disconnected();
    const bobAgain = await user('bob', { account: true });
    await settle();
    expect(bobAgain.peer.messages()).toEqual([]);
  });

  it('a DM stored while the inbox is being read is delivered once, in order, and leaves the inbox', async () => {
    const { store, user } = setup();
    const first = await user('bob', { account: true });
    await settle();
    first.session.disconnected();
    const ann = await user('ann', { account: true });
    await settle();
    for (const text of ['a', 'b']) ann.send({ type: 'dm', to: 'bob', text });
    await settle();
    store.release();
    ann.send({ type: 'dm', to: 'bob', text: 'c' });
    await settle();
    store.holdReads();
    const bob = await user('bob', { account: true });
    await settle();
    await settle(); // the password check runs off the loop
    store.release(); // c becomes durable while bob's first inbox read is held
    await settle();
    store.releaseReads();
    await settle();
    expect(bob.peer.messages().map((m) => m.text)).toEqual(['a', 'b', 'c']);
    expect(await store.inbox('@bob', 10)).toEqual([]);
  });

  it('history with a user lists only stored DMs; one still in flight arrives live after it', async () => {
    const { store, user } = setup();
    const ann = await user('ann', { account: true });
    const bob = await user('bob', { account: true });
    await settle();
    for (const text of ['d1', 'd2', 'd3']) ann.send({ type: 'dm', to: 'bob', text });
    await settle();
    store.release(2);
    bob.send({ type: 'history', with: 'ANN', id: 'h' });
    await settle();
    const at = bob.peer.events.findIndex((e) => e.type === 'history');
    const page = bob.peer.events[at];
    expect(page).toMatchObject({ type: 'history', with: 'ann', re: 'h', more: false });
    expect(page?.type === 'history' ? seqs(page.messages) : []).toEqual([1, 2]);
    store.release();
    await settle();
    const live = bob.peer.events.findIndex((e) => e.type === 'message' && e.seq === 3);
    expect(live).toBeGreaterThan(at);
  });

  it('queued DMs arrive right after welcome, before anything else', async () => {
    const { store, user } = setup();
    const first = await user('carl', { account: true });
    await settle();
    first.session.disconnected();
    const ann = await user('ann', { account: true });
    await settle();
    ann.send({ type: 'dm', to: 'carl', text: 'while you were out' });
    await settle();
    store.release();
    const carl = await user('carl', { account: true });
    carl.send({ type: 'ping', id: 1 });
    await waitFor(() => carl.peer.events.length >= 3);
    expect(carl.peer.events.map((e) => e.type)).toEqual(['welcome', 'message', 'pong']);
  });

  it('a room with messages in flight outlives its last member', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    ann.send({ type: 'say', room: 'r', text: 'bye all' });
    await settle();
    ann.session.disconnected();
    store.release();
    const bob = await user('bob');
    bob.send({ type: 'join', room: 'r' });
    await settle();
    expect(bob.peer.messages().map((m) => m.text)).toEqual(['bye all']);
    expect(store.waiting).toBe(0);
  });
});

describe('hub pacing', () => {
  it('serves requests one at a time: the peer is paused while a store read runs', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    await settle();
    store.holdReads();
    for (let i = 0; i < 50; i++) ann.send({ type: 'history', room: 'r', id: i });
    await settle();
    expect(ann.peer.paused).toBe(true);
    expect(store.heldReadCount).toBe(1);
    store.releaseReads();
    await settle();
    expect(ann.peer.events.filter((e) => e.type === 'history' && e.re !== undefined).map((e) => (e as { re: number }).re)).toEqual([...Array(50).keys()]);
  });

  it('stops reading a connection whose unsent output is high, and reads on when it drains', async () => {
    const { user } = setup();
    const ann = await user('ann');
    await settle();
    ann.peer.bufferedBytes = 10 * 1024 * 1024;
    ann.send({ type: 'ping', id: 1 });
    ann.send({ type: 'ping', id: 2 });
    await settle();
    expect(ann.peer.paused).toBe(true);
    expect(ann.peer.events.filter((e) => e.type === 'pong')).toHaveLength(1);
    ann.peer.bufferedBytes = 0;
    ann.session.drained();
    await settle();
    expect(ann.peer.events.filter((e) => e.type === 'pong')).toHaveLength(2);
  });

  it('stops reading a connection with too many messages on their way to disk', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    await settle();
    for (let i = 0; i < 200; i++) ann.send({ type: 'say', room: 'r', text: `m${i}` });
    await settle();
    expect(ann.peer.paused).toBe(true);
    expect(store.waiting).toBeLessThan(100);
    while (store.waiting > 0) {
      store.release();
      await settle();
    }
    expect(seqs(ann.peer.messages())).toHaveLength(200);
    expect(ann.peer.paused).toBe(false);
  });

  it('an unexpected exception in a handler is answered internal and the hub carries on', async () => {
    const { store, user } = setup();
    const ann = await user('ann');
    await settle();
    store.users = () => {
      throw new TypeError('boom');
    };
    ann.send({ type: 'who', id: 'w' });
    ann.send({ type: 'ping', id: 'p' });
    await settle();
    expect(ann.peer.events.slice(-2)).toMatchObject([
      { type: 'error', code: 'internal', re: 'w' },
      { type: 'pong', re: 'p' },
    ]);
  });

  it('who without a room is paged', async () => {
    const { user } = setup();
    const names = ['cat', 'ann', 'Bob', 'dan', 'eve'];
    for (const n of names) await user(n);
    await settle();
    const ann = await user('zed');
    ann.send({ type: 'who', limit: 2, id: 1 });
    ann.send({ type: 'who', limit: 2, after: 'bob', id: 2 });
    await settle();
    const pages = ann.peer.events.filter((e) => e.type === 'users');
    expect(pages).toMatchObject([
      { users: [{ name: 'ann' }, { name: 'Bob' }], more: true },
      { users: [{ name: 'cat' }, { name: 'dan' }], more: true },
    ]);
  });
});

describe('hub room membership', () => {
  it('leaving one of several rooms keeps the others, in any order, and a disconnect leaves them all', async () => {
    const { store, user } = setup();
    const a = await user('alice');
    const b = await user('bob');
    for (const r of ['r1', 'r2', 'r3', 'r4']) {
      a.send({ type: 'join', room: r });
      b.send({ type: 'join', room: r });
    }
    await settle();
    a.send({ type: 'leave', room: 'R2' });
    a.send({ type: 'leave', room: 'r4' });
    a.send({ type: 'leave', room: 'r2', id: 'again' });
    await settle();
    const errors = a.peer.events.filter((e) => e.type === 'error');
    expect(errors).toEqual([expect.objectContaining({ code: 'not_member', re: 'again' })]);
    for (const r of ['r1', 'r2', 'r3', 'r4']) a.send({ type: 'say', room: r, text: `to ${r}`, id: r });
    await settle();
    store.release();
    await settle();
    expect(a.peer.events.filter((e) => e.type === 'ack').map((e) => (e as { re: string }).re)).toEqual(['r1', 'r3']);
    expect(a.peer.events.filter((e) => e.type === 'error').map((e) => (e as { re: string }).re)).toEqual(['again', 'r2', 'r4']);
    // Rejoining a room one is in is not a second membership: one `joined` for bob, not two.
    const before = b.peer.events.filter((e) => e.type === 'joined').length;
    a.send({ type: 'join', room: 'r1' });
    a.send({ type: 'join', room: 'r2' });
    await settle();
    expect(b.peer.events.filter((e) => e.type === 'joined').length).toBe(before + 1);
    a.session.disconnected();
    const left = b.peer.events.filter((e) => e.type === 'left' && (e as { reason?: string }).reason === 'disconnect');
    expect(left.map((e) => (e as { room: string }).room).sort()).toEqual(['r1', 'r2', 'r3']);
  });
});

describe('leaving', () => {
  it('after bye, the rooms hear a plain left; a dropped connection is left with reason disconnect', async () => {
    const { user } = setup();
    const watcher = await user('watcher');
    const polite = await user('polite');
    const dropped = await user('dropped');
    for (const u of [watcher, polite, dropped]) u.send({ type: 'join', room: 'r' });
    await settle();
    polite.send({ type: 'bye' });
    dropped.session.disconnected();
    await settle();
    const lefts = watcher.peer.events.filter((e) => e.type === 'left');
    expect(lefts).toEqual([
      { type: 'left', room: 'r', name: 'polite', ts: expect.any(String) },
      { type: 'left', room: 'r', name: 'dropped', ts: expect.any(String), reason: 'disconnect' },
    ]);
  });
});
