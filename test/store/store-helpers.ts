// What the store tests share: temp dirs, opening a FileStore that collects its warnings, promise
// wrappers for append, and an fs shim that counts writes and injects failures.
import * as fs from 'node:fs';
import { afterEach } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { FileStore, type FileStoreOptions } from '../../server/store/file-store.js';
import { nodeIo, type LogIo } from '../../server/store/log-writer.js';
import { dmConv, roomConv, type Store } from '../../server/store/store.js';
import { tempDir } from '../helpers/server.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

export function newDir(): string {
  const d = tempDir('parley-store-');
  dirs.push(d);
  return d;
}

export interface Opened {
  store: FileStore;
  warnings: string[];
}

export async function open(dir: string, extra: Partial<FileStoreOptions> = {}): Promise<Opened> {
  const warnings: string[] = [];
  // No cache unless a test asks: every read and every compaction copy goes to the disk.
  const store = new FileStore({ dir, fsync: 'batch', historyPerRoom: 1000, cacheBytes: 0, log: (l) => warnings.push(l), ...extra });
  await store.open();
  return { store, warnings };
}

/** Appends a room message; resolves with the stored message, rejects with the store's error. */
export function say(store: Store, room = 'Lobby', text?: string): Promise<ChatMessage> {
  return new Promise((res, rej) =>
    store.append(roomConv(room.toLowerCase()), { room, from: 'alice', text: text ?? `hello in ${room} ✓` }, undefined, (err, m) => (err ? rej(err) : res(m!))),
  );
}

export function dm(store: Store, from: string, to: string, offline: boolean, text = 'psst'): Promise<ChatMessage> {
  const conv = dmConv(from.toLowerCase(), to.toLowerCase());
  return new Promise((res, rej) =>
    store.append(conv, { to, from, text }, offline ? to.toLowerCase() : undefined, (err, m) => (err ? rej(err) : res(m!))),
  );
}

export const seqs = (ms: readonly { seq: number }[]): number[] => ms.map((m) => m.seq);
export const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

export async function historySeqs(store: Store, room: string, limit = 100_000): Promise<number[]> {
  return seqs((await store.history(roomConv(room.toLowerCase()), { limit })).messages);
}

export function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
}

export function sidecarFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.idx')).sort();
}

/** Polls until `check` holds (or fails after `ms`). */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface ShimIo extends LogIo {
  writes: number;
  fsyncs: number;
  truncates: number;
  /** The next writes fail: 'short' writes 5 bytes then throws (a full disk); 'throw' writes nothing. */
  failWrite?: { err: Error; how: 'short' | 'throw'; times: number };
  failTruncate?: Error;
  failFsync?: Error;
  /** While set, fsyncs wait here until released (to look at the store between stored and durable). */
  holdFsync?: Promise<void>;
}

export function shimIo(): ShimIo {
  const io: ShimIo = {
    writes: 0,
    fsyncs: 0,
    truncates: 0,
    open: (path, flags) => nodeIo.open(path, flags),
    writev: (fd, bufs, pos) => {
      io.writes++;
      const f = io.failWrite;
      if (f && f.times > 0) {
        if (--f.times === 0) io.failWrite = undefined;
        if (f.how === 'short') nodeIo.writev(fd, [bufs[0]!.subarray(0, Math.min(5, bufs[0]!.length))], pos);
        throw f.err;
      }
      return nodeIo.writev(fd, bufs, pos);
    },
    fsync: (fd, cb) => {
      io.fsyncs++;
      const go = (): void => {
        if (io.failFsync) return cb(io.failFsync);
        nodeIo.fsync(fd, cb);
      };
      if (io.holdFsync) void io.holdFsync.then(go);
      else go();
    },
    ftruncate: (fd, len) => {
      io.truncates++;
      if (io.failTruncate) throw io.failTruncate;
      nodeIo.ftruncate(fd, len);
    },
  };
  return io;
}

/** Resolves once everything appended so far is durable; rejects with the store's error. */
export function durable(store: Store): Promise<void> {
  return new Promise((res, rej) => store.whenDurable((err) => (err ? rej(err) : res())));
}
