// FileStore: what survives a reopen, the store's numbering, group commit (counted through an fs shim),
// torn tails and corrupt records, inbox persistence and compaction. Failure injection is in
// store-failures.test.ts, the on-disk index (sidecars, old data dirs) in store-startup.test.ts.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { logBytes } from '../../server/store/file-store.js';
import { dmConv, roomConv } from '../../server/store/store.js';
import { dm, durable, historySeqs, newDir, open, range, say, segmentFiles, seqs, shimIo, sidecarFiles, until } from './store-helpers.js';

describe('FileStore', () => {
  it('keeps rooms (display spelling), seqs, history, users and inboxes across reopen', async () => {
    const dir = join(newDir(), 'nested', 'data');
    const a = await open(dir);
    for (let i = 0; i < 30; i++) await say(a.store, 'Lobby', `hello ${i + 1} ✓`);
    for (let i = 0; i < 5; i++) await say(a.store, 'Dev.Talk');
    a.store.rememberUser('Alice', '2026-11-25T10:00:00.000Z');
    a.store.rememberUser('bob', '2026-11-25T10:01:00.000Z');
    a.store.rememberUser('ALICE', '2026-11-25T10:02:00.000Z');
    await dm(a.store, 'Alice', 'bob', true);
    await dm(a.store, 'Alice', 'bob', true);
    await a.store.close();

    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expect(await b.store.lastSeq(roomConv('lobby'))).toBe(30);
    expect(await b.store.lastSeq(roomConv('dev.talk'))).toBe(5);
    expect((await b.store.rooms()).sort()).toEqual(['Dev.Talk', 'Lobby']);
    const page = await b.store.history(roomConv('lobby'), { before: 21, limit: 10 });
    expect(seqs(page.messages)).toEqual(range(11, 20));
    expect(page.messages[0]).toMatchObject({ type: 'message', room: 'Lobby', from: 'alice', text: 'hello 11 ✓', seq: 11 });
    expect(page.more).toBe(true);
    expect(await b.store.knownUser('alice')).toEqual({ name: 'Alice', lastSeen: '2026-11-25T10:02:00.000Z' });
    expect((await b.store.users(undefined, 10)).users.map((u) => u.name)).toEqual(['Alice', 'bob']);
    const inbox = await b.store.inbox('bob', 10);
    expect(inbox.map((i) => `${i.conv}:${i.msg.seq}:${i.msg.to}`)).toEqual(['d:alice|bob:1:bob', 'd:alice|bob:2:bob']);
    expect(await b.store.lastSeq(dmConv('alice', 'bob'))).toBe(2);
    expect((await say(b.store, 'Lobby')).seq).toBe(31);
    await b.store.close();
    const c = await open(dir);
    expect(await c.store.lastSeq(roomConv('lobby'))).toBe(31);
    await c.store.close();
  });

  it('numbers each conversation from 1 with ts that never goes back; done gets the stored message', async () => {
    const { store } = await open(newDir());
    const got = await Promise.all([say(store, 'A'), say(store, 'B'), say(store, 'A'), dm(store, 'x', 'y', false)]);
    expect(got.map((m) => `${m.room ?? m.to}:${m.seq}`)).toEqual(['A:1', 'B:1', 'A:2', 'y:1']);
    expect(got[3]).toEqual({ type: 'message', to: 'y', from: 'x', text: 'psst', seq: 1, ts: got[3]!.ts });
    const all = (await store.history(roomConv('a'), { limit: 10 })).messages;
    expect(all).toEqual([got[0], got[2]]);
    // A guest's message says so, when stored and when read back (Draft.guest comes with accounts).
    const guestDraft = { room: 'A', from: 'g', text: 'hi', guest: true as const };
    const g = await new Promise<ChatMessage>((r) => store.append(roomConv('a'), guestDraft, undefined, (_e, m) => r(m!)));
    expect(g).toMatchObject({ seq: 3, guest: true });
    expect((await store.history(roomConv('a'), { after: 2, limit: 1 })).messages).toEqual([g]);
    expect(all[1]!.ts >= all[0]!.ts).toBe(true);
    expect(Number.isNaN(Date.parse(all[0]!.ts))).toBe(false);
    await store.close();
  });

  it('serves stored messages only: an append is in no read until its done', async () => {
    const { store } = await open(newDir());
    await say(store);
    let done = false;
    const pending = say(store).then((m) => ((done = true), m));
    // The record is already in the kernel, but its done has not run: nobody may see it yet.
    const last = store.lastSeq(roomConv('lobby'));
    const page = historySeqs(store, 'Lobby');
    expect(done).toBe(false);
    expect([await last, await page]).toEqual([1, [1]]);
    expect((await pending).seq).toBe(2);
    expect(await historySeqs(store, 'Lobby')).toEqual([1, 2]);
    await store.close();
  });

  it('history pages from the newest back or from the oldest forward, with more', async () => {
    const { store } = await open(newDir());
    for (let i = 0; i < 120; i++) await say(store);
    const conv = roomConv('lobby');
    const newest = await store.history(conv, { limit: 50 });
    expect([seqs(newest.messages)[0], newest.messages.length, newest.more]).toEqual([71, 50, true]);
    const back = await store.history(conv, { before: 21, limit: 50 });
    expect([seqs(back.messages), back.more]).toEqual([range(1, 20), false]);
    const fwd = await store.history(conv, { after: 10, limit: 50, from: 'oldest' });
    expect([seqs(fwd.messages), fwd.more]).toEqual([range(11, 60), true]);
    const last = await store.history(conv, { after: 100, limit: 50, from: 'oldest' });
    expect([seqs(last.messages), last.more]).toEqual([range(101, 120), false]);
    const window = await store.history(conv, { after: 10, before: 21, limit: 5, from: 'oldest' });
    expect([seqs(window.messages), window.more]).toEqual([range(11, 15), true]);
    expect(await store.history(roomConv('nowhere'), { limit: 5 })).toEqual({ messages: [], more: false });
    await store.close();
  });

  it('markDelivered removes exactly the messages named, at once, and persists; unknown refs are ignored', async () => {
    const dir = newDir();
    const a = await open(dir);
    a.store.rememberUser('bob', 't');
    for (let i = 0; i < 3; i++) await dm(a.store, 'carol', 'bob', true);
    await dm(a.store, 'dave', 'bob', true);
    let called = false;
    a.store.markDelivered(
      'bob',
      [
        { conv: dmConv('bob', 'carol'), seq: 2 },
        { conv: dmConv('bob', 'dave'), seq: 1 },
        { conv: dmConv('bob', 'nobody'), seq: 7 },
      ],
      () => (called = true),
    );
    const left = async (s: typeof a.store): Promise<string[]> => (await s.inbox('bob', 10)).map((i) => `${i.msg.from}${i.msg.seq}`);
    expect(await left(a.store)).toEqual(['carol1', 'carol3']);
    expect(await a.store.inbox('bob', 1)).toHaveLength(1);
    await a.store.close();
    expect(called).toBe(true);
    const b = await open(dir);
    expect(await left(b.store)).toEqual(['carol1', 'carol3']);
    const rest = (await b.store.inbox('bob', 10)).map((i) => ({ conv: i.conv, seq: i.msg.seq }));
    await new Promise<void>((r) => b.store.markDelivered('bob', rest, () => r()));
    await b.store.close();
    const c = await open(dir);
    expect(await c.store.inbox('bob', 10)).toEqual([]);
    await c.store.close();
  });

  it('a direct message that aged out of its conversation leaves the inbox', async () => {
    const dir = newDir();
    const a = await open(dir, { historyPerRoom: 3 });
    for (let i = 1; i <= 5; i++) await dm(a.store, 'carol', 'bob', true, `m${i}`);
    expect((await a.store.inbox('bob', 10)).map((i) => i.msg.text)).toEqual(['m3', 'm4', 'm5']);
    await a.store.close();
    const b = await open(dir, { historyPerRoom: 3 });
    expect((await b.store.inbox('bob', 2)).map((i) => i.msg.text)).toEqual(['m3', 'm4']);
    await b.store.close();
  });

  it('users page through name keys in order', async () => {
    const { store } = await open(newDir());
    for (const n of ['delta', 'Alpha', 'charlie', 'Bravo', 'echo']) store.rememberUser(n, 't');
    const p1 = await store.users(undefined, 2);
    expect([p1.users.map((u) => u.name), p1.more]).toEqual([['Alpha', 'Bravo'], true]);
    const p2 = await store.users('bravo', 10);
    expect([p2.users.map((u) => u.name), p2.more]).toEqual([['charlie', 'delta', 'echo'], false]);
    await store.close();
  });

  it('group commit: many appends in one task cost one write and one sync; dones in order', async () => {
    const io = shimIo();
    const { store } = await open(newDir(), { io });
    await say(store);
    await durable(store);
    io.writes = io.fsyncs = 0;
    const order: number[] = [];
    const all = range(1, 500).map(() => say(store).then((m) => void order.push(m.seq)));
    await Promise.all(all);
    await durable(store);
    expect(io.writes).toBe(1);
    expect(io.fsyncs).toBe(1);
    expect(order).toEqual(range(2, 501));
    await store.close();
  });

  it('a record is written right after the task that appended it, with the others of that task', async () => {
    const io = shimIo();
    const { store } = await open(newDir(), { io });
    await durable(store);
    const w0 = io.writes;
    const first = say(store);
    const second = say(store);
    // Not from inside append(): at the end of this task, both in one write.
    expect(io.writes).toBe(w0);
    await new Promise<void>((r) => queueMicrotask(r));
    expect(io.writes).toBe(w0 + 1);
    expect((await Promise.all([first, second])).map((m) => m.seq)).toEqual([1, 2]);
    // A later task's append is its own write, even while the first one's sync runs.
    const third = say(store);
    await new Promise<void>((r) => queueMicrotask(r));
    expect(io.writes).toBe(w0 + 2);
    expect((await third).seq).toBe(3);
    await store.close();
  });

  it('batch: a record that finds the disk quiet is synced at once; the next commit waits out the interval; close does not', async () => {
    const io = shimIo();
    // An interval no test run outlasts, so "not yet" cannot be a matter of speed.
    const { store } = await open(newDir(), { io, commitIntervalMs: 600_000 });
    await say(store);
    await durable(store);
    const f0 = io.fsyncs;
    const w0 = io.writes;
    let synced = false;
    await say(store);
    store.whenDurable(() => void (synced = true));
    expect(io.writes).toBe(w0 + 1);
    // Written and delivered, its commit waiting for the interval: many turns later, still no sync.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(io.fsyncs).toBe(f0);
    expect(synced).toBe(false);
    // A shutdown commits at once.
    await store.close();
    expect(io.fsyncs).toBe(f0 + 1);
    expect(synced).toBe(true);
  });

  it('batch: appends made while a sync runs go out together in the next writes', async () => {
    const io = shimIo();
    const { store } = await open(newDir(), { io });
    await say(store);
    io.writes = 0;
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      all.push(say(store));
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    expect(io.writes).toBeLessThanOrEqual(20);
    await store.close();
  });

  it('always: one write and one sync per record', async () => {
    const io = shimIo();
    const { store } = await open(newDir(), { io, fsync: 'always' });
    await say(store);
    await durable(store);
    io.writes = io.fsyncs = 0;
    await Promise.all(range(1, 20).map(() => say(store)));
    await durable(store);
    expect(io.writes).toBe(20);
    expect(io.fsyncs).toBe(20);
    await store.close();
  });

  it('off: writes without fsync, still durable across a clean reopen', async () => {
    const io = shimIo();
    const dir = newDir();
    const { store } = await open(dir, { io, fsync: 'off', segmentBytes: 2000 });
    await Promise.all(range(1, 40).map(() => say(store)));
    expect(io.fsyncs).toBe(0);
    expect(io.writes).toBeGreaterThan(0);
    await store.close();
    const b = await open(dir);
    expect(await historySeqs(b.store, 'Lobby')).toEqual(range(1, 40));
    await b.store.close();
  });

  it('close() writes what is queued and calls every pending done; later appends fail', async () => {
    const dir = newDir();
    const { store } = await open(dir);
    const done: number[] = [];
    for (let s = 1; s <= 50; s++) store.append(roomConv('lobby'), { room: 'Lobby', from: 'a', text: `t${s}` }, undefined, (err, m) => !err && done.push(m!.seq));
    await store.close();
    expect(done).toEqual(range(1, 50));
    await expect(say(store)).rejects.toThrow(/closed/);
    await expect(store.history(roomConv('lobby'), { limit: 5 })).rejects.toThrow(/closed/);
    const b = await open(dir);
    expect(await b.store.lastSeq(roomConv('lobby'))).toBe(50);
    await b.store.close();
  });

  it('a message with neither a room nor a recipient is refused, not written', async () => {
    const { store } = await open(newDir());
    const err = await new Promise<Error | null>((r) => store.append(roomConv('lobby'), { from: 'a', text: 'x' }, undefined, (e) => r(e)));
    expect(err?.message).toMatch(/room or a recipient/);
    expect((await say(store)).seq).toBe(1);
    await store.close();
  });

  it('torn tail: warned, truncated, earlier records intact, appends continue after them', async () => {
    const dir = newDir();
    const a = await open(dir);
    for (let i = 0; i < 20; i++) await say(a.store);
    await a.store.close();
    const file = join(dir, segmentFiles(dir)[0]!);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 7); // the last record loses its end

    const b = await open(dir);
    expect(b.warnings.join('\n')).toMatch(/torn or corrupt tail.*truncated/);
    expect(await b.store.lastSeq(roomConv('lobby'))).toBe(19);
    expect(await historySeqs(b.store, 'Lobby')).toEqual(range(1, 19));
    expect((await say(b.store)).seq).toBe(20);
    await b.store.close();

    fs.appendFileSync(file, Buffer.from([0x40, 0, 0, 0, 1, 2])); // garbage after the new record
    const c = await open(dir);
    expect(c.warnings.length).toBe(1);
    expect(await historySeqs(c.store, 'Lobby')).toEqual(range(1, 20));
    await c.store.close();
    const d = await open(dir);
    expect(d.warnings).toEqual([]);
    await d.store.close();
  });

  for (const how of ['with its sidecar', 'scanned']) {
    it(`a corrupt record in the middle (${how}): only it is skipped, with a warning; later records survive`, async () => {
      const dir = newDir();
      const a = await open(dir);
      for (let i = 0; i < 20; i++) await say(a.store, 'Lobby', `hello ${i + 1} ✓`);
      await a.store.close();
      if (how === 'scanned') for (const f of sidecarFiles(dir)) fs.rmSync(join(dir, f));
      const file = join(dir, segmentFiles(dir)[0]!);
      const buf = fs.readFileSync(file);
      buf[buf.indexOf('hello 10 ')] = 'j'.charCodeAt(0); // the CRC of record 10 no longer matches
      fs.writeFileSync(file, buf);

      const b = await open(dir);
      expect(await historySeqs(b.store, 'Lobby')).toEqual([...range(1, 9), ...range(11, 20)]);
      // Scanned, the damage is found at startup; with a trusted sidecar, when the record is read.
      expect(b.warnings.join('\n')).toMatch(how === 'scanned' ? /corrupt record/ : /seq 10 unreadable/);
      expect(b.warnings.join('\n')).not.toMatch(/tail/);
      expect(await b.store.lastSeq(roomConv('lobby'))).toBe(20);
      expect(fs.statSync(file).size).toBe(buf.length); // nothing good was cut off
      await b.store.close();
    });
  }

  it('a corrupted length field is resynchronised past, not trusted', async () => {
    const dir = newDir();
    const a = await open(dir);
    for (let i = 0; i < 10; i++) await say(a.store, 'Lobby', `hello ${i + 1}`);
    await a.store.close();
    for (const f of sidecarFiles(dir)) fs.rmSync(join(dir, f));
    const file = join(dir, segmentFiles(dir)[0]!);
    const buf = fs.readFileSync(file);
    const at = buf.indexOf('{"t":"M","c":"r:lobby","s":4,');
    buf.writeUInt32LE(0x7fffffff, at - 8);
    fs.writeFileSync(file, buf);
    const b = await open(dir);
    expect(await historySeqs(b.store, 'Lobby')).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10]);
    await b.store.close();
  });

  it('compaction keeps the newest N, seqs, quiet rooms, users and undelivered DMs; the log stays bounded', async () => {
    const dir = newDir();
    const opts = { historyPerRoom: 50, segmentBytes: 8192 };
    const a = await open(dir, opts);
    await say(a.store, 'Quiet');
    a.store.rememberUser('Zed', '2026-11-25T09:00:00.000Z');
    await dm(a.store, 'alice', 'Zed', true);
    await dm(a.store, 'alice', 'Zed', true);
    a.store.markDelivered('zed', [{ conv: dmConv('alice', 'zed'), seq: 1 }], () => {});
    for (let i = 0; i < 3000; i++) await say(a.store, 'Busy');
    // Compaction runs behind the writes (it waits for its copies to be on disk): poll for the bound.
    const written = 3000 * 150;
    await until(() => logBytes(dir) < written / 5 && segmentFiles(dir).length < 10, 15_000);
    expect(await historySeqs(a.store, 'Busy')).toEqual(range(2951, 3000));
    await a.store.close();

    const b = await open(dir, opts);
    expect(b.warnings).toEqual([]);
    expect(await b.store.lastSeq(roomConv('busy'))).toBe(3000);
    expect(await historySeqs(b.store, 'Busy')).toEqual(range(2951, 3000));
    expect(await historySeqs(b.store, 'Quiet')).toEqual([1]);
    expect((await b.store.rooms()).sort()).toEqual(['Busy', 'Quiet']);
    expect(await b.store.knownUser('zed')).toEqual({ name: 'Zed', lastSeen: '2026-11-25T09:00:00.000Z' });
    expect(seqs((await b.store.inbox('zed', 10)).map((i) => i.msg))).toEqual([2]);
    expect(await b.store.lastSeq(dmConv('alice', 'zed'))).toBe(2);
    expect((await say(b.store, 'Busy')).seq).toBe(3001);
    await b.store.close();
  });

  it('a crash between compaction copies and segment deletion replays to the same state', async () => {
    const dir = newDir();
    const opts = { historyPerRoom: 40, segmentBytes: 6000 };
    const a = await open(dir, opts);
    a.store.rememberUser('Ann', 't0');
    await dm(a.store, 'x', 'Ann', true);
    await dm(a.store, 'x', 'Ann', true);
    await dm(a.store, 'y', 'Ann', true);
    // Keep every segment file ever written, as a crash before unlink would.
    const seen = new Map<string, Buffer>();
    for (let i = 0; i < 1500; i++) {
      await say(a.store, i % 3 ? 'Main' : 'Side');
      if (i === 700) a.store.markDelivered('ann', [{ conv: dmConv('ann', 'x'), seq: 1 }], () => {});
      if (i % 20 === 0) for (const f of segmentFiles(dir)) seen.set(f, fs.readFileSync(join(dir, f)));
    }
    await new Promise((r) => setTimeout(r, 200));
    await a.store.close();
    const kept = new Set(segmentFiles(dir));
    const resurrected = [...seen.keys()].filter((f) => !kept.has(f));
    expect(resurrected.length).toBeGreaterThan(0);

    const expectState = async (s: typeof a.store): Promise<void> => {
      expect(await s.lastSeq(roomConv('main'))).toBe(1000);
      expect(await historySeqs(s, 'Main')).toEqual(range(961, 1000));
      expect(await historySeqs(s, 'Side')).toEqual(range(461, 500));
      expect((await s.inbox('ann', 10)).map((i) => `${i.msg.from}${i.msg.seq}`)).toEqual(['x2', 'y1']);
      expect(await s.knownUser('ann')).toEqual({ name: 'Ann', lastSeen: 't0' });
    };
    const b = await open(dir, opts);
    expect(b.warnings).toEqual([]);
    await expectState(b.store);
    await b.store.close();

    // Put the deleted segments back (a stale but valid image of them) and replay again.
    for (const f of resurrected) fs.writeFileSync(join(dir, f), seen.get(f)!);
    const c = await open(dir, opts);
    await expectState(c.store);
    await c.store.close();
  });

  it('compaction with a retention larger than a segment keeps every retained message', async () => {
    const dir = newDir();
    const opts = { historyPerRoom: 300, segmentBytes: 4096 };
    const a = await open(dir, opts);
    for (let i = 0; i < 2000; i++) await say(a.store, i % 2 ? 'Odd' : 'Even');
    // Compaction runs behind the writes (its copies wait to be on disk): poll for it to catch up.
    await until(() => logBytes(dir) < (2000 * 150) / 2, 15_000);
    await a.store.close();
    const b = await open(dir, opts);
    expect(await historySeqs(b.store, 'Odd')).toEqual(range(701, 1000));
    expect(await historySeqs(b.store, 'Even')).toEqual(range(701, 1000));
    expect(logBytes(dir)).toBeLessThan((2000 * 150) / 2);
    await b.store.close();
  });
});

