// Read markers: moved forward only, told to the account's other sessions, stored per account and
// given back on join (after members) and by `reads`; a guest's last for its session.
import { describe, expect, it } from 'vitest';
import { FileReads } from '../../server/kv/read-markers.js';
import { reply, settle, setup } from '../helpers/hub-harness.js';
import { tempDir } from '../helpers/server.js';

describe('read markers', () => {
  it('a room marker reaches the other sessions only, never moves back, stops at the last seq, and a new device gets it after members', async () => {
    const { user, store } = setup();
    const ann = await user('ann', { account: true });
    const ann2 = await user('ann', { account: true });
    for (const u of [ann, ann2]) u.send({ type: 'join', room: 'Lobby' });
    await settle();
    for (let i = 0; i < 5; i++) ann.send({ type: 'say', room: 'lobby', text: `m${i}` });
    await settle();
    store.release();
    await settle();
    ann.send({ type: 'read', room: 'lobby', seq: 3, id: 'r1' });
    expect(await reply(ann.peer, 'r1')).toEqual({ type: 'ack', re: 'r1' });
    expect(ann2.peer.events.filter((e) => e.type === 'read')).toEqual([{ type: 'read', room: 'Lobby', seq: 3 }]);
    expect(ann.peer.events.some((e) => e.type === 'read')).toBe(false);
    ann2.send({ type: 'read', room: 'lobby', seq: 2, id: 'back' });
    await reply(ann2.peer, 'back');
    expect(ann.peer.events.some((e) => e.type === 'read')).toBe(false);
    ann.send({ type: 'read', room: 'lobby', seq: 99, id: 'far' });
    await reply(ann.peer, 'far');
    expect(ann2.peer.events.filter((e) => e.type === 'read').at(-1)).toEqual({ type: 'read', room: 'Lobby', seq: 5 });
    const ann3 = await user('ann', { account: true });
    ann3.send({ type: 'join', room: 'lobby' });
    await settle();
    const types = ann3.peer.events.map((e) => e.type);
    expect(types.slice(types.indexOf('members'), types.indexOf('members') + 3)).toEqual(['members', 'read', 'history']);
    expect(ann3.peer.events.find((e) => e.type === 'read')).toEqual({ type: 'read', room: 'Lobby', seq: 5 });
  });

  it('DM markers are given back by reads; refusals: not_member, no_such_user', async () => {
    const { user, store } = setup();
    const ann = await user('ann', { account: true });
    const bob = await user('bob', { account: true });
    for (let i = 0; i < 3; i++) ann.send({ type: 'dm', to: 'bob', text: `d${i}` });
    bob.send({ type: 'join', room: 'r' });
    await settle();
    store.release();
    await settle();
    bob.send({ type: 'read', with: 'ANN', seq: 2, id: 1 });
    await reply(bob.peer, 1);
    bob.send({ type: 'read', room: 'r', seq: 1, id: 2 });
    await reply(bob.peer, 2);
    bob.send({ type: 'reads', id: 3 });
    // The room has no message yet: its marker stays at 0, so only the DM one is listed.
    expect(await reply(bob.peer, 3)).toEqual({ type: 'reads', markers: [{ with: 'ann', seq: 2 }], re: 3 });
    bob.send({ type: 'read', room: 'elsewhere', seq: 1, id: 4 });
    expect(await reply(bob.peer, 4)).toMatchObject({ type: 'error', code: 'not_member' });
    bob.send({ type: 'read', with: 'nobody', seq: 1, id: 5 });
    expect(await reply(bob.peer, 5)).toMatchObject({ type: 'error', code: 'no_such_user' });
  });

  it('a guest keeps its markers for the session', async () => {
    const { user } = setup();
    const ann = await user('ann', { account: true });
    const gus = await user('gus');
    gus.send({ type: 'read', with: 'ann', seq: 4, id: 1 });
    await reply(gus.peer, 1);
    gus.send({ type: 'reads', id: 2 });
    expect(await reply(gus.peer, 2)).toMatchObject({ markers: [{ with: 'ann', seq: 4 }] });
    gus.session.disconnected();
    const gus2 = await user('gus');
    gus2.send({ type: 'reads', id: 3 });
    expect(await reply(gus2.peer, 3)).toMatchObject({ markers: [] });
    void ann;
  });

  it('FileReads keeps the highest marker per conversation across a reopen, and rewrites a mostly dead file', async () => {
    const dir = tempDir();
    const a = new FileReads(dir, () => {});
    await a.open();
    for (let s = 1; s <= 300; s++) expect(await a.advance('ann', { conv: 'r:lobby', name: 'Lobby', seq: s })).toBe(true);
    expect(await a.advance('ann', { conv: 'r:lobby', name: 'Lobby', seq: 7 })).toBe(false);
    await a.advance('ann', { conv: 'w:bob', name: 'bob', seq: 2 });
    await a.close();
    const b = new FileReads(dir, () => {});
    await b.open();
    expect(await b.all('ann')).toEqual([
      { conv: 'r:lobby', name: 'Lobby', seq: 300 },
      { conv: 'w:bob', name: 'bob', seq: 2 },
    ]);
    await b.close();
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`${dir}/reads.log`, 'utf8').trim().split('\n')).toHaveLength(2);
  });
});
