// The seq promise under write and sync failures, injected through the LogIo shim on real files:
// what is served never has a gap, a refused message is never served (not after a restart either),
// appends after a recovered write failure land where they can be read back, across segment rolls,
// and a failed sync breaks the store (its waiters hear it) instead of pretending.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import type { FileStore } from '../../server/store/file-store.js';
import { roomConv } from '../../server/store/store.js';
import { durable, historySeqs, newDir, open, range, say, segmentFiles, shimIo, sidecarFiles } from './store-helpers.js';

const ENOSPC = (): Error => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
const EIO = (): Error => Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });

/** What a crash at this moment would leave: a copy of the data dir's files as they are now. */
function crashImage(dir: string): string {
  const copy = newDir();
  for (const f of fs.readdirSync(dir)) if (f !== 'LOCK') fs.copyFileSync(join(dir, f), join(copy, f));
  return copy;
}

type Outcome = { text: string; seq?: number; err?: string };

function sayTracked(store: FileStore, text: string, log: Outcome[], room = 'Lobby'): Promise<void> {
  return new Promise((res) =>
    store.append(roomConv(room.toLowerCase()), { room, from: 'a', text }, undefined, (err, m) => {
      log.push(err ? { text, err: err.message } : { text, seq: m!.seq });
      res();
    }),
  );
}

async function texts(store: FileStore, room = 'Lobby'): Promise<string[]> {
  return (await store.history(roomConv(room.toLowerCase()), { limit: 1000 })).messages.map((m: ChatMessage) => `${m.seq}:${m.text}`);
}

describe('store failures', () => {
  it('a failed write fails every message numbered on top of it in that turn; seqs are handed back without a gap', async () => {
    const io = shimIo();
    const dir = newDir();
    const { store, warnings } = await open(dir, { io });
    await say(store, 'Lobby', 'one');
    await say(store, 'Lobby', 'two');
    await durable(store);
    const sizeBefore = fs.statSync(join(dir, segmentFiles(dir)[0]!)).size;
    const log: Outcome[] = [];
    // 'three', 'four' and Other's first are numbered in one task and written as one batch: its write
    // fails, and so do they all.
    io.failWrite = { err: ENOSPC(), how: 'short', times: 1 };
    const all = [sayTracked(store, 'three', log), sayTracked(store, 'four', log), sayTracked(store, 'other', log, 'Other')];
    await Promise.all(all);
    expect(log).toEqual([
      { text: 'three', err: expect.stringMatching(/ENOSPC/) },
      { text: 'four', err: expect.stringMatching(/ENOSPC/) },
      { text: 'other', err: expect.stringMatching(/ENOSPC/) },
    ]);
    expect(io.truncates).toBe(1);
    expect(fs.statSync(join(dir, segmentFiles(dir)[0]!)).size).toBe(sizeBefore);
    expect(await texts(store)).toEqual(['1:one', '2:two']);
    expect(await store.lastSeq(roomConv('lobby'))).toBe(2);
    expect(await store.lastSeq(roomConv('other'))).toBe(0);
    // A batch that fails fails whole; the batch written before it (at the end of its own task) stands.
    const batchLog: Outcome[] = [];
    const first = sayTracked(store, 'three again', batchLog);
    await new Promise<void>((r) => queueMicrotask(r));
    io.failWrite = { err: ENOSPC(), how: 'throw', times: 1 };
    await Promise.all([first, sayTracked(store, 'x', batchLog), sayTracked(store, 'y', batchLog)]);
    expect(batchLog).toEqual([{ text: 'three again', seq: 3 }, { text: 'x', err: expect.stringMatching(/ENOSPC/) }, { text: 'y', err: expect.stringMatching(/ENOSPC/) }]);
    expect((await say(store, 'Other', 'other again')).seq).toBe(1);
    expect((await say(store, 'Lobby', 'four again')).seq).toBe(4);
    expect(await texts(store)).toEqual(['1:one', '2:two', '3:three again', '4:four again']);
    await store.close();
    expect(warnings).toEqual([]);
    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expect(await texts(b.store)).toEqual(['1:one', '2:two', '3:three again', '4:four again']);
    expect(await texts(b.store, 'Other')).toEqual(['1:other again']);
    await b.store.close();
  });

  it('a message appended from inside a failure callback takes the lowest free seq; the rest follow without a gap', async () => {
    const io = shimIo();
    const { store } = await open(newDir(), { io });
    await say(store, 'Lobby', 'one');
    io.failWrite = { err: EIO(), how: 'short', times: 1 };
    const got: string[] = [];
    const inner: Promise<ChatMessage>[] = [];
    await Promise.all(
      ['a', 'b', 'c'].map(
        (t) =>
          new Promise<void>((res) =>
            store.append(roomConv('lobby'), { room: 'Lobby', from: 'x', text: t }, undefined, (err) => {
              got.push(`${t}:${err ? 'failed' : 'ok'}`);
              if (err) inner.push(say(store, 'Lobby', `${t}-again`));
              res();
            }),
          ),
      ),
    );
    expect(got).toEqual(['a:failed', 'b:failed', 'c:failed']);
    expect((await Promise.all(inner)).map((m) => `${m.seq}:${m.text}`)).toEqual(['2:a-again', '3:b-again', '4:c-again']);
    expect(await historySeqs(store, 'Lobby')).toEqual([1, 2, 3, 4]);
    await store.close();
  });

  it('stored before durable: a message is readable (it survives a crash of the process) while its sync runs; the waiter hears once it is done', async () => {
    const io = shimIo();
    const dir = newDir();
    const { store } = await open(dir, { io });
    await say(store, 'Lobby', 'one');
    await durable(store);
    let release!: () => void;
    io.holdFsync = new Promise((r) => (release = r));
    const m = await say(store, 'Lobby', 'two');
    let synced = false;
    const waited = durable(store).then(() => void (synced = true));
    expect(m.seq).toBe(2);
    expect(await texts(store)).toEqual(['1:one', '2:two']);
    // What a kill -9 now would leave: the bytes are in the file (the kernel has them).
    const image = crashImage(dir);
    const after = await open(image);
    expect(await texts(after.store)).toEqual(['1:one', '2:two']);
    await after.store.close();
    await new Promise((r) => setImmediate(r));
    expect(synced).toBe(false);
    io.holdFsync = undefined;
    release();
    await waited;
    expect(synced).toBe(true);
    await store.close();
  });

  it('a failed sync is told to onSyncFailure before any waiter, then breaks the store until a restart, which keeps what reached the disk', async () => {
    const io = shimIo();
    const dir = newDir();
    const heard: string[] = [];
    const { store } = await open(dir, { io, onSyncFailure: (err) => heard.push(`fatal: ${err.message}`) });
    store.whenDurable((err) => heard.push(`waiter: ${err?.message}`));
    await durable(store);
    heard.length = 0;
    await say(store, 'Lobby', 'kept');
    await durable(store);
    io.failFsync = EIO();
    const m = await say(store, 'Lobby', 'written');
    expect(m.seq).toBe(2);
    store.whenDurable((err) => heard.push(`waiter: ${err?.message}`));
    await expect(durable(store)).rejects.toThrow(/sync failed.*EIO.*restart the server/);
    expect(heard.map((h) => h.split(':')[0])).toEqual(['fatal', 'waiter']);
    io.failFsync = undefined;
    await expect(say(store, 'Lobby', 'later')).rejects.toThrow(/restart the server/);
    await expect(say(store, 'Other', 'elsewhere')).rejects.toThrow(/restart the server/);
    await expect(durable(store)).rejects.toThrow(/restart the server/);
    await store.close();
    // The bytes did reach the file here (only the flush was said to fail): the restart serves them.
    const b = await open(dir);
    expect(await texts(b.store)).toEqual(['1:kept', '2:written']);
    expect((await say(b.store, 'Lobby', 'next')).seq).toBe(3);
    await b.store.close();
  });

  it('when the failed bytes cannot be cut off, every later append is refused until a restart', async () => {
    const io = shimIo();
    const dir = newDir();
    const { store } = await open(dir, { io });
    await say(store, 'Lobby', 'kept');
    io.failWrite = { err: EIO(), how: 'short', times: 1 };
    io.failTruncate = EIO();
    await expect(say(store, 'Lobby', 'refused')).rejects.toThrow(/EIO/);
    io.failTruncate = undefined;
    await expect(say(store, 'Lobby', 'later')).rejects.toThrow(/restart the server/);
    await expect(say(store, 'Other', 'elsewhere')).rejects.toThrow(/restart the server/);
    expect(await texts(store)).toEqual(['1:kept']);
    await store.close();
    // The torn bytes are found and cut at the restart.
    const b = await open(dir);
    expect(await texts(b.store)).toEqual(['1:kept']);
    expect((await say(b.store, 'Lobby', 'next')).seq).toBe(2);
    await b.store.close();
  });

  it('appends after a recovered write error land at the right offsets, also across segment rolls', async () => {
    const io = shimIo();
    const dir = newDir();
    // About six records per segment: the burst needs a roll.
    const opts = { io, segmentBytes: 1100 };
    const { store, warnings } = await open(dir, opts);
    for (let i = 1; i <= 5; i++) await say(store, 'Lobby', `before ${i}`);
    const log: Outcome[] = [];
    io.failWrite = { err: ENOSPC(), how: 'short', times: 1 };
    await Promise.all(range(1, 12).map((i) => sayTracked(store, `burst ${i}`, log)));
    expect(log.every((o) => o.err !== undefined)).toBe(true);
    for (let i = 1; i <= 30; i++) {
      // Now and then a failure in the middle of a segment: the next record must take its place.
      if (i % 4 === 0) {
        io.failWrite = { err: ENOSPC(), how: 'short', times: 1 };
        await expect(say(store, 'Lobby', `refused ${i}`)).rejects.toThrow(/ENOSPC/);
      }
      expect((await say(store, 'Lobby', `after ${i}`)).seq).toBe(5 + i);
    }
    // A burst that spans a roll, written fine.
    await Promise.all(range(31, 40).map((i) => say(store, 'Lobby', `after ${i}`)));
    expect(segmentFiles(dir).length).toBeGreaterThanOrEqual(4);
    const want = [...range(1, 5).map((i) => `${i}:before ${i}`), ...range(1, 40).map((i) => `${5 + i}:after ${i}`)];
    // Read back from the files (no cache), then after a reopen from the sidecars, then by scanning.
    expect(await texts(store)).toEqual(want);
    await store.close();
    expect(warnings).toEqual([]);
    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expect(await texts(b.store)).toEqual(want);
    await b.store.close();
    for (const f of sidecarFiles(dir)) fs.rmSync(join(dir, f));
    const c = await open(dir);
    expect(c.warnings.filter((w) => !/scanning/.test(w))).toEqual([]);
    expect(await texts(c.store)).toEqual(want);
    await c.store.close();
  });

  it('a failure to start the next segment fails what was queued for it; the next append starts it', async () => {
    const io = shimIo();
    const dir = newDir();
    const { store } = await open(dir, { io, segmentBytes: 600 });
    for (let i = 1; i <= 3; i++) await say(store, 'Lobby', `m${i}`);
    const open0 = io.open;
    let failOpen = true;
    io.open = (path, flags) => {
      if (!failOpen) return open0(path, flags);
      failOpen = false;
      throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    };
    const results = await Promise.allSettled(range(1, 4).map((i) => say(store, 'Lobby', `x${i}`)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    expect(failed).toBeGreaterThan(0);
    const stored = results.filter((r): r is PromiseFulfilledResult<ChatMessage> => r.status === 'fulfilled').map((r) => r.value.seq);
    expect(stored).toEqual(range(4, 3 + stored.length));
    const next = await say(store, 'Lobby', 'after');
    expect(next.seq).toBe(4 + stored.length);
    expect(await historySeqs(store, 'Lobby')).toEqual(range(1, next.seq));
    await store.close();
    const b = await open(dir);
    expect(await historySeqs(b.store, 'Lobby')).toEqual(range(1, next.seq));
    await b.store.close();
  });
});
