// amend(): edits, deletions and reactions to stored messages, applied to everything the store hands
// out, durable in the FileStore (amends.jsonl) across a reopen, dropped with the message's retention.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory-store.js';
import { NoSuchMessage, roomConv, type Amended, type Change, type Store } from '../../server/store/store.js';
import { dm, newDir, open, say } from './store-helpers.js';

const lobby = roomConv('lobby');

function amend(store: Store, seq: number, change: Change, conv = lobby): Promise<Amended> {
  return new Promise((res, rej) => store.amend(conv, seq, change, (err, st) => (err ? rej(err) : res(st!))));
}

async function exercise(store: Store): Promise<void> {
  for (let i = 1; i <= 3; i++) await say(store, 'Lobby', `m${i}`);
  expect(await amend(store, 1, { kind: 'edit', text: 'm1 fixed', ts: 'T1' })).toEqual({ text: 'm1 fixed', editedTs: 'T1', reactions: {} });
  expect(await amend(store, 2, { kind: 'react', emoji: '👍', name: 'Bob', on: true })).toEqual({ reactions: { '👍': ['Bob'] } });
  await amend(store, 2, { kind: 'react', emoji: '👍', name: 'ann', on: true });
  await amend(store, 2, { kind: 'react', emoji: '🎉', name: 'ann', on: true });
  expect(await amend(store, 2, { kind: 'react', emoji: '👍', name: 'BOB', on: false })).toEqual({ reactions: { '👍': ['ann'], '🎉': ['ann'] } });
  await amend(store, 3, { kind: 'react', emoji: '👍', name: 'ann', on: true });
  expect(await amend(store, 3, { kind: 'delete', ts: 'T3' })).toEqual({ deleted: true });
  await expect(amend(store, 9, { kind: 'delete', ts: 'T' })).rejects.toBeInstanceOf(NoSuchMessage);
}

function expectAmended(messages: readonly object[]): void {
  expect(messages[0]).toMatchObject({ seq: 1, text: 'm1 fixed', editedTs: 'T1' });
  expect(messages[1]).toMatchObject({ seq: 2, text: 'm2', reactions: { '👍': ['ann'], '🎉': ['ann'] } });
  expect(messages[1]).not.toHaveProperty('editedTs');
  expect(messages[2]).toMatchObject({ seq: 3, text: '', deleted: true });
  expect(messages[2]).not.toHaveProperty('reactions');
}

describe('amend', () => {
  it('MemoryStore: history and message() show the latest state; a missing seq is NoSuchMessage', async () => {
    const store = new MemoryStore({ historyPerRoom: 100 });
    await exercise(store);
    expectAmended((await store.history(lobby, { limit: 10 })).messages);
    expect(await store.message(lobby, 1)).toMatchObject({ text: 'm1 fixed' });
  });

  it('FileStore: amendments survive a reopen (amends.jsonl) and apply to the inbox too', async () => {
    const dir = newDir();
    const a = await open(dir);
    await exercise(a.store);
    const d = await dm(a.store, 'ann', 'bob', true, 'secret');
    await amend(a.store, d.seq, { kind: 'edit', text: 'no secret', ts: 'T4' }, 'd:ann|bob');
    await a.store.close();
    expect(fs.existsSync(join(dir, 'amends.jsonl'))).toBe(true);
    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expectAmended((await b.store.history(lobby, { limit: 10 })).messages);
    expect((await b.store.inbox('bob', 10))[0]!.msg).toMatchObject({ text: 'no secret', editedTs: 'T4' });
    await b.store.close();
  });

  it('FileStore: a message that aged out takes its amendments with it, and the file is rewritten once mostly dead', async () => {
    const dir = newDir();
    const a = await open(dir, { historyPerRoom: 2 });
    await say(a.store, 'Lobby', 'old');
    for (let i = 0; i < 150; i++) await amend(a.store, 1, { kind: 'react', emoji: '👍', name: `u${i}`, on: true });
    await say(a.store, 'Lobby');
    await say(a.store, 'Lobby');
    await expect(amend(a.store, 1, { kind: 'delete', ts: 'T' })).rejects.toBeInstanceOf(NoSuchMessage);
    await a.store.close();
    const b = await open(dir, { historyPerRoom: 2 });
    expect((await b.store.history(lobby, { limit: 10 })).messages.map((m) => m.reactions)).toEqual([undefined, undefined]);
    await b.store.close();
    expect(fs.readFileSync(join(dir, 'amends.jsonl'), 'utf8')).toBe('');
  });
});
