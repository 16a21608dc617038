// The store's small parts on their own: CRC, the typed-array conversation index, page selection,
// numbering, the message cache, known users, the sidecar format, the record head reader.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../protocol/messages.js';
import { ConvIndex, SlotList } from '../../server/store/conv-index.js';
import { crc32, crc32Tables } from '../../server/store/crc32.js';
import { KnownUsers } from '../../server/store/known-users.js';
import { MessageCache, messageBytes } from '../../server/store/message-cache.js';
import { handBack, stamp, type Numbering } from '../../server/store/numbering.js';
import { pageSpan } from '../../server/store/page-span.js';
import { encodeRecord } from '../../server/store/log-format.js';
import { segmentName } from '../../server/store/log-writer.js';
import { decodeRecord, encodeMessage, readHead } from '../../server/store/record-codec.js';
import { SegmentReader } from '../../server/store/segment-reader.js';
import { parseSidecar, replaySidecar, SidecarBuilder, type SegmentSink } from '../../server/store/sidecar.js';
import { newDir } from './store-helpers.js';

function msg(seq: number, text = `m${seq}`): ChatMessage {
  return { type: 'message', room: 'Lobby', from: 'a', text, seq, ts: '2026-11-25T10:00:00.000Z' };
}

describe('crc32', () => {
  it('matches the standard check value and handles odd offsets', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('xx123456789yy'), 2, 11)).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
    // Chunk by chunk, each continuing from the CRC before it: the same value, both implementations.
    const whole = Buffer.from('123456789');
    expect(crc32(whole, 4, 9, crc32(whole, 0, 4))).toBe(0xcbf43926);
    expect(crc32Tables(whole, 4, 9, crc32Tables(whole, 0, 4))).toBe(0xcbf43926);
  });

  it('the native and the portable implementation agree', () => {
    const rand = Buffer.alloc(10_007);
    for (let i = 0; i < rand.length; i++) rand[i] = (i * 2654435761) >>> 24;
    for (const [a, b] of [[0, rand.length], [3, 9_999], [5, 6], [7, 7]] as const) expect(crc32(rand, a, b)).toBe(crc32Tables(rand, a, b));
    expect(crc32Tables(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('ConvIndex', () => {
  it('keeps entries in order across chunks, drops from the front, finds by seq', () => {
    const ix = new ConvIndex();
    for (let s = 1; s <= 5000; s++) ix.push(s, s % 7, s * 10, 100 + s);
    while (ix.count > 1500) ix.shift();
    expect(ix.seqAt(0)).toBe(3501);
    expect(ix.slot(ix.count - 1)).toEqual({ seq: 5000, seg: 5000 % 7, off: 50000, len: 5100 });
    expect(ix.find(3600)).toBe(99);
    expect(ix.find(3500)).toBe(-1);
    expect(ix.lowerBound(1)).toBe(0);
    expect(ix.lowerBound(10_000)).toBe(1500);
    ix.move(0, 9, 1, 2);
    expect(ix.slot(0)).toEqual({ seq: 3501, seg: 9, off: 1, len: 2 });
    ix.removeAt(1);
    expect([ix.count, ix.seqAt(1)]).toEqual([1499, 3503]);
  });

  it('a short retention slides within a small chunk instead of growing it', () => {
    const ix = new ConvIndex();
    for (let s = 1; s <= 100_000; s++) {
      ix.push(s, 0, s, 1);
      if (ix.count > 2) ix.shift();
    }
    expect(ix.slots().map((x) => x.seq)).toEqual([99_999, 100_000]);
    expect(ix.find(100_000)).toBe(1);
  });

  it('appending is cheap whatever the retention (no large copies)', () => {
    const ix = new ConvIndex();
    const t0 = performance.now();
    for (let s = 1; s <= 400_000; s++) {
      ix.push(s, 1, s, 1);
      if (ix.count > 100_000) ix.shift();
    }
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(ix.seqAt(0)).toBe(300_001);
  });
});

describe('SlotList', () => {
  it('merges copies with in-order entries: one per seq, the latest in the log wins, newest N kept', () => {
    const ix = new ConvIndex();
    for (const s of [8, 9, 10]) ix.push(s, 5, s * 100, 10);
    const copies = new SlotList();
    for (const s of [6, 4, 8, 7, 5]) copies.add(s, 7, s * 10, 20); // 8 is also in the index, older there
    expect(copies.mergedWith(ix, 5)).toEqual([
      { seq: 6, seg: 7, off: 60, len: 20 },
      { seq: 7, seg: 7, off: 70, len: 20 },
      { seq: 8, seg: 7, off: 80, len: 20 },
      { seq: 9, seg: 5, off: 900, len: 10 },
      { seq: 10, seg: 5, off: 1000, len: 10 },
    ]);
    const many = new SlotList();
    for (let s = 1; s <= 10_000; s++) many.add(s, 1, s, 1);
    expect(many.mergedWith(new ConvIndex(), 3).map((x) => x.seq)).toEqual([9998, 9999, 10_000]);
  });
});

describe('pageSpan', () => {
  const seqsOf = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
  const span = (all: number[], q: Parameters<typeof pageSpan>[2]) => {
    const lb = (s: number): number => {
      const i = all.findIndex((x) => x >= s);
      return i < 0 ? all.length : i;
    };
    const r = pageSpan(all.length, lb, q);
    return { seqs: all.slice(r.start, r.end), more: r.more };
  };

  it('pages back from the newest, forward from the oldest; limit 0 and empty ranges', () => {
    const all = seqsOf(100);
    expect(span(all, { limit: 10 })).toEqual({ seqs: seqsOf(100).slice(90), more: true });
    expect(span(all, { before: 6, limit: 10 })).toEqual({ seqs: [1, 2, 3, 4, 5], more: false });
    expect(span(all, { before: 11, limit: 10 }).more).toBe(false);
    expect(span(all, { after: 10, before: 21, limit: 5 })).toEqual({ seqs: [16, 17, 18, 19, 20], more: true });
    expect(span(all, { after: 10, before: 21, limit: 5, from: 'oldest' })).toEqual({ seqs: [11, 12, 13, 14, 15], more: true });
    expect(span(all, { after: 95, limit: 10, from: 'oldest' })).toEqual({ seqs: [96, 97, 98, 99, 100], more: false });
    expect(span(all, { after: 100, limit: 10 })).toEqual({ seqs: [], more: false });
    expect(span(all, { limit: 0 })).toEqual({ seqs: [], more: true });
    expect(span([], { limit: 10 })).toEqual({ seqs: [], more: false });
  });

  it('works over seqs with gaps (damaged records)', () => {
    expect(span([1, 2, 5, 9], { before: 9, limit: 2 })).toEqual({ seqs: [2, 5], more: true });
  });
});

describe('numbering', () => {
  it('hands out seq+1 and a ts never below the previous; a refusal hands its seq and later ones back', () => {
    const n: Numbering = { assigned: 0, stored: 0, lastTs: '9999-01-01T00:00:00.000Z' };
    expect(stamp(n)).toEqual({ seq: 1, ts: '9999-01-01T00:00:00.000Z' });
    n.lastTs = '';
    const a = stamp(n);
    expect(a.seq).toBe(2);
    expect(Math.abs(Date.parse(a.ts) - Date.now())).toBeLessThan(5000);
    stamp(n); // 3
    stamp(n); // 4
    handBack(n, 3); // 3 and 4 fail, oldest first
    expect(stamp(n).seq).toBe(3); // an append made from inside 3's callback
    handBack(n, 4);
    expect(stamp(n).seq).toBe(4);
  });
});

describe('MessageCache', () => {
  it('keeps its estimated bytes under the limit, dropping the least recently used', () => {
    const one = messageBytes(msg(1, 'x'.repeat(50)));
    const cache = new MessageCache(one * 3);
    for (let s = 1; s <= 3; s++) cache.put('r:a', msg(s, 'x'.repeat(50)));
    expect(cache.get('r:a', 1)?.seq).toBe(1); // 1 is now the most recent
    cache.put('r:b', msg(9, 'x'.repeat(50)));
    expect(cache.get('r:a', 2)).toBeUndefined();
    expect(cache.get('r:a', 1)?.seq).toBe(1);
    expect(cache.get('r:b', 9)?.seq).toBe(9);
    expect(cache.bytes).toBeLessThanOrEqual(one * 3);
    for (let s = 10; s < 10_000; s++) cache.put('r:c', msg(s, 'y'.repeat(50)));
    expect(cache.bytes).toBeLessThanOrEqual(one * 3);
    expect(new MessageCache(0).get('r:a', 1)).toBeUndefined();
  });
});

describe('KnownUsers', () => {
  it('keeps the first spelling, updates lastSeen, pages in key order', () => {
    const u = new KnownUsers();
    u.remember('Bob', 't1');
    expect(u.remember('BOB', 't2')).toEqual({ name: 'Bob', lastSeen: 't2' });
    u.remember('alice', 't3');
    expect(u.page(undefined, 1)).toEqual({ users: [{ name: 'alice', lastSeen: 't3' }], more: true });
    expect(u.page('alice', 5)).toEqual({ users: [{ name: 'Bob', lastSeen: 't2' }], more: false });
  });
});

describe('record codec', () => {
  it('v2 message records round-trip, and their head is read without parsing', () => {
    const m: ChatMessage = { type: 'message', room: 'Dev.Talk', from: 'al', text: 'quote " back \\ nl \n ✓', seq: 42, ts: '2026-11-25T10:00:00.000Z', action: true };
    const payload = encodeMessage('M', 'r:dev.talk', m, 'bob');
    expect(decodeRecord(payload)).toEqual({ t: 'M', conv: 'r:dev.talk', msg: m, inbox: 'bob' });
    const buf = Buffer.from(payload);
    expect(readHead(buf, 0, buf.length)).toEqual({ t: 'M', conv: 'r:dev.talk', seq: 42, ts: m.ts, inbox: 'bob', room: 'Dev.Talk' });
    const d: ChatMessage = { type: 'message', to: 'Bob', from: 'al', text: 'x', seq: 1, ts: m.ts };
    const h = Buffer.from(encodeMessage('H', 'd:al|bob', d, undefined));
    expect(readHead(h, 0, h.length)).toEqual({ t: 'H', conv: 'd:al|bob', seq: 1, ts: m.ts, inbox: undefined, room: undefined });
    expect(decodeRecord(h.toString())).toEqual({ t: 'H', conv: 'd:al|bob', msg: d, inbox: undefined });
    const g = { ...msg(3), guest: true as const };
    expect(decodeRecord(encodeMessage('M', 'r:lobby', g, undefined))).toEqual({ t: 'M', conv: 'r:lobby', msg: g, inbox: undefined });
  });

  it('the head reader gives up (the caller parses) on escapes, other records and truncation', () => {
    const escaped = Buffer.from(encodeMessage('M', 'r:a"b', msg(1), undefined));
    expect(readHead(escaped, 0, escaped.length)).toBeUndefined();
    const user = Buffer.from('{"t":"u","n":"x","s":"t"}');
    expect(readHead(user, 0, user.length)).toBeUndefined();
    const full = Buffer.from(encodeMessage('M', 'r:lobby', msg(7), undefined));
    for (let cut = 0; cut < 60; cut++) expect(() => readHead(full, 0, cut)).not.toThrow();
    expect(readHead(full, 0, 30)).toBeUndefined();
  });

  it('v1 records decode into the same shapes; malformed ones are undefined', () => {
    const v1 = { type: 'message', room: 'Lobby', from: 'a', text: 't', seq: 3, ts: 'T' };
    expect(decodeRecord(JSON.stringify({ t: 'm', c: 'r:lobby', m: v1, o: 'bob' }))).toEqual({ t: 'M', conv: 'r:lobby', msg: v1, inbox: 'bob' });
    expect(decodeRecord(JSON.stringify({ t: 'i', u: 'bob', c: 'd:a|bob', m: { ...v1, room: undefined, to: 'bob' }, p: 7 }))).toEqual({ t: 'I', user: 'bob', conv: 'd:a|bob', seq: 3, order: 7 });
    expect(decodeRecord('{"t":"u","n":"Gus","s":"t","g":1}')).toEqual({ t: 'u', name: 'Gus', lastSeen: 't', guest: true });
    expect(decodeRecord('{"t":"u","n":"Bob","s":"t"}')).toEqual({ t: 'u', name: 'Bob', lastSeen: 't', guest: false });
    expect(decodeRecord(JSON.stringify({ t: 'd', u: 'bob', k: ['d:a|bob#3'] }))).toEqual({ t: 'd', user: 'bob', refs: [{ conv: 'd:a|bob', seq: 3 }] });
    for (const bad of ['{', '[]', '{"t":"m","c":"r:x","m":{"seq":"1"}}', '{"t":"d","u":"b","k":["nohash"]}', '{"t":"M","c":"r:x","s":0,"ts":"t","r":"x","f":"a","x":"b"}', '{"t":"q"}']) {
      expect(decodeRecord(bad)).toBeUndefined();
    }
  });
});

describe('sidecar', () => {
  function sample(): SidecarBuilder {
    const b = new SidecarBuilder(7);
    b.message('M', 'r:lobby', 1, 0, 100, undefined, 'T1', 'Lobby');
    b.record(0, 100, 0xaaaa);
    b.message('M', 'd:a|b', 1, 100, 90, 'b', 'T2', undefined);
    b.record(100, 90, 0xbbbb);
    b.user('Bob', 'T3', false);
    b.record(190, 40, 0xcccc);
    // A guest's user record (kind 6), in the same record slot: the sidecar does not pair entries with records.
    b.user('Gus', 'T5', true);
    b.delivered('b', [{ conv: 'd:a|b', seq: 1 }]);
    b.record(230, 40, 0xdddd);
    b.inboxCopy('b', 'd:a|b', 1, 2 ** 33 + 5);
    b.record(270, 50, 0xeeee);
    b.message('H', 'r:lobby', 2, 320, 100, undefined, 'T4', 'LOBBY');
    b.record(320, 100, 0xffff);
    return b;
  }

  function events(buf: Buffer): string[] {
    const sc = parseSidecar(buf, 7);
    if (typeof sc === 'string') return [sc];
    const out: string[] = [`sealed=${sc.sealed} covered=${sc.covered} records=${sc.records} last=${sc.lastOff}/${sc.lastCrc}`];
    const sink: SegmentSink = {
      message: (t, c, s, o, l, i) => out.push(`${t} ${c} ${s} ${o} ${l} ${i}`),
      user: (n, s, g) => out.push(`${g ? 'G' : 'U'} ${n} ${s}`),
      delivered: (u, r) => out.push(`D ${u} ${JSON.stringify(r)}`),
      inboxCopy: (u, c, s, o) => out.push(`I ${u} ${c} ${s} ${o}`),
    };
    replaySidecar(sc, sink);
    for (const s of sc.summaries) out.push(`S ${s.conv} ${s.seq} ${s.ts} ${s.room}`);
    return out;
  }

  it('round-trips every entry kind, in order, with the newest message per conversation summarised', () => {
    expect(events(sample().encode(true)!)).toEqual([
      `sealed=true covered=420 records=6 last=320/${0xffff}`,
      'M r:lobby 1 0 100 undefined',
      'M d:a|b 1 100 90 b',
      'U Bob T3',
      'G Gus T5',
      'D b [{"conv":"d:a|b","seq":1}]',
      `I b d:a|b 1 ${2 ** 33 + 5}`,
      'H r:lobby 2 320 100 undefined',
      'S r:lobby 2 T4 LOBBY',
      'S d:a|b 1 T2 undefined',
    ]);
    expect(events(SidecarBuilder.adopt(parseSidecar(sample().encode(false)!, 7) as never).encode(false)!)).toEqual(events(sample().encode(false)!));
  });

  it('rejects a wrong segment, bad CRC, and every truncation or bit flip without throwing', () => {
    const good = sample().encode(true)!;
    expect(parseSidecar(good, 8)).toBe('wrong segment');
    for (let cut = 0; cut < good.length; cut++) expect(typeof parseSidecar(good.subarray(0, cut), 7)).toBe('string');
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] = bad[i]! ^ 0x10;
      expect(typeof parseSidecar(bad, 7)).toBe('string');
    }
  });
});

describe('SegmentReader', () => {
  function segment(): { dir: string; places: { off: number; len: number }[] } {
    const dir = newDir();
    const frames = [1, 2, 3].map((s) => encodeRecord(encodeMessage('M', 'r:lobby', msg(s), undefined)));
    fs.writeFileSync(join(dir, segmentName(1)), Buffer.concat(frames));
    let off = 0;
    return { dir, places: frames.map((f) => ({ off: (off += f.length) - f.length, len: f.length })) };
  }

  it('reads records by place, together when close; a bad place is reported, not thrown', async () => {
    const { dir, places } = segment();
    const r = new SegmentReader(dir);
    expect(r.acquire(1)).toBeUndefined();
    const got = await r.read(1, [places[2]!, places[0]!, { off: places[1]!.off + 1, len: places[1]!.len }]);
    const text = (g: (typeof got)[number]): string => ('payload' in g ? String(decodeRecord(g.payload.toString())?.t) : g.damaged);
    expect(got.map(text)).toEqual(['M', 'M', 'bad frame or CRC']);
    r.release(1);
    expect(r.acquire(2)).toBeInstanceOf(Error);
    r.closeAll();
  });

  it('closeAll() leaves a descriptor in use open until its read is done', async () => {
    const { dir, places } = segment();
    const r = new SegmentReader(dir);
    r.acquire(1);
    r.closeAll();
    const got = await r.read(1, places);
    expect(got.every((g) => 'payload' in g)).toBe(true);
    r.release(1);
    await expect(r.read(1, places)).rejects.toThrow(/not open/);
  });
});
