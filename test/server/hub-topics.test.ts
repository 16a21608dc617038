// Topics, away and whois as the hub serves them.
import { describe, expect, it } from 'vitest';
import { FileTopics } from '../../server/kv/room-topics.js';
import { reply, settle, setup } from '../helpers/hub-harness.js';
import { tempDir } from '../helpers/server.js';


describe('topics', () => {
  it('a member sets the topic, every member hears it, a joiner gets it after members, and an empty text clears it', async () => {
    const { user } = setup();
    const ann = await user('ann');
    const bob = await user('bob');
    for (const u of [ann, bob]) u.send({ type: 'join', room: 'Lobby' });
    await settle();
    ann.send({ type: 'topic', room: 'lobby', text: 'welcome all', id: 't' });
    expect(await reply(ann.peer, 't')).toMatchObject({ type: 'ack' });
    expect(bob.peer.events.find((e) => e.type === 'topic')).toMatchObject({ room: 'Lobby', text: 'welcome all', by: 'ann', ts: expect.any(String) });
    const cat = await user('cat');
    cat.send({ type: 'join', room: 'lobby' });
    await settle();
    expect(cat.peer.events.map((e) => e.type).slice(1, 4)).toEqual(['members', 'topic', 'history']);
    const out = await user('out');
    out.send({ type: 'topic', room: 'lobby', text: 'hijack', id: 'x' });
    expect(await reply(out.peer, 'x')).toMatchObject({ type: 'error', code: 'not_member' });
    out.send({ type: 'topic', room: 'lobby', id: 'ask' });
    expect(await reply(out.peer, 'ask')).toMatchObject({ type: 'topic', text: 'welcome all' });
    ann.send({ type: 'topic', room: 'lobby', text: '', id: 'clear' });
    await reply(ann.peer, 'clear');
    out.send({ type: 'topic', room: 'lobby', id: 'ask2' });
    expect(await reply(out.peer, 'ask2')).toMatchObject({ type: 'topic', text: '' });
  });

  it('topics survive a reopen of their file', async () => {
    const dir = tempDir();
    const a = new FileTopics(dir, () => {});
    await a.open();
    await a.set('lobby', { text: 'kept', by: 'ann', ts: 'then' });
    await a.set('gone', { text: 'x', by: 'ann', ts: 'then' });
    await a.set('gone', { text: '', by: 'ann', ts: 'later' });
    await a.close();
    const b = new FileTopics(dir, () => {});
    await b.open();
    expect(await b.get('lobby')).toEqual({ text: 'kept', by: 'ann', ts: 'then' });
    expect(await b.get('gone')).toBeUndefined();
    await b.close();
  });
});

describe('away and whois', () => {
  it('away is told to the rooms one is in, shown in members and whois, and cleared', async () => {
    const { user } = setup();
    const ann = await user('ann', { account: true });
    const bob = await user('bob');
    for (const u of [ann, bob]) u.send({ type: 'join', room: 'r' });
    await settle();
    ann.send({ type: 'away', text: 'lunch', id: 'a' });
    expect(await reply(ann.peer, 'a')).toMatchObject({ type: 'ack' });
    expect(bob.peer.events.find((e) => e.type === 'away')).toEqual({ type: 'away', name: 'ann', text: 'lunch' });
    const cat = await user('cat');
    cat.send({ type: 'join', room: 'r', id: 'j' });
    expect(await reply(cat.peer, 'j')).toMatchObject({ type: 'members', away: { ann: 'lunch' } });
    cat.send({ type: 'whois', name: 'ANN', id: 'w' });
    expect(await reply(cat.peer, 'w')).toMatchObject({ type: 'user', name: 'ann', online: true, account: true, away: 'lunch', rooms: ['r'] });
    ann.send({ type: 'away', id: 'back' });
    await reply(ann.peer, 'back');
    expect(bob.peer.events.filter((e) => e.type === 'away').at(-1)).toEqual({ type: 'away', name: 'ann' });
    ann.session.disconnected();
    cat.send({ type: 'whois', name: 'ann', id: 'w2' });
    expect(await reply(cat.peer, 'w2')).toMatchObject({ type: 'user', online: false, account: true, lastSeen: expect.any(String) });
    cat.send({ type: 'whois', name: 'nobody', id: 'w3' });
    expect(await reply(cat.peer, 'w3')).toMatchObject({ type: 'error', code: 'no_such_user' });
  });
});
