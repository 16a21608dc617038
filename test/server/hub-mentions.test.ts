// Mentions: the server marks `@name` of known users on a message, in its spelling, and stores it.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory-store.js';
import { decodeRecord, encodeMessage } from '../../server/store/record-codec.js';
import { settle, setup } from '../helpers/hub-harness.js';

describe('mentions', () => {
  it('names known users only, once each, in their spelling; trailing punctuation is not part of a name', async () => {
    const { user, store } = setup();
    const ann = await user('Ann');
    const bob = await user('Bob.Smith');
    for (const u of [ann, bob]) u.send({ type: 'join', room: 'r' });
    await settle();
    bob.send({ type: 'say', room: 'r', text: 'hi @ann and @bob.smith., not @nobody or mail@ann.org, @ANN again' });
    bob.send({ type: 'say', room: 'r', text: 'no mention here' });
    await settle();
    store.release();
    await settle();
    const [first, second] = ann.peer.messages();
    expect(first).toMatchObject({ mentions: ['Ann', 'Bob.Smith'] });
    expect(second).not.toHaveProperty('mentions');
  });

  it('are kept by the store codec and the memory store', async () => {
    const m = { type: 'message' as const, room: 'r', from: 'a', text: '@b', seq: 1, ts: 'T', mentions: ['b'] };
    expect(decodeRecord(encodeMessage('M', 'r:r', m, undefined))).toMatchObject({ msg: m });
    const s = new MemoryStore({ historyPerRoom: 10 });
    await new Promise((r) => s.append('r:r', { room: 'r', from: 'a', text: '@b', mentions: ['b'] }, undefined, r));
    expect((await s.history('r:r', { limit: 5 })).messages[0]).toMatchObject({ mentions: ['b'] });
  });
});
