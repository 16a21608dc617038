// FileStore: durability across reopen, fsync modes and group commit (counted through an fs shim),
// write/fsync failures, torn tails, corrupt records, inbox persistence and compaction.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { FileStore, logBytes, type FileStoreOptions } from '../../server/store/file-store.js';
import { nodeIo, type LogIo } from '../../server/store/log-writer.js';
import { dmConv, roomConv } from '../../server/store/store.js';
import { tempDir } from '../helpers/server.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const d = tempDir('parley-store-');
  dirs.push(d);
  return d;
}

interface Opened {
  store: FileStore;
  warnings: string[];
}

async function open(dir: string, extra: Partial<FileStoreOptions> = {}): Promise<Opened> {
  const warnings: string[] = [];
  const store = new FileStore({ dir, fsync: 'batch', historyPerRoom: 1000, log: (l) => warnings.push(l), ...extra });
  await store.open();
  return { store, warnings };
}

function roomMsg(seq: number, room = 'Lobby'): ChatMessage {
  return { type: 'message', room, from: 'alice', text: `hello ${seq} ✓`, seq, ts: '2026-11-25T10:00:00.000Z' };
}

function say(store: FileStore, room = 'Lobby', offline?: string): Promise<number> {
  const conv = roomConv(room.toLowerCase());
  const seq = store.lastSeq(conv) + 1;
  return new Promise((res, rej) => store.appendMessage(conv, roomMsg(seq, room), offline, (err) => (err ? rej(err) : res(seq))));
}

function dm(store: FileStore, from: string, to: string, offline: boolean): Promise<number> {
  const conv = dmConv(from.toLowerCase(), to.toLowerCase());
  const seq = store.lastSeq(conv) + 1;
  const m: ChatMessage = { type: 'message', to, from, text: `dm ${seq}`, seq, ts: '2026-11-25T10:00:00.000Z' };
  return new Promise((res, rej) => store.appendMessage(conv, m, offline ? to.toLowerCase() : undefined, (err) => (err ? rej(err) : res(seq))));
}

const seqs = (ms: ChatMessage[]): number[] => ms.map((m) => m.seq);
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
}

interface CountingIo extends LogIo {
  writes: number;
  fsyncs: number;
  failWrite?: Error;
  failFsync?: Error;
}

function countingIo(): CountingIo {
  const io: CountingIo = {
    writes: 0,
    fsyncs: 0,
    write: (fd, buf, off, len, pos, cb) => {
      io.writes++;
      if (io.failWrite) {
        // A short write followed by the error, as a full disk would do it.
        return nodeIo.write(fd, buf, off, Math.min(len, 5), pos, () => cb(io.failWrite!, 0));
      }
      nodeIo.write(fd, buf, off, len, pos, cb);
    },
    fsync: (fd, cb) => {
      io.fsyncs++;
      if (io.failFsync) return cb(io.failFsync);
      nodeIo.fsync(fd, cb);
    },
    ftruncate: nodeIo.ftruncate,
  };
  return io;
}

describe('FileStore', () => {
  it('keeps rooms (display spelling), seqs, history, users and inboxes across reopen', async () => {
    const dir = join(newDir(), 'nested', 'data');
    const a = await open(dir);
    for (let i = 0; i < 30; i++) await say(a.store, 'Lobby');
    for (let i = 0; i < 5; i++) await say(a.store, 'Dev.Talk');
    a.store.rememberUser('Alice', '2026-11-25T10:00:00.000Z');
    a.store.rememberUser('bob', '2026-11-25T10:01:00.000Z');
    a.store.rememberUser('ALICE', '2026-11-25T10:02:00.000Z');
    await dm(a.store, 'Alice', 'bob', true);
    await dm(a.store, 'Alice', 'bob', true);
    await a.store.close();

    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expect(b.store.lastSeq(roomConv('lobby'))).toBe(30);
    expect(b.store.lastSeq(roomConv('dev.talk'))).toBe(5);
    expect([...b.store.rooms()].sort()).toEqual(['Dev.Talk', 'Lobby']);
    const page = b.store.history(roomConv('lobby'), { before: 21, limit: 10 });
    expect(seqs(page.messages)).toEqual(range(11, 20));
    expect(page.messages[0]!.text).toBe('hello 11 ✓');
    expect(page.more).toBe(true);
    expect(b.store.knownUser('alice')).toEqual({ name: 'Alice', lastSeen: '2026-11-25T10:02:00.000Z' });
    expect([...b.store.knownUsers()].map((u) => u.name).sort()).toEqual(['Alice', 'bob']);
    expect(seqs(b.store.inbox('bob'))).toEqual([1, 2]);
    expect(b.store.lastSeq(dmConv('alice', 'bob'))).toBe(2);
    await say(b.store, 'Lobby');
    await b.store.close();
    const c = await open(dir);
    expect(c.store.lastSeq(roomConv('lobby'))).toBe(31);
    await c.store.close();
  });

  it('markDelivered updates the inbox at once and persists', async () => {
    const dir = newDir();
    const a = await open(dir);
    a.store.rememberUser('bob', 't');
    for (let i = 0; i < 3; i++) await dm(a.store, 'carol', 'bob', true);
    await dm(a.store, 'dave', 'bob', true);
    let called = false;
    a.store.markDelivered('bob', 2, () => (called = true));
    expect(a.store.inbox('bob').map((m) => `${m.from}${m.seq}`)).toEqual(['carol3', 'dave1']);
    await a.store.close();
    expect(called).toBe(true);
    const b = await open(dir);
    expect(b.store.inbox('bob').map((m) => `${m.from}${m.seq}`)).toEqual(['carol3', 'dave1']);
    b.store.markDelivered('bob', 5, () => {});
    await b.store.close();
    const c = await open(dir);
    expect(c.store.inbox('bob')).toEqual([]);
    await c.store.close();
  });

  it('group commit: many appends in one turn cost one write and one fsync; dones in order', async () => {
    const io = countingIo();
    const { store } = await open(newDir(), { io });
    await say(store); // creates the segment (data fsync + directory fsync)
    io.writes = io.fsyncs = 0;
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) {
      const seq = store.lastSeq(roomConv('lobby')) + 1;
      all.push(new Promise((res) => store.appendMessage(roomConv('lobby'), roomMsg(seq), undefined, () => res(void order.push(seq)))));
    }
    await Promise.all(all);
    expect(io.writes).toBe(1);
    expect(io.fsyncs).toBe(1);
    expect(order).toEqual(range(2, 501));
    await store.close();
  });

  it('batch: appends made while an fsync runs go out together in the next one', async () => {
    const io = countingIo();
    const { store } = await open(newDir(), { io });
    await say(store);
    io.writes = io.fsyncs = 0;
    const all: Promise<number>[] = [];
    for (let i = 0; i < 200; i++) {
      all.push(say(store));
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    expect(io.fsyncs).toBeLessThanOrEqual(11);
    expect(io.fsyncs).toBe(io.writes);
    await store.close();
  });

  it('always: one write and one fsync per record', async () => {
    const io = countingIo();
    const { store } = await open(newDir(), { io, fsync: 'always' });
    await say(store);
    io.writes = io.fsyncs = 0;
    await Promise.all(range(1, 20).map(() => say(store)));
    expect(io.writes).toBe(20);
    expect(io.fsyncs).toBe(20);
    await store.close();
  });

  it('off: writes without fsync, still durable across a clean reopen', async () => {
    const io = countingIo();
    const dir = newDir();
    const { store } = await open(dir, { io, fsync: 'off' });
    await Promise.all(range(1, 20).map(() => say(store)));
    expect(io.fsyncs).toBe(0);
    expect(io.writes).toBeGreaterThan(0);
    await store.close();
    const b = await open(dir);
    expect(b.store.lastSeq(roomConv('lobby'))).toBe(20);
    await b.store.close();
  });

  it('a failed write fails that batch only; the message is never served; later appends reuse its seqs', async () => {
    const io = countingIo();
    const dir = newDir();
    const { store } = await open(dir, { io });
    await say(store);
    await say(store);
    io.failWrite = new Error('ENOSPC: no space left on device');
    const failed = await Promise.allSettled([say(store), say(store)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(seqs(store.history(roomConv('lobby'), { limit: 10 }).messages)).toEqual([1, 2]);
    io.failWrite = undefined;
    // Nobody saw 3 and 4, so the next message is 3: seqs stay contiguous, as the protocol promises.
    expect(await say(store)).toBe(3);
    await store.close();
    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expect(seqs(b.store.history(roomConv('lobby'), { limit: 10 }).messages)).toEqual([1, 2, 3]);
    await b.store.close();
  });

  it('a failed fsync fails the batch and every later append (the page cache cannot be trusted)', async () => {
    const io = countingIo();
    const { store } = await open(newDir(), { io });
    await say(store);
    io.failFsync = new Error('EIO: i/o error');
    await expect(say(store)).rejects.toThrow(/EIO/);
    io.failFsync = undefined;
    await expect(say(store)).rejects.toThrow(/fsync failed/);
    await store.close();
  });

  it('close() writes what is queued and calls every pending done; later appends fail', async () => {
    const dir = newDir();
    const { store } = await open(dir);
    const done: number[] = [];
    for (let s = 1; s <= 50; s++) store.appendMessage(roomConv('lobby'), roomMsg(s), undefined, () => done.push(s));
    await store.close();
    expect(done).toEqual(range(1, 50));
    await expect(say(store)).rejects.toThrow(/closed/);
    const b = await open(dir);
    expect(b.store.lastSeq(roomConv('lobby'))).toBe(50);
    await b.store.close();
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
    expect(b.store.lastSeq(roomConv('lobby'))).toBe(19);
    expect(seqs(b.store.history(roomConv('lobby'), { limit: 100 }).messages)).toEqual(range(1, 19));
    await say(b.store);
    await b.store.close();

    fs.appendFileSync(file, Buffer.from([0x40, 0, 0, 0, 1, 2])); // garbage after the new record
    const c = await open(dir);
    expect(c.warnings.length).toBe(1);
    expect(seqs(c.store.history(roomConv('lobby'), { limit: 100 }).messages)).toEqual(range(1, 20));
    await c.store.close();
    const d = await open(dir);
    expect(d.warnings).toEqual([]);
    await d.store.close();
  });

  it('corrupt record in the middle: only it is skipped, with a warning; later records survive', async () => {
    const dir = newDir();
    const a = await open(dir);
    for (let i = 0; i < 20; i++) await say(a.store);
    await a.store.close();
    const file = join(dir, segmentFiles(dir)[0]!);
    const buf = fs.readFileSync(file);
    const at = buf.indexOf('hello 10 ');
    buf[at] = 'j'.charCodeAt(0); // the CRC of record 10 no longer matches
    fs.writeFileSync(file, buf);

    const b = await open(dir);
    expect(b.warnings.join('\n')).toMatch(/corrupt record/);
    expect(b.warnings.join('\n')).not.toMatch(/tail/);
    expect(seqs(b.store.history(roomConv('lobby'), { limit: 100 }).messages)).toEqual([...range(1, 9), ...range(11, 20)]);
    expect(b.store.lastSeq(roomConv('lobby'))).toBe(20);
    expect(fs.statSync(file).size).toBe(buf.length); // nothing good was cut off
    await b.store.close();
  });

  it('a corrupted length field is resynchronised past, not trusted', async () => {
    const dir = newDir();
    const a = await open(dir);
    for (let i = 0; i < 10; i++) await say(a.store);
    await a.store.close();
    const file = join(dir, segmentFiles(dir)[0]!);
    const buf = fs.readFileSync(file);
    const at = buf.indexOf('{"t":"m","c":"r:lobby","m":{"type":"message","room":"Lobby","from":"alice","text":"hello 4 ');
    buf.writeUInt32LE(0x7fffffff, at - 8);
    fs.writeFileSync(file, buf);
    const b = await open(dir);
    expect(seqs(b.store.history(roomConv('lobby'), { limit: 100 }).messages)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10]);
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
    a.store.markDelivered('zed', 1, () => {});
    for (let i = 0; i < 3000; i++) await say(a.store, 'Busy');
    // Let the last compaction finish copying and deleting.
    let before = -1;
    for (let i = 0; i < 100 && before !== logBytes(dir); i++) {
      before = logBytes(dir);
      await new Promise((r) => setTimeout(r, 30));
    }
    const written = 3000 * 160;
    expect(logBytes(dir)).toBeLessThan(written / 5);
    expect(segmentFiles(dir).length).toBeLessThan(10);
    await a.store.close();

    const b = await open(dir, opts);
    expect(b.warnings).toEqual([]);
    expect(b.store.lastSeq(roomConv('busy'))).toBe(3000);
    expect(seqs(b.store.history(roomConv('busy'), { limit: 1000 }).messages)).toEqual(range(2951, 3000));
    expect(seqs(b.store.history(roomConv('quiet'), { limit: 10 }).messages)).toEqual([1]);
    expect([...b.store.rooms()].sort()).toEqual(['Busy', 'Quiet']);
    expect(b.store.knownUser('zed')).toEqual({ name: 'Zed', lastSeen: '2026-11-25T09:00:00.000Z' });
    expect(seqs(b.store.inbox('zed'))).toEqual([2]);
    expect(b.store.lastSeq(dmConv('alice', 'zed'))).toBe(2);
    expect(await say(b.store, 'Busy')).toBe(3001);
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
      if (i === 700) a.store.markDelivered('ann', 1, () => {});
      if (i % 20 === 0) for (const f of segmentFiles(dir)) seen.set(f, fs.readFileSync(join(dir, f)));
    }
    await new Promise((r) => setTimeout(r, 200));
    await a.store.close();
    const kept = new Set(segmentFiles(dir));
    const resurrected = [...seen.keys()].filter((f) => !kept.has(f));
    expect(resurrected.length).toBeGreaterThan(0);

    const expectState = (s: FileStore): void => {
      expect(s.lastSeq(roomConv('main'))).toBe(1000);
      expect(seqs(s.history(roomConv('main'), { limit: 1000 }).messages)).toEqual(range(961, 1000));
      expect(seqs(s.history(roomConv('side'), { limit: 1000 }).messages)).toEqual(range(461, 500));
      expect(s.inbox('ann').map((m) => `${m.from}${m.seq}`)).toEqual(['x2', 'y1']);
      expect(s.knownUser('ann')).toEqual({ name: 'Ann', lastSeen: 't0' });
    };
    const b = await open(dir, opts);
    expect(b.warnings).toEqual([]);
    expectState(b.store);
    await b.store.close();

    // Put the deleted segments back (a stale but valid image of them) and replay again.
    for (const f of resurrected) fs.writeFileSync(join(dir, f), seen.get(f)!);
    const c = await open(dir, opts);
    expectState(c.store);
    await c.store.close();
  });

  it('compaction with a retention larger than a segment keeps every retained message', async () => {
    const dir = newDir();
    const opts = { historyPerRoom: 300, segmentBytes: 4096 };
    const a = await open(dir, opts);
    for (let i = 0; i < 2000; i++) await say(a.store, i % 2 ? 'Odd' : 'Even');
    await new Promise((r) => setTimeout(r, 200));
    await a.store.close();
    const b = await open(dir, opts);
    expect(seqs(b.store.history(roomConv('odd'), { limit: 1000 }).messages)).toEqual(range(701, 1000));
    expect(seqs(b.store.history(roomConv('even'), { limit: 1000 }).messages)).toEqual(range(701, 1000));
    expect(logBytes(dir)).toBeLessThan(2000 * 160 / 2);
    await b.store.close();
  });
});
