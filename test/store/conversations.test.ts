// The shared index: paging with `more`, retention, inboxes, users, and the memory store on top of it.
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { ConversationIndex, inboxKey } from '../../server/store/conversations.js';
import { crc32 } from '../../server/store/crc32.js';
import { MemoryStore } from '../../server/store/memory-store.js';

function msg(seq: number, room = 'Lobby'): ChatMessage {
  return { type: 'message', room, from: 'a', text: `m${seq}`, seq, ts: '2026-11-25T10:00:00.000Z' };
}

function filled(n: number, retention: number): ConversationIndex {
  const ix = new ConversationIndex(retention);
  for (let s = 1; s <= n; s++) ix.add('r:lobby', msg(s));
  return ix;
}

const seqs = (ms: ChatMessage[]): number[] => ms.map((m) => m.seq);

describe('crc32', () => {
  it('matches the standard check value and handles odd offsets', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    const b = Buffer.from('xx123456789yy');
    expect(crc32(b, 2, 11)).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });
});

describe('ConversationIndex', () => {
  it('pages back with before/limit and reports more', () => {
    const ix = filled(100, 1000);
    const newest = ix.history('r:lobby', { limit: 10 });
    expect(seqs(newest.messages)).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    expect(newest.more).toBe(true);
    const page = ix.history('r:lobby', { before: 91, limit: 10 });
    expect(seqs(page.messages)).toEqual([81, 82, 83, 84, 85, 86, 87, 88, 89, 90]);
    expect(page.more).toBe(true);
    const oldest = ix.history('r:lobby', { before: 6, limit: 10 });
    expect(seqs(oldest.messages)).toEqual([1, 2, 3, 4, 5]);
    expect(oldest.more).toBe(false);
    const exact = ix.history('r:lobby', { before: 11, limit: 10 });
    expect(exact.more).toBe(false);
  });

  it('after/before together, limit 0, empty and unknown conversations', () => {
    const ix = filled(50, 1000);
    const r = ix.history('r:lobby', { after: 10, before: 21, limit: 5 });
    expect(seqs(r.messages)).toEqual([16, 17, 18, 19, 20]);
    expect(r.more).toBe(true);
    expect(ix.history('r:lobby', { after: 10, before: 21, limit: 100 }).more).toBe(false);
    expect(ix.history('r:lobby', { after: 50, limit: 10 })).toEqual({ messages: [], more: false });
    expect(ix.history('r:lobby', { limit: 0 }).messages).toEqual([]);
    expect(ix.history('r:nowhere', { limit: 10 })).toEqual({ messages: [], more: false });
    expect(ix.lastSeq('r:nowhere')).toBe(0);
  });

  it('keeps only the newest N across chunk boundaries; lastSeq survives', () => {
    const ix = filled(5000, 1500);
    expect(ix.lastSeq('r:lobby')).toBe(5000);
    expect(ix.firstRetainedSeq('r:lobby')).toBe(3501);
    const all = ix.history('r:lobby', { limit: 10_000 });
    expect(all.messages.length).toBe(1500);
    expect(all.messages[0]!.seq).toBe(3501);
    expect(all.more).toBe(false);
    expect(seqs(ix.history('r:lobby', { before: 3600, limit: 1000 }).messages)).toEqual(
      Array.from({ length: 99 }, (_, i) => 3501 + i),
    );
  });

  it('appending is cheap whatever the retention (no large copies)', () => {
    const ix = new ConversationIndex(100_000);
    const t0 = performance.now();
    for (let s = 1; s <= 400_000; s++) ix.add('r:lobby', msg(s));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(ix.history('r:lobby', { limit: 1 }).messages[0]!.seq).toBe(400_000);
    expect(ix.firstRetainedSeq('r:lobby')).toBe(300_001);
  });

  it('refuses a seq that is not after lastSeq', () => {
    const ix = filled(3, 10);
    expect(() => ix.add('r:lobby', msg(3))).toThrow();
  });

  it('restore merges older copies in seq order; remove hides a message', () => {
    const ix = new ConversationIndex(5);
    for (const s of [8, 9, 10]) ix.add('r:lobby', msg(s));
    ix.restore('r:lobby', [msg(4), msg(5), msg(6), msg(7), msg(8)]);
    expect(seqs(ix.history('r:lobby', { limit: 100 }).messages)).toEqual([6, 7, 8, 9, 10]);
    ix.remove('r:lobby', 8);
    expect(seqs(ix.history('r:lobby', { limit: 100 }).messages)).toEqual([6, 7, 9, 10]);
    expect(seqs(ix.history('r:lobby', { before: 10, limit: 2 }).messages)).toEqual([7, 9]);
    expect(ix.lastSeq('r:lobby')).toBe(10);
  });

  it('removing the newest messages (a failed batch, oldest first) hands their numbers back', () => {
    const ix = new ConversationIndex(100);
    for (const s of [1, 2, 3, 4]) ix.add('r:lobby', msg(s));
    ix.remove('r:lobby', 3);
    expect(ix.lastSeq('r:lobby')).toBe(4);
    ix.remove('r:lobby', 4);
    expect(ix.lastSeq('r:lobby')).toBe(2);
    ix.add('r:lobby', msg(3));
    expect(seqs(ix.history('r:lobby', { limit: 100 }).messages)).toEqual([1, 2, 3]);
    const solo = new ConversationIndex(100);
    solo.add('d:a|b', msg(1));
    solo.remove('d:a|b', 1);
    expect(solo.lastSeq('d:a|b')).toBe(0);
  });

  it('rooms lists display spellings of rooms with messages only', () => {
    const ix = new ConversationIndex(10);
    ix.add('r:lobby', msg(1, 'Lobby'));
    ix.add('d:a|b', { ...msg(1), room: undefined, to: 'b' });
    expect([...ix.rooms()]).toEqual(['Lobby']);
  });

  it('users keep their first spelling; inboxes are ordered and shift', () => {
    const ix = new ConversationIndex(10);
    ix.rememberUser('Bob', 't1');
    expect(ix.rememberUser('BOB', 't2')).toEqual({ name: 'Bob', lastSeen: 't2' });
    expect(ix.knownUser('bob')).toEqual({ name: 'Bob', lastSeen: 't2' });
    for (let s = 1; s <= 3; s++) {
      const m = { ...msg(s), to: 'Bob' };
      expect(ix.inboxAdd('bob', { key: inboxKey('d:a|bob', s), conv: 'd:a|bob', msg: m, order: s, seg: 0 })).toBe(true);
    }
    expect(ix.inboxAdd('bob', { key: inboxKey('d:a|bob', 1), conv: 'd:a|bob', msg: msg(1), order: 1, seg: 0 })).toBe(false);
    expect(ix.inboxShift('bob', 2).map((e) => e.msg.seq)).toEqual([1, 2]);
    expect(seqs(ix.inbox('bob'))).toEqual([3]);
  });
});

describe('MemoryStore', () => {
  it('calls done as a microtask, in append order', async () => {
    const store = new MemoryStore({ historyPerRoom: 3 });
    const order: number[] = [];
    for (let s = 1; s <= 5; s++) store.appendMessage('r:lobby', msg(s), undefined, () => order.push(s));
    expect(order).toEqual([]);
    await Promise.resolve();
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(seqs(store.history('r:lobby', { limit: 10 }).messages)).toEqual([3, 4, 5]);
    expect(store.lastSeq('r:lobby')).toBe(5);
  });
});
