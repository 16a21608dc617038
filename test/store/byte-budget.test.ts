// --max-store-bytes in both stores: past the budget the oldest history goes first (whole segments in
// the file store), each conversation keeps a suffix of its seqs and at least its newest message (so
// seqs are never reused after a restart), and one log line says what went.
import { describe, expect, it } from 'vitest';
import { logBytes } from '../../server/store/file-store.js';
import { MemoryStore } from '../../server/store/memory-store.js';
import { roomConv, type Store } from '../../server/store/store.js';
import { historySeqs, newDir, open, range, say } from './store-helpers.js';

const TEXT = 'x'.repeat(200);

async function fill(store: Store, rooms: string[], perRoom: number): Promise<void> {
  for (let i = 0; i < perRoom; i++) await Promise.all(rooms.map((r) => say(store, r, `${r} ${i} ${TEXT}`)));
}

/** The retained seqs are exactly last-n+1..last: a suffix, with the newest. */
function expectSuffix(seqs: number[], last: number): void {
  expect(seqs.length).toBeGreaterThan(0);
  expect(seqs).toEqual(range(last - seqs.length + 1, last));
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('file store: --max-store-bytes', () => {
  it('drops whole oldest segments past the budget, says so, keeps every conversation a suffix with its newest, and a restart keeps it so', async () => {
    const dir = newDir();
    const budget = 64 * 1024;
    // fsync off: durability is not under test here, and a fsync per batch makes the fill slow on a busy disk.
    const a = await open(dir, { maxBytes: budget, fsync: 'off' });
    // Written first and never again: only its newest message may stay.
    await say(a.store, 'Quiet', 'one');
    await say(a.store, 'Quiet', 'two');
    await fill(a.store, ['Lobby', 'Dev'], 500);
    // Segments are an eighth of the budget (16 KiB here), so the log may pass the budget by
    // the segment being written at most once compaction has caught up.
    await until(() => logBytes(dir) <= budget + 16 * 1024 && !a.warnings.some((w) => /not dropping/.test(w)) && a.warnings.some((w) => /dropped/.test(w)), 'the budget');
    const line = a.warnings.find((w) => /over --max-store-bytes/.test(w))!;
    expect(line).toMatch(/^store: over --max-store-bytes \(\d+\.\d KiB > 64\.0 KiB\): dropped the \d+ oldest messages of \d+ conversations? with 0000000001\.log/);
    const lobby = await historySeqs(a.store, 'Lobby');
    expectSuffix(lobby, 500);
    expect(lobby[0]).toBeGreaterThan(1);
    expectSuffix(await historySeqs(a.store, 'Dev'), 500);
    expect(await historySeqs(a.store, 'Quiet')).toEqual([2]);
    // history below the retained range: an empty page, as for --history-per-room.
    expect((await a.store.history(roomConv('lobby'), { before: lobby[0]!, limit: 10 })).messages).toEqual([]);
    // A later compaction round may still be deleting a segment: the count follows the files.
    await until(() => a.store.usage().bytes === logBytes(dir), 'usage to match the files');
    await a.store.close();

    const b = await open(dir, { maxBytes: budget });
    expect(await historySeqs(b.store, 'Lobby')).toEqual(lobby);
    expect(await historySeqs(b.store, 'Quiet')).toEqual([2]);
    // Numbering goes on from the newest, for the quiet room too.
    expect((await say(b.store, 'Quiet', 'three')).seq).toBe(3);
    expect((await say(b.store, 'Lobby', 'more')).seq).toBe(501);
    await b.store.close();
  });

  it('after a restart with a smaller budget, the first write starts a new segment and the old one goes', async () => {
    const dir = newDir();
    const a = await open(dir, { fsync: 'off' });
    await fill(a.store, ['Lobby'], 600);
    await a.store.close();
    const before = logBytes(dir);
    expect(before).toBeGreaterThan(100 * 1024);
    const b = await open(dir, { maxBytes: 48 * 1024, segmentBytes: 16 * 1024 });
    // The segment being written is never dropped; the next write finds it over size and moves on.
    expect(await historySeqs(b.store, 'Lobby')).toHaveLength(600);
    await say(b.store, 'Lobby', 'after');
    // The old segment was one big one (written without a budget): it goes whole.
    await until(() => b.warnings.some((w) => /dropped/.test(w)), 'the drop');
    expect(await historySeqs(b.store, 'Lobby')).toEqual([601]);
    expect(logBytes(dir)).toBeLessThan(48 * 1024);
    await b.store.close();
  });
});

describe('file store: a budget that only what must be kept exceeds', () => {
  it('is said once, and the store does not copy the same records forward again and again', async () => {
    const dir = newDir();
    const a = await open(dir, { maxBytes: 32 * 1024 });
    // Accounts are never forgotten: their records must stay, and 3,000 of them pass 32 KiB.
    for (let i = 0; i < 3000; i++) a.store.rememberUser(`account${i}`, '2026-11-25T10:00:00.000Z', { guest: false });
    await until(() => a.warnings.some((w) => /not dropping/.test(w)), 'the warning');
    // A marker written after everything: once it is durable, every compaction the users set off has run.
    await say(a.store, 'Lobby', 'marker');
    await a.store.close();
    expect(a.warnings.filter((w) => /not dropping/.test(w))).toHaveLength(1);
    expect(a.warnings.filter((w) => /dropped/.test(w))).toEqual([]);
    expect(a.warnings[0]).toMatch(/^store: over --max-store-bytes \(\d+\.\d KiB > 32\.0 KiB\), but the oldest segments hold mostly what must be kept/);
    // Each user's record once (about 60 bytes each), not copies upon copies.
    expect(logBytes(dir)).toBeLessThan(3000 * 80);
    const b = await open(dir, { maxBytes: 32 * 1024 });
    expect(b.store.usage().knownUsers).toBe(3000);
    await b.store.close();
  });
});

describe('memory store: --max-store-bytes', () => {
  it('drops the oldest messages of all conversations past the budget, never a conversation\'s newest, and says so', async () => {
    const lines: string[] = [];
    const budget = 30_000;
    const store = new MemoryStore({ historyPerRoom: 10_000, maxBytes: budget, log: (l) => lines.push(l) });
    await say(store, 'Quiet', 'one');
    await say(store, 'Quiet', 'two');
    await fill(store, ['Lobby', 'Dev'], 300);
    // Dropped to a little under the budget (1/64 of it to spare), so that it is not logged at every message.
    expect(store.usage().bytes).toBeLessThanOrEqual(budget);
    expect(store.usage().bytes).toBeGreaterThan(budget - budget / 64 - 1000);
    const drops = lines.length;
    expect(drops).toBeLessThan(600 / 2);
    expectSuffix(await historySeqs(store, 'Lobby'), 300);
    expectSuffix(await historySeqs(store, 'Dev'), 300);
    expect(await historySeqs(store, 'Quiet')).toEqual([2]);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^store: over --max-store-bytes \(\d+\.\d KiB > 29\.3 KiB\): dropped the \d+ oldest messages of \d+ conversations?; now \d+\.\d KiB$/);
    expect((await say(store, 'Quiet', 'three')).seq).toBe(3);
  });
});
