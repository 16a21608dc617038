// search(): the word index of both stores. Words are whole and case-insensitive, all must occur, newest
// first, paged by `next`; deleted messages are never found and edited ones by their latest text; what
// left retention is not found; and the file store's index survives a reopen, a crash (no snapshot
// written at close) and a lost or damaged snapshot, without reading the whole log when it has one.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { searchTerms } from '../../protocol/search-terms.js';
import { MemoryStore } from '../../server/store/memory-store.js';
import { crc32 } from '../../server/store/crc32.js';
import { SearchIndex } from '../../server/store/search-index.js';
import { openSnapshot, SEARCH_FILE, SnapshotSink } from '../../server/store/search-snapshot.js';
import { accountDmConv, roomConv, type Change, type SearchPage, type SearchQuery, type Store } from '../../server/store/store.js';
import { newDir, open, say } from './store-helpers.js';

const lobby = roomConv('lobby');
const dev = roomConv('dev');

function find(store: Store, query: string, scope: Partial<SearchQuery> = {}): Promise<SearchPage> {
  return store.search({ terms: searchTerms(query), convs: [lobby], limit: 20, ...scope });
}
const texts = (p: SearchPage): string[] => p.hits.map((h) => h.msg.text);

function amend(store: Store, conv: string, seq: number, change: Change): Promise<void> {
  return new Promise((res, rej) => store.amend(conv, seq, change, (err) => (err ? rej(err) : res())));
}

function pdm(store: Store, from: string, to: string, text: string): Promise<void> {
  return new Promise((res, rej) => store.append(accountDmConv(from, to), { to, from, text }, undefined, (err) => (err ? rej(err) : res())));
}

/** The behaviour both stores share, on a fresh store. */
async function exercise(store: Store): Promise<void> {
  await say(store, 'Lobby', 'Deploy on Friday');
  await say(store, 'Lobby', 'no deployment today');
  await say(store, 'Lobby', 'friday DEPLOY again, deploy!');
  await say(store, 'Dev', 'deploy friday in dev');
  // Whole words, any case, AND of words, newest first, only the conversations asked for.
  expect(texts(await find(store, 'deploy'))).toEqual(['friday DEPLOY again, deploy!', 'Deploy on Friday']);
  expect(texts(await find(store, 'FRIDAY deploy'))).toEqual(['friday DEPLOY again, deploy!', 'Deploy on Friday']);
  expect(texts(await find(store, 'deploy today'))).toEqual([]);
  expect(texts(await find(store, 'nothing'))).toEqual([]);
  expect(texts(await find(store, 'deploy', { convs: [lobby, dev] }))).toEqual(['deploy friday in dev', 'friday DEPLOY again, deploy!', 'Deploy on Friday']);
  expect((await find(store, 'deploy', { convs: [dev] })).hits[0]).toMatchObject({ conv: dev, msg: { room: 'Dev', seq: 1 } });
  // Pages: `next` continues below the last hit.
  const first = await find(store, 'deploy', { convs: [lobby, dev], limit: 2 });
  expect(first.more).toBe(true);
  expect(texts(first)).toEqual(['deploy friday in dev', 'friday DEPLOY again, deploy!']);
  const second = await find(store, 'deploy', { convs: [lobby, dev], limit: 2, before: first.next! });
  expect(texts(second)).toEqual(['Deploy on Friday']);
  expect(second.more).toBe(false);
  expect(second.next).toBeUndefined();
  // Edited: found by the new words only; deleted: never found.
  await amend(store, lobby, 1, { kind: 'edit', text: 'rollout on Monday', ts: 'T1' });
  expect(texts(await find(store, 'deploy'))).toEqual(['friday DEPLOY again, deploy!']);
  expect((await find(store, 'rollout')).hits[0]!.msg).toMatchObject({ seq: 1, text: 'rollout on Monday', editedTs: 'T1' });
  await amend(store, lobby, 3, { kind: 'delete', ts: 'T3' });
  expect(texts(await find(store, 'deploy'))).toEqual([]);
  // Account DMs of one user, by dmsOf; others' conversations are not in scope.
  await pdm(store, 'ann', 'bob', 'secret plan');
  await pdm(store, 'cat', 'dan', 'secret plan too');
  const annHits = await find(store, 'secret plan', { convs: [], dmsOf: 'ann' });
  expect(annHits.hits.map((h) => h.conv)).toEqual(['p:ann|bob']);
  expect((await find(store, 'secret', { convs: [], dmsOf: 'bob' })).hits).toHaveLength(1);
  expect((await find(store, 'secret', { convs: [lobby], dmsOf: 'eve' })).hits).toHaveLength(0);
}

async function retention(store: Store): Promise<void> {
  for (let i = 1; i <= 5; i++) await say(store, 'Lobby', `needle ${i}`);
  // historyPerRoom 3: only 3, 4, 5 are retained.
  expect(texts(await find(store, 'needle'))).toEqual(['needle 5', 'needle 4', 'needle 3']);
}

describe('search: MemoryStore', () => {
  it('finds whole words, newest first, paged, with edits and deletions applied', async () => {
    await exercise(new MemoryStore({ historyPerRoom: 100 }));
  });
  it('does not find what left retention', async () => {
    await retention(new MemoryStore({ historyPerRoom: 3 }));
  });
  it('keeps finding the retained messages across index sweeps', async () => {
    const store = new MemoryStore({ historyPerRoom: 10 });
    // Far more messages than retained: the index sweeps its dead documents several times.
    for (let i = 1; i <= 12_000; i++) await say(store, 'Lobby', `n${i} common`);
    const page = await find(store, 'common', { limit: 100 });
    expect(page.hits.map((h) => h.msg.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 12_000 - i));
    expect(texts(await find(store, 'n11995'))).toEqual(['n11995 common']);
  });
});

describe('search: FileStore', () => {
  it('finds whole words, newest first, paged, with edits and deletions applied', async () => {
    const { store } = await open(newDir());
    await exercise(store);
    await store.close();
  });

  it('does not find what left retention, also after a reopen', async () => {
    const dir = newDir();
    const a = await open(dir, { historyPerRoom: 3 });
    await retention(a.store);
    await a.store.close();
    const b = await open(dir, { historyPerRoom: 3 });
    await retention(b.store);
    await b.store.close();
  });

  it('keeps its index across a clean reopen, from the snapshot, with edits and deletions', async () => {
    const dir = newDir();
    const a = await open(dir);
    await exercise(a.store);
    await a.store.close();
    expect(fs.existsSync(join(dir, SEARCH_FILE))).toBe(true);
    const b = await open(dir);
    expect(b.warnings).toEqual([]);
    expect(texts(await find(b.store, 'deploy', { convs: [lobby, dev] }))).toEqual(['deploy friday in dev']);
    expect(texts(await find(b.store, 'rollout'))).toEqual(['rollout on Monday']);
    expect((await find(b.store, 'secret', { convs: [], dmsOf: 'ann' })).hits).toHaveLength(1);
    // New messages after the reopen are found, newest first, before the older ones.
    await say(b.store, 'Lobby', 'deploy once more');
    expect(texts(await find(b.store, 'deploy', { convs: [lobby, dev] }))).toEqual(['deploy once more', 'deploy friday in dev']);
    await b.store.close();
  });

  it('after a crash indexes only the log written since the snapshot; with none or a damaged one rebuilds from the log', async () => {
    const dir = newDir();
    // Small segments: every seal writes a snapshot.
    const a = await open(dir, { segmentBytes: 4096 });
    for (let i = 1; i <= 200; i++) await say(a.store, 'Lobby', `message ${i} ${i % 7 === 0 ? 'seventh' : 'plain'}`);
    await until(() => fs.existsSync(join(dir, SEARCH_FILE)));
    await a.store.close();
    const closed = fs.readFileSync(join(dir, SEARCH_FILE));
    const expected = Array.from({ length: 28 }, (_, i) => `message ${(28 - i) * 7} seventh`).slice(0, 20);

    // A crash: the snapshot is an older one (taken at some seal), the rest is the tail.
    const b = await open(dir, { segmentBytes: 4096 });
    for (let i = 201; i <= 210; i++) await say(b.store, 'Lobby', `message ${i} ${i % 7 === 0 ? 'seventh' : 'plain'}`);
    const atSeal = fs.readFileSync(join(dir, SEARCH_FILE));
    await b.store.close();
    fs.writeFileSync(join(dir, SEARCH_FILE), atSeal);
    const c = await open(dir, { segmentBytes: 4096 });
    expect(c.warnings).toEqual([]);
    expect(texts(await find(c.store, 'seventh'))).toEqual(['message 210 seventh', 'message 203 seventh', ...expected.slice(0, 18)]);
    await c.store.close();

    // No snapshot, then a damaged one: rebuilt from the log, the same answers.
    for (const damage of [() => fs.rmSync(join(dir, SEARCH_FILE)), () => fs.writeFileSync(join(dir, SEARCH_FILE), closed.subarray(0, closed.length - 9))]) {
      damage();
      const d = await open(dir, { segmentBytes: 4096 });
      expect(texts(await find(d.store, 'seventh'))).toEqual(['message 210 seventh', 'message 203 seventh', ...expected.slice(0, 18)]);
      await d.store.close();
    }
  });

  it('finds retained messages that compaction copied, once each, also after a rebuild', async () => {
    const dir = newDir();
    const a = await open(dir, { segmentBytes: 4096, historyPerRoom: 50 });
    // A quiet room whose messages compaction must copy forward while a busy one fills segments.
    await say(a.store, 'Quiet', 'quiet needle');
    for (let i = 1; i <= 400; i++) await say(a.store, 'Busy', `busy ${i}`);
    await until(() => !fs.readdirSync(dir).includes('0000000001.log'));
    const quiet = { convs: [roomConv('quiet')] };
    expect(texts(await find(a.store, 'needle', quiet))).toEqual(['quiet needle']);
    await a.store.close();
    fs.rmSync(join(dir, SEARCH_FILE));
    const b = await open(dir, { segmentBytes: 4096, historyPerRoom: 50 });
    expect(texts(await find(b.store, 'needle', quiet))).toEqual(['quiet needle']);
    expect((await find(b.store, 'busy', { convs: [roomConv('busy')], limit: 100 })).hits).toHaveLength(50);
    await b.store.close();
  });
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('search.snapshot: a damaged file is refused with the reason, row by row', () => {
  const dir = newDir();
  const file = join(dir, SEARCH_FILE);
  const index = new SearchIndex({ sink: (docs) => new SnapshotSink(file, 30, docs) });
  index.add(lobby, 1, 10, ['deploy', 'friday']);
  index.add(lobby, 2, 20, ['deploy']);
  index.freeze();
  index.close();
  const good = fs.readFileSync(file);
  /** Changes bytes, then fixes the CRC, so the structural checks behind it are what is tested. */
  const tamper = (edit: (b: Buffer) => Buffer): Buffer => {
    const b = edit(Buffer.from(good.subarray(0, good.length - 4)));
    const out = Buffer.alloc(b.length + 4);
    b.copy(out);
    out.writeUInt32LE(crc32(out, 0, b.length), b.length);
    return out;
  };
  // Offsets: magic 8, covered 8, 1 conversation (4 + 7 bytes "r:lobby"), 2 documents from byte 31
  // (count, keys, seqs, conversations), 3 postings from byte 67, the word table from 79.
  const docs = 31;
  const postings = docs + 4 + 2 * 16;
  const words = postings + 3 * 4;
  // Each test in a directory of its own: the one above is gone once the first test has run.
  const opened = (bytes: Buffer): ReturnType<typeof openSnapshot> => {
    const f = join(newDir(), SEARCH_FILE);
    fs.writeFileSync(f, bytes);
    const snap = openSnapshot(f);
    if (typeof snap !== 'string') snap.postings.close();
    return snap;
  };
  it.each([
    ['not a snapshot', Buffer.from('hello there, this is not a search index at all'), 'not a search index'],
    ['a flipped bit', Buffer.from(good).fill(7, 40, 41), 'checksum mismatch'],
    ['cut short', tamper((b) => Buffer.concat([b.subarray(0, postings), b.subarray(postings + 4)])), 'truncated'],
    ['documents out of order', tamper((b) => (b.writeDoubleLE(99, docs + 4), b)), 'documents out of order'],
    ['a document of an unknown conversation', tamper((b) => (b.writeUInt32LE(5, docs + 4 + 24), b)), 'document of an unknown conversation'],
    ['a posting past the documents', tamper((b) => (b.writeUInt32LE(9, postings), b)), 'postings out of range or order'],
    ['postings out of order', tamper((b) => (b.writeUInt32LE(1, postings), b.writeUInt32LE(1, postings + 4), b.writeUInt32LE(1, postings + 8), b)), 'postings out of range or order'],
    ['more words than there are', tamper((b) => (b.writeUInt32LE(1000, words), b)), 'truncated'],
    ['words out of order', tamper((b) => (b.writeUInt32LE(b.readUInt32LE(words + 8), words + 4), b)), 'words out of order'],
  ])('%s', (_label, bytes, why) => {
    expect(opened(bytes)).toBe(why);
  });
  it('the good one opens to what was saved, its postings read from the file', () => {
    const f = join(newDir(), SEARCH_FILE);
    fs.writeFileSync(f, good);
    const snap = openSnapshot(f);
    expect(typeof snap).toBe('object');
    if (typeof snap === 'string') return;
    const copy = new SearchIndex();
    copy.restore(snap.docs, snap.postings);
    expect(snap.covered).toBe(30);
    expect(copy.unfrozen).toBe(0);
    expect(copy.find(['deploy'], () => true, undefined, 10)).toEqual([
      { conv: lobby, seq: 2, key: 20 },
      { conv: lobby, seq: 1, key: 10 },
    ]);
    expect(copy.find(['deploy'], () => true, 20, 10)).toEqual([{ conv: lobby, seq: 1, key: 10 }]);
    expect(copy.find(['deploy', 'friday'], () => true, undefined, 10)).toEqual([{ conv: lobby, seq: 1, key: 10 }]);
    copy.close();
  });
});

describe('SearchIndex: frozen and recent postings answer as one', () => {
  // 40,000 documents: lists longer than a read block and a read-ahead window, a word in every third
  // and a word in every 997th, half of them frozen (in memory, or in a file), half recent.
  const N = 40_000;
  const words = (d: number): string[] => ['all', ...(d % 3 === 0 ? ['third'] : []), ...(d % 997 === 0 ? ['rare'] : []), `w${d}`];
  const rooms = [roomConv('a'), roomConv('b')];
  const build = (index: SearchIndex, freezeAt: number | undefined): SearchIndex => {
    for (let d = 0; d < N; d++) {
      index.add(rooms[d % 2]!, d + 1, (d + 1) * 10, words(d));
      if (d + 1 === freezeAt) expect(index.freeze()).toBe(true);
    }
    return index;
  };
  const pages = (index: SearchIndex, terms: string[], inRoom?: string): number[] => {
    const seqs: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = index.find(terms, (c) => inRoom === undefined || c === inRoom, before, 500);
      if (page.length === 0) return seqs;
      seqs.push(...page.map((h) => h.seq));
      before = page[page.length - 1]!.key;
    }
  };
  const expected = (keep: (d: number) => boolean): number[] => {
    const out: number[] = [];
    for (let d = N - 1; d >= 0; d--) if (keep(d)) out.push(d + 1);
    return out;
  };

  it('the same answers unfrozen, frozen in memory and frozen in a file', () => {
    const dir = newDir();
    const kinds = [build(new SearchIndex(), undefined), build(new SearchIndex(), N / 2), build(new SearchIndex({ sink: (docs) => new SnapshotSink(join(dir, SEARCH_FILE), 0, docs) }), N / 2)];
    for (const index of kinds) {
      expect(index.unfrozen).toBe(index === kinds[0] ? N : N / 2);
      expect(pages(index, ['all'])).toEqual(expected(() => true));
      expect(pages(index, ['third', 'rare'])).toEqual(expected((d) => d % 3 === 0 && d % 997 === 0));
      expect(pages(index, ['rare', 'all'], rooms[1])).toEqual(expected((d) => d % 997 === 0 && d % 2 === 1));
      expect(pages(index, [`w${N / 2 - 1}`])).toEqual([N / 2]);
      expect(pages(index, [`w${N / 2 - 1}`, 'third'])).toEqual(expected((d) => d === N / 2 - 1 && d % 3 === 0));
      expect(pages(index, ['nothing'])).toEqual([]);
      index.close();
    }
  });

  it('random adds, freezes (in memory and to a file), sweeps and edits answer like a plain list', () => {
    // A model: every live document with its words; the index must find exactly what the model does.
    const dir = newDir();
    let seed = 20261207;
    const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const vocab = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const sink of [undefined, 'file'] as const) {
      const index = new SearchIndex(sink ? { sink: (docs) => new SnapshotSink(join(dir, SEARCH_FILE), 0, docs) } : {});
      const model: { conv: string; seq: number; key: number; words: Set<string> }[] = [];
      const seqs = new Map<string, number>();
      let key = 0;
      let minSeq = 0;
      for (let step = 0; step < 3000; step++) {
        const op = rand(100);
        if (op < 85) {
          const conv = rooms[rand(2)]!;
          const seq = (seqs.get(conv) ?? 0) + 1;
          seqs.set(conv, seq);
          const words = new Set([vocab[rand(8)]!, vocab[rand(8)]!, `u${step}`]);
          index.add(conv, seq, (key += 1 + rand(3)), [...words]);
          model.push({ conv, seq, key, words });
        } else if (op < 92) {
          expect(index.freeze()).toBe(true);
        } else if (op < 96 && model.length > 0) {
          // Retention: the oldest fifth leaves; a sweep keeps the rest.
          minSeq = Math.max(minSeq, Math.floor(step / 10));
          const alive = (_c: string, seq: number): boolean => seq > minSeq;
          expect(index.freeze(alive)).toBe(true);
          model.splice(0, model.length, ...model.filter((m) => alive(m.conv, m.seq)));
        } else if (model.length > 0) {
          const m = model[rand(model.length)]!;
          const w = vocab[rand(8)]!;
          index.edited(m.conv, m.seq, [w]);
          m.words.add(w);
        }
        if (step % 50 === 0 || step === 2999) {
          const terms = rand(2) === 0 ? [vocab[rand(8)]!] : [vocab[rand(8)]!, vocab[rand(8)]!];
          const want = model.filter((m) => terms.every((t) => m.words.has(t))).map((m) => m.key).reverse();
          const got: number[] = [];
          let before: number | undefined;
          for (;;) {
            const page = index.find(terms, () => true, before, 37).filter((h) => model.some((m) => m.key === h.key));
            const raw = index.find(terms, () => true, before, 37);
            if (raw.length === 0) break;
            got.push(...page.map((h) => h.key));
            before = raw[raw.length - 1]!.key;
          }
          expect(got).toEqual(want);
        }
      }
      index.close();
    }
  });

  it('a freeze in slices lets searches and adds go on meanwhile, runs again when asked again, and a close finishes it', async () => {
    const dir = newDir();
    const file = join(dir, SEARCH_FILE);
    const index = build(new SearchIndex({ sink: (docs) => new SnapshotSink(file, 0, docs), sliceWork: 1000 }), N / 2);
    index.freezeInSlices();
    expect(index.freezing).toBe(true);
    // Meanwhile: documents added, and searches over the old frozen part, the part being merged and the new.
    const M = N + 300;
    for (let d = N; d < M; d++) index.add(rooms[d % 2]!, d + 1, (d + 1) * 10, words(d));
    const upTo = (keep: (d: number) => boolean): number[] => {
      const out: number[] = [];
      for (let d = M - 1; d >= 0; d--) if (keep(d)) out.push(d + 1);
      return out;
    };
    expect(pages(index, ['third', 'rare'])).toEqual(upTo((d) => d % 3 === 0 && d % 997 === 0));
    expect(pages(index, [`w${M - 1}`])).toEqual([M]);
    index.freezeInSlices();
    expect(index.freezing).toBe(true);
    await until(() => !index.freezing, 10_000);
    // The second ran after the first: everything is frozen, in the file.
    expect(index.unfrozen).toBe(0);
    expect(pages(index, ['all'])).toEqual(upTo(() => true));
    index.close();
    const snap = openSnapshot(file);
    if (typeof snap === 'string') throw new Error(snap);
    expect(snap.docs.keys.length).toBe(M);
    snap.postings.close();

    // A close in the middle finishes the freeze first.
    const other = build(new SearchIndex({ sink: (docs) => new SnapshotSink(file, 0, docs), sliceWork: 1000 }), undefined);
    other.freezeInSlices();
    expect(other.freezing).toBe(true);
    other.close();
    expect(other.freezing).toBe(false);
    const after = openSnapshot(file);
    if (typeof after === 'string') throw new Error(after);
    expect(after.docs.keys.length).toBe(N);
    after.postings.close();
  });

  it('a sweep drops the documents that left retention, renumbers the rest and keeps edits', () => {
    const dir = newDir();
    const index = build(new SearchIndex({ sink: (docs) => new SnapshotSink(join(dir, SEARCH_FILE), 0, docs) }), N / 2);
    index.edited(rooms[1]!, N, ['renamed']);
    // Seqs below 30,001 leave: a sweep keeps the last 10,000 documents only.
    const alive = (_c: string, seq: number): boolean => seq > 30_000;
    let retired = 0;
    while (index.size === N && retired++ < N) index.retired(alive);
    expect(index.size).toBe(10_000);
    expect(index.unfrozen).toBe(0);
    expect(pages(index, ['third', 'rare'])).toEqual(expected((d) => d >= 30_000 && d % 3 === 0 && d % 997 === 0));
    expect(pages(index, ['renamed'])).toEqual([N]);
    index.close();
  });

  it('a freeze that cannot be written is reported and changes nothing', () => {
    const failures: string[] = [];
    const index = build(new SearchIndex({ sink: (docs) => new SnapshotSink(join(newDir(), 'no', 'such', 'dir', SEARCH_FILE), 0, docs), failed: (e) => failures.push(e.message) }), undefined);
    expect(index.freeze()).toBe(false);
    expect(failures).toHaveLength(1);
    expect(index.unfrozen).toBe(N);
    expect(pages(index, ['third', 'rare'])).toEqual(expected((d) => d % 3 === 0 && d % 997 === 0));
  });
});
