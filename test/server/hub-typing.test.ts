// typing: ephemeral, to the other members (or the DM recipient's sessions), throttled per sender.
import { describe, expect, it } from 'vitest';
import { reply, settle, setup } from '../helpers/hub-harness.js';

describe('typing', () => {
  it('reaches the other members of the room but not the sender, is never stored, and extras within a second are dropped silently', async () => {
    const { user, store } = setup();
    const ann = await user('ann', { account: true });
    const ann2 = await user('ann', { account: true });
    const bob = await user('bob');
    for (const u of [ann, ann2, bob]) u.send({ type: 'join', room: 'Lobby' });
    await settle();
    ann.send({ type: 'typing', room: 'lobby', id: 't1' });
    expect(await reply(ann.peer, 't1')).toEqual({ type: 'ack', re: 't1' });
    ann.send({ type: 'typing', room: 'lobby', id: 't2' });
    expect(await reply(ann.peer, 't2')).toEqual({ type: 'ack', re: 't2' });
    await settle();
    expect(bob.peer.events.filter((e) => e.type === 'typing')).toEqual([{ type: 'typing', room: 'Lobby', name: 'ann' }]);
    expect(ann.peer.events.some((e) => e.type === 'typing')).toBe(false);
    expect(ann2.peer.events.some((e) => e.type === 'typing')).toBe(false);
    expect(store.waiting).toBe(0);
    expect((await store.history('r:lobby', { limit: 10 })).messages).toEqual([]);
  });

  it('to a user goes to that user\'s sessions only; to someone offline it is accepted and goes nowhere', async () => {
    const { user } = setup();
    const ann = await user('ann');
    const bob = await user('bob', { account: true });
    const bob2 = await user('bob', { account: true });
    const cat = await user('cat');
    ann.send({ type: 'typing', to: 'BOB', id: 1 });
    expect(await reply(ann.peer, 1)).toMatchObject({ type: 'ack' });
    await settle();
    for (const b of [bob, bob2]) expect(b.peer.events.filter((e) => e.type === 'typing')).toEqual([{ type: 'typing', to: 'bob', name: 'ann' }]);
    expect(cat.peer.events.some((e) => e.type === 'typing')).toBe(false);
    ann.send({ type: 'typing', to: 'nobody', id: 2 });
    expect(await reply(ann.peer, 2)).toEqual({ type: 'ack', re: 2 });
  });

  it('in a room one is not in is not_member', async () => {
    const { user } = setup();
    const ann = await user('ann');
    ann.send({ type: 'typing', room: 'elsewhere', id: 'x' });
    expect(await reply(ann.peer, 'x')).toMatchObject({ type: 'error', code: 'not_member' });
  });
});
