// edit, delete, react, unreact through the hub: who may, who hears it, what history shows after.
import { describe, expect, it } from 'vitest';
import { reply, settle, setup } from '../helpers/hub-harness.js';

async function roomWithMessage() {
  const h = setup();
  const ann = await h.user('ann', { account: true });
  const bob = await h.user('bob', { account: true });
  for (const u of [ann, bob]) u.send({ type: 'join', room: 'Lobby' });
  await settle();
  ann.send({ type: 'say', room: 'lobby', text: 'helo', id: 's' });
  await settle();
  h.store.release();
  await reply(ann.peer, 's');
  return { ...h, ann, bob };
}

describe('edit and delete', () => {
  it('the author edits and deletes; every member hears edited/deleted; history shows the latest state', async () => {
    const { ann, bob, user } = await roomWithMessage();
    ann.send({ type: 'edit', room: 'lobby', seq: 1, text: 'hello', id: 'e' });
    expect(await reply(ann.peer, 'e')).toEqual({ type: 'ack', re: 'e' });
    for (const u of [ann, bob]) expect(u.peer.events.find((e) => e.type === 'edited')).toEqual({ type: 'edited', room: 'Lobby', seq: 1, text: 'hello', editedTs: expect.any(String) });
    const cat = await user('cat');
    cat.send({ type: 'join', room: 'lobby' });
    await settle();
    expect(cat.peer.messages()[0]).toMatchObject({ seq: 1, text: 'hello', editedTs: expect.any(String) });
    ann.send({ type: 'delete', room: 'lobby', seq: 1, id: 'd' });
    expect(await reply(ann.peer, 'd')).toEqual({ type: 'ack', re: 'd' });
    expect(bob.peer.events.find((e) => e.type === 'deleted')).toEqual({ type: 'deleted', room: 'Lobby', seq: 1 });
    bob.send({ type: 'history', room: 'lobby', id: 'h' });
    expect(await reply(bob.peer, 'h')).toMatchObject({ messages: [{ seq: 1, text: '', deleted: true }] });
    ann.send({ type: 'edit', room: 'lobby', seq: 1, text: 'again', id: 'e2' });
    expect(await reply(ann.peer, 'e2')).toMatchObject({ type: 'error', code: 'no_such_message' });
  });

  it('refusals: not_author, no_such_message, not_member', async () => {
    const { bob, user } = await roomWithMessage();
    bob.send({ type: 'edit', room: 'lobby', seq: 1, text: 'mine now', id: 1 });
    expect(await reply(bob.peer, 1)).toMatchObject({ type: 'error', code: 'not_author' });
    bob.send({ type: 'delete', room: 'lobby', seq: 1, id: 2 });
    expect(await reply(bob.peer, 2)).toMatchObject({ type: 'error', code: 'not_author' });
    bob.send({ type: 'delete', room: 'lobby', seq: 7, id: 3 });
    expect(await reply(bob.peer, 3)).toMatchObject({ type: 'error', code: 'no_such_message' });
    const out = await user('out');
    out.send({ type: 'edit', room: 'lobby', seq: 1, text: 'x', id: 4 });
    expect(await reply(out.peer, 4)).toMatchObject({ type: 'error', code: 'not_member' });
  });

  it('a guest edits what it wrote on this connection, not what a former holder of its name wrote; guest DMs cannot be changed', async () => {
    const { user, store } = setup();
    const gus = await user('gus');
    gus.send({ type: 'join', room: 'r' });
    await settle();
    gus.send({ type: 'say', room: 'r', text: 'one' });
    await settle();
    store.release();
    await settle();
    gus.send({ type: 'edit', room: 'r', seq: 1, text: 'uno', id: 'e' });
    expect(await reply(gus.peer, 'e')).toEqual({ type: 'ack', re: 'e' });
    gus.session.disconnected();
    const gus2 = await user('gus');
    gus2.send({ type: 'join', room: 'r' });
    await settle();
    gus2.send({ type: 'delete', room: 'r', seq: 1, id: 'd' });
    expect(await reply(gus2.peer, 'd')).toMatchObject({ type: 'error', code: 'not_author' });
    const bob = await user('bob');
    gus2.send({ type: 'dm', to: 'bob', text: 'live only' });
    gus2.send({ type: 'edit', to: 'bob', seq: 1, text: 'x', id: 'x' });
    expect(await reply(gus2.peer, 'x')).toMatchObject({ type: 'error', code: 'no_such_message' });
    void bob;
  });

  it('a stored DM: both sides hear edited with the message\'s to and from', async () => {
    const { user, store } = setup();
    const ann = await user('ann', { account: true });
    const bob = await user('bob', { account: true });
    ann.send({ type: 'dm', to: 'bob', text: 'psst' });
    await settle();
    store.release();
    await settle();
    ann.send({ type: 'edit', to: 'bob', seq: 1, text: 'hush', id: 'e' });
    await reply(ann.peer, 'e');
    const edited = { type: 'edited', to: 'bob', from: 'ann', seq: 1, text: 'hush', editedTs: expect.any(String) };
    for (const u of [ann, bob]) expect(u.peer.events.find((e) => e.type === 'edited')).toEqual(edited);
    bob.send({ type: 'react', to: 'ann', seq: 1, emoji: '👀', id: 'r' });
    await reply(bob.peer, 'r');
    for (const u of [ann, bob]) expect(u.peer.events.find((e) => e.type === 'reactions')).toEqual({ type: 'reactions', to: 'bob', from: 'ann', seq: 1, counts: { '👀': ['bob'] } });
  });
});

describe('reactions', () => {
  it('react and unreact tell every member the counts, history carries them, and the emoji per message are bounded', async () => {
    const { ann, bob } = await roomWithMessage();
    bob.send({ type: 'react', room: 'lobby', seq: 1, emoji: '👍', id: 1 });
    await reply(bob.peer, 1);
    ann.send({ type: 'react', room: 'lobby', seq: 1, emoji: '👍', id: 2 });
    await reply(ann.peer, 2);
    expect(bob.peer.events.filter((e) => e.type === 'reactions').at(-1)).toEqual({ type: 'reactions', room: 'Lobby', seq: 1, counts: { '👍': ['bob', 'ann'] } });
    bob.send({ type: 'unreact', room: 'lobby', seq: 1, emoji: '👍', id: 3 });
    await reply(bob.peer, 3);
    expect(ann.peer.events.filter((e) => e.type === 'reactions').at(-1)).toMatchObject({ counts: { '👍': ['ann'] } });
    const before = ann.peer.events.length;
    bob.send({ type: 'unreact', room: 'lobby', seq: 1, emoji: '👍', id: 4 });
    expect(await reply(bob.peer, 4)).toEqual({ type: 'ack', re: 4 });
    expect(ann.peer.events.length).toBe(before);
    bob.send({ type: 'history', room: 'lobby', id: 'h' });
    expect(await reply(bob.peer, 'h')).toMatchObject({ messages: [{ seq: 1, reactions: { '👍': ['ann'] } }] });
    for (let i = 0; i < 19; i++) bob.send({ type: 'react', room: 'lobby', seq: 1, emoji: `e${i}` });
    await settle();
    bob.send({ type: 'react', room: 'lobby', seq: 1, emoji: 'one-too-many', id: 'x' });
    expect(await reply(bob.peer, 'x')).toMatchObject({ type: 'error', code: 'too_many_reactions' });
    bob.send({ type: 'react', room: 'lobby', seq: 9, emoji: '👍', id: 'y' });
    expect(await reply(bob.peer, 'y')).toMatchObject({ type: 'error', code: 'no_such_message' });
  });
});
