// Startup: data dirs written by the v1 store (records with whole messages, no sidecars) still open with
// their history; sidecars are used when they match their segment and ignored (the segment scanned)
// when they do not; a crash after a clean close replays the checkpoint plus the tail.
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { crc32 } from '../../server/store/crc32.js';
import { dmConv, roomConv } from '../../server/store/store.js';
import { dm, historySeqs, newDir, open, range, say, segmentFiles, seqs, sidecarFiles } from './store-helpers.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

interface V1Expected {
  lastSeq: Record<string, number>;
  rooms: string[];
  lobby: ChatMessage[];
  devTalk: number[];
  inboxBob: ChatMessage[];
  users: { name: string; lastSeen: string }[];
}

function copyFixture(): string {
  const dir = newDir();
  for (const f of fs.readdirSync(join(FIXTURES, 'v1-data'))) fs.copyFileSync(join(FIXTURES, 'v1-data', f), join(dir, f));
  return dir;
}

/** A copy of the data dir's files as they are now: what a crash at this moment would leave. */
function crashImage(dir: string): string {
  const copy = newDir();
  for (const f of fs.readdirSync(dir)) if (f !== 'LOCK') fs.copyFileSync(join(dir, f), join(copy, f));
  return copy;
}

describe('store startup', () => {
  it('opens a data dir written by the v1 store with everything it served, then keeps going', async () => {
    const expected = JSON.parse(fs.readFileSync(join(FIXTURES, 'v1-expected.json'), 'utf8')) as V1Expected;
    const dir = copyFixture();
    const opts = { historyPerRoom: 40, segmentBytes: 6000 };
    for (const round of ['scanned', 'from sidecars']) {
      const { store, warnings } = await open(dir, opts);
      expect(warnings.filter((w) => !/scanning/.test(w)), round).toEqual([]);
      if (round === 'from sidecars') expect(warnings).toEqual([]);
      for (const [conv, seq] of Object.entries(expected.lastSeq)) expect(await store.lastSeq(conv)).toBe(round === 'scanned' ? seq : seq + (conv === 'r:lobby' ? 1 : 0));
      expect((await store.rooms()).sort()).toEqual(expected.rooms);
      const lobby = (await store.history(roomConv('lobby'), { limit: 1000 })).messages;
      if (round === 'scanned') expect(lobby).toEqual(expected.lobby);
      else expect(lobby.slice(0, -1)).toEqual(expected.lobby.slice(1));
      expect(await historySeqs(store, 'Dev.Talk')).toEqual(expected.devTalk);
      expect((await store.inbox('bob', 10)).map((i) => i.msg)).toEqual(expected.inboxBob);
      expect((await store.users(undefined, 10)).users).toEqual(expected.users);
      if (round === 'scanned') {
        // New records go after the old ones, in the new format, with the next seq and a later ts.
        const next = await say(store, 'Lobby', 'v2 says hi');
        expect(next.seq).toBe(expected.lastSeq['r:lobby']! + 1);
        expect(next.ts >= expected.lobby[expected.lobby.length - 1]!.ts).toBe(true);
      }
      await store.close();
      expect(sidecarFiles(dir).length).toBe(segmentFiles(dir).length);
    }
  });

  it('reopens from sidecars without scanning; a missing, corrupt or stale one is scanned around', async () => {
    const dir = newDir();
    const opts = { historyPerRoom: 500, segmentBytes: 4096 };
    const a = await open(dir, opts);
    a.store.rememberUser('Bob', 't1');
    for (let i = 0; i < 300; i++) await say(a.store, i % 3 ? 'Main' : 'Side', `m${i}`);
    await dm(a.store, 'al', 'Bob', true, 'queued');
    a.store.markDelivered('bob', [], () => {});
    await a.store.close();
    const segs = segmentFiles(dir);
    expect(segs.length).toBeGreaterThan(5);
    expect(sidecarFiles(dir)).toEqual(segs.map((f) => f.replace('.log', '.idx')));

    const state = async (s: Awaited<ReturnType<typeof open>>['store']): Promise<unknown> => ({
      main: (await s.history(roomConv('main'), { limit: 1000 })).messages.map((m) => m.text),
      side: await historySeqs(s, 'Side'),
      rooms: (await s.rooms()).sort(),
      inbox: (await s.inbox('bob', 10)).map((i) => i.msg.text),
      bob: await s.knownUser('bob'),
      dmSeq: await s.lastSeq(dmConv('al', 'bob')),
    });
    const b = await open(dir, opts);
    expect(b.warnings).toEqual([]);
    const want = await state(b.store);
    expect(want).toMatchObject({ side: range(1, 100), rooms: ['Main', 'Side'], inbox: ['queued'], bob: { name: 'Bob', lastSeen: 't1' }, dmSeq: 1 });
    await b.store.close();

    const idx = sidecarFiles(dir).map((f) => join(dir, f));
    fs.rmSync(idx[1]!); // missing
    const flipped = fs.readFileSync(idx[2]!);
    flipped[60] = flipped[60]! ^ 1;
    fs.writeFileSync(idx[2]!, flipped); // corrupt
    fs.copyFileSync(idx[4]!, idx[3]!); // another segment's
    const c = await open(dir, opts);
    expect(c.warnings.filter((w) => /scanning/.test(w)).length).toBe(2);
    expect(c.warnings.join('\n')).toMatch(/bad CRC/);
    expect(c.warnings.join('\n')).toMatch(/wrong segment/);
    expect(c.warnings.filter((w) => !/scanning/.test(w))).toEqual([]);
    expect(await state(c.store)).toEqual(want);
    await c.store.close();
    // The scans wrote fresh sidecars: the next start needs no scan.
    const d = await open(dir, opts);
    expect(d.warnings).toEqual([]);
    expect(await state(d.store)).toEqual(want);
    await d.store.close();
  });

  it('a sidecar that passes its CRC but does not add up is dropped and the load starts over without it', async () => {
    const dir = newDir();
    const opts = { segmentBytes: 2000 };
    const a = await open(dir, opts);
    for (let i = 1; i <= 60; i++) await say(a.store, i % 2 ? 'Odd' : 'Even', `m${i}`);
    await a.store.close();
    const idx = join(dir, sidecarFiles(dir)[1]!);
    const buf = fs.readFileSync(idx);
    // Point the first entry's conversation at a string that does not exist, then fix the CRC up.
    const body = 48 + buf.readUInt32LE(36);
    buf.writeUInt32LE(0xfffffff, body + 4);
    buf.writeUInt32LE(crc32(buf, 0, buf.length - 4), buf.length - 4);
    fs.writeFileSync(idx, buf);
    const b = await open(dir, opts);
    expect(b.warnings).toEqual([expect.stringMatching(/bad string index; scanning/)]);
    expect(await historySeqs(b.store, 'Odd')).toEqual(range(1, 30));
    expect(await historySeqs(b.store, 'Even')).toEqual(range(1, 30));
    await b.store.close();
  });

  it('a sidecar copied beside the wrong segment of the same size is noticed', async () => {
    const dir = newDir();
    const a = await open(dir, { segmentBytes: 1000 });
    for (let i = 0; i < 40; i++) await say(a.store, 'Lobby', `fixed width ${String(i).padStart(3, '0')}`);
    await a.store.close();
    const segs = segmentFiles(dir);
    const sizes = segs.map((f) => fs.statSync(join(dir, f)).size);
    const i = sizes.findIndex((s, k) => k > 0 && s === sizes[k - 1]);
    expect(i).toBeGreaterThan(0);
    // Swap the contents of two same-size sealed segments: sizes match, records do not.
    const x = fs.readFileSync(join(dir, segs[i - 1]!));
    fs.writeFileSync(join(dir, segs[i - 1]!), fs.readFileSync(join(dir, segs[i]!)));
    fs.writeFileSync(join(dir, segs[i]!), x);
    const b = await open(dir);
    expect(b.warnings.join('\n')).toMatch(/last record differs; scanning/);
    await b.store.close();
  });

  it('after a crash, the checkpoint of the segment being written is replayed and only the tail scanned', async () => {
    const dir = newDir();
    const a = await open(dir);
    for (let i = 1; i <= 50; i++) await say(a.store, 'Lobby', `first ${i}`);
    await a.store.close();
    const b = await open(dir);
    for (let i = 51; i <= 80; i++) await say(b.store, 'Lobby', `then ${i}`);
    await dm(b.store, 'x', 'bob', true, 'late dm');
    const image = crashImage(dir);
    await b.store.close();
    const c = await open(image);
    expect(c.warnings).toEqual([]);
    expect(await historySeqs(c.store, 'Lobby')).toEqual(range(1, 80));
    expect((await c.store.history(roomConv('lobby'), { limit: 1 })).messages[0]!.text).toBe('then 80');
    expect((await c.store.inbox('bob', 5)).map((i) => i.msg.text)).toEqual(['late dm']);
    expect((await say(c.store, 'Lobby')).seq).toBe(81);
    await c.store.close();
  });

  it('sidecars of deleted segments are removed; a torn temp sidecar is ignored', async () => {
    const dir = newDir();
    const a = await open(dir);
    await say(a.store);
    await a.store.close();
    fs.writeFileSync(join(dir, '0000000099.idx'), 'orphan');
    fs.writeFileSync(join(dir, '0000000001.idx.tmp'), 'torn');
    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expect(fs.existsSync(join(dir, '0000000099.idx'))).toBe(false);
    expect(fs.existsSync(join(dir, '0000000001.idx.tmp'))).toBe(false);
    expect(seqs((await b.store.history(roomConv('lobby'), { limit: 5 })).messages)).toEqual([1]);
    await b.store.close();
  });
});
