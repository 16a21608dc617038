// --max-inbox: an offline inbox holds at most that many undelivered messages. One more is refused
// (InboxFull) before it is numbered, counting appends still in flight, in both stores; delivery makes
// room again, and so does a message aging out of its conversation.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory-store.js';
import { accountDmConv, InboxFull, type Store } from '../../server/store/store.js';
import { newDir, open } from './store-helpers.js';

function dmTo(store: Store, n: number): Promise<(number | 'full' | 'error')[]> {
  const conv = accountDmConv('alice', 'bob');
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<number | 'full' | 'error'>((res) =>
        store.append(conv, { to: 'bob', from: 'alice', text: `m${i}` }, '@bob', (err, m) => res(err instanceof InboxFull ? 'full' : err ? 'error' : m!.seq)),
      ),
    ),
  );
}

const kinds: [string, (historyPerRoom: number) => Promise<{ store: Store; close(): Promise<void> }>][] = [
  ['memory', async (historyPerRoom) => ({ store: new MemoryStore({ historyPerRoom, maxInbox: 3 }), close: async () => {} })],
  [
    'file',
    async (historyPerRoom) => {
      const o = await open(newDir(), { maxInbox: 3, historyPerRoom });
      return { store: o.store, close: () => o.store.close() };
    },
  ],
];

describe.each(kinds)('%s store: bounded inbox', (_kind, make) => {
  it('refuses the messages beyond the bound, in flight together, without using their seqs; delivery makes room', async () => {
    const { store, close } = await make(1000);
    expect(await dmTo(store, 5)).toEqual([1, 2, 3, 'full', 'full']);
    const inbox = await store.inbox('@bob', 100);
    expect(inbox.map((i) => i.msg.text)).toEqual(['m0', 'm1', 'm2']);
    await new Promise<void>((res, rej) => store.markDelivered('@bob', [{ conv: inbox[0]!.conv, seq: 1 }], (e) => (e ? rej(e) : res())));
    // The seq refused messages would have had goes to the next one: no gap.
    expect(await dmTo(store, 2)).toEqual([4, 'full']);
    // Another inbox is not affected.
    await new Promise<void>((res) => store.append(accountDmConv('alice', 'cy'), { to: 'cy', from: 'alice', text: 'hi' }, '@cy', (err) => res(expect(err).toBeNull())));
    await close();
  });

  it('a message that aged out of its conversation no longer takes a place in the inbox', async () => {
    const { store, close } = await make(2);
    expect(await dmTo(store, 3)).toEqual([1, 2, 3]);
    // Seq 1 aged out (2 per conversation): only two live entries, so one more fits.
    expect(await dmTo(store, 2)).toEqual([4, 'full']);
    await close();
  });
});
