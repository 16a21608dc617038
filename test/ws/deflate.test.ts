import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { deflateMessage, DEFLATE_THRESHOLD, inflateMessage, negotiateDeflate } from '../../server/ws/deflate.js';
import { WsError } from '../../server/ws/errors.js';
import { prng } from './helpers/frames.js';

const BASE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

describe('negotiateDeflate', () => {
  const table: [string | undefined, string | undefined][] = [
    [undefined, undefined],
    ['', undefined],
    ['permessage-deflate', BASE],
    ['Permessage-Deflate', BASE],
    // Chromium's exact offer.
    ['permessage-deflate; client_max_window_bits', BASE],
    ['permessage-deflate;client_max_window_bits=10', BASE],
    ['permessage-deflate; client_max_window_bits="10"', BASE],
    ['permessage-deflate; server_no_context_takeover', BASE],
    ['permessage-deflate; client_no_context_takeover', BASE],
    ['permessage-deflate; server_no_context_takeover; client_no_context_takeover', BASE],
    ['permessage-deflate; server_max_window_bits=10', `${BASE}; server_max_window_bits=10`],
    ['permessage-deflate; server_max_window_bits=15', `${BASE}; server_max_window_bits=15`],
    ['permessage-deflate; server_max_window_bits=9', `${BASE}; server_max_window_bits=9`],
    ['permessage-deflate; server_max_window_bits="12"', `${BASE}; server_max_window_bits=12`],
    // zlib cannot do an 8-bit raw window: decline rather than answer a larger value.
    ['permessage-deflate; server_max_window_bits=8', undefined],
    ['permessage-deflate; server_max_window_bits', undefined],
    ['permessage-deflate; server_max_window_bits=16', undefined],
    ['permessage-deflate; server_max_window_bits=7', undefined],
    ['permessage-deflate; server_max_window_bits=010', undefined],
    ['permessage-deflate; server_max_window_bits=abc', undefined],
    ['permessage-deflate; client_max_window_bits=16', undefined],
    ['permessage-deflate; client_max_window_bits=7', undefined],
    ['permessage-deflate; server_no_context_takeover=1', undefined],
    ['permessage-deflate; client_no_context_takeover=true', undefined],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', undefined],
    ['permessage-deflate; client_max_window_bits; client_max_window_bits=10', undefined],
    ['permessage-deflate; server_max_window_bits=10; server_max_window_bits=10', undefined],
    ['permessage-deflate; foo', undefined],
    ['permessage-deflate; foo=bar', undefined],
    ['x-webkit-deflate-frame', undefined],
    ['permessage-deflate; server_max_window_bits="10', undefined],
    ['permessage-deflate; =', undefined],
    // Multiple offers: the first acceptable one wins.
    ['permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=11', `${BASE}; server_max_window_bits=11`],
    ['permessage-deflate; foo, permessage-deflate', BASE],
    ['x-webkit-deflate-frame, permessage-deflate; client_max_window_bits', BASE],
    ['permessage-deflate; server_max_window_bits=12, permessage-deflate', `${BASE}; server_max_window_bits=12`],
    ['foo; a="x,y", permessage-deflate', BASE],
    ['permessage-deflate; foo, bar', undefined],
  ];
  for (const [offer, want] of table) {
    it(`${JSON.stringify(offer)} -> ${JSON.stringify(want)}`, () => {
      expect(negotiateDeflate(offer)?.response).toBe(want);
    });
  }
  it('params', () => {
    expect(negotiateDeflate('permessage-deflate; server_max_window_bits=10')?.params).toEqual({
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 15,
    });
  });
  it('never throws on junk', () => {
    const r = prng(3);
    const alphabet = 'permessage-deflate;=," \\_0123456789abcxyz\t';
    for (let i = 0; i < 5000; i++) {
      let s = '';
      const n = Math.floor(r() * 60);
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(r() * alphabet.length)];
      expect(() => negotiateDeflate(s)).not.toThrow();
    }
  });
});

describe('deflate/inflate', () => {
  it('threshold is ws-like', () => expect(DEFLATE_THRESHOLD).toBe(1024));
  it('strips the 00 00 ff ff tail (RFC 7692 7.2.3.1 Hello)', () => {
    const d = deflateMessage(Buffer.from('Hello'), 15);
    expect(d.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff]))).toBe(false);
    expect(inflateMessage(d, 100).toString()).toBe('Hello');
    expect(inflateMessage(Buffer.from('f248cdc9c90700', 'hex'), 100).toString()).toBe('Hello');
  });
  it('round trips incl. 0-length and big, every window size', () => {
    const r = prng(5);
    const rnd = Buffer.alloc(200000);
    for (let i = 0; i < rnd.length; i++) rnd[i] = Math.floor(r() * 256);
    const inputs = [Buffer.alloc(0), Buffer.from('a'), Buffer.from('hello '.repeat(1000)), rnd, Buffer.alloc(5 * 1024 * 1024, 0x41)];
    for (const bits of [9, 10, 12, 15]) {
      for (const x of inputs) expect(inflateMessage(deflateMessage(x, bits), 8 * 1024 * 1024).equals(x)).toBe(true);
    }
  });
  it('a window-bits-9 stream inflates in a stock 9-bit inflater (the client side)', () => {
    const x = Buffer.from('abcdefgh'.repeat(500));
    const d = deflateMessage(x, 9);
    const out = zlib.inflateRawSync(Buffer.concat([d, Buffer.from([0, 0, 0xff, 0xff])]), { windowBits: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(out.equals(x)).toBe(true);
  });
  it('exact max passes, one over fails 1009', () => {
    const d = deflateMessage(Buffer.alloc(1000), 15);
    expect(inflateMessage(d, 1000).length).toBe(1000);
    try {
      inflateMessage(d, 999);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(WsError);
      expect((e as WsError).closeCode).toBe(1009);
      expect((e as WsError).code).toBe('WS_ERR_INFLATED_TOO_BIG');
    }
  });
  it('corrupt data fails 1007', () => {
    try {
      inflateMessage(Buffer.from('ffffffffffff', 'hex'), 1000);
      expect.unreachable();
    } catch (e) {
      expect((e as WsError).closeCode).toBe(1007);
    }
  });

  it('zip bomb: >100 MB from ~100 KB fails 1009 with flat RSS', async () => {
    // Built by streaming so the test itself never holds 100 MB.
    const zeros = Buffer.alloc(1024 * 1024);
    const parts: Buffer[] = [];
    const d = zlib.createDeflateRaw({ level: 9 });
    d.on('data', (c: Buffer) => parts.push(c));
    for (let i = 0; i < 110; i++) d.write(zeros);
    await new Promise<void>((resolve) => d.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    d.close();
    const bomb = Buffer.concat(parts).subarray(0, -4);
    expect(bomb.length).toBeLessThan(150 * 1024);
    const gc = (globalThis as { gc?: () => void }).gc;
    const rss = (): number => {
      gc?.();
      return process.memoryUsage().rss;
    };
    const before = rss();
    expect(() => inflateMessage(bomb, 1024 * 1024)).toThrow(/exceeds/);
    // One bomb costs about the 1 MB limit, not the 110 MB it expands to.
    expect(rss() - before).toBeLessThan(8 * 1024 * 1024);
    // Many bombs: the allocator keeps some freed output buffers around (measured plateau ~45 MB after
    // 200 runs), but growth is bounded and far from 50 x 110 MB.
    for (let i = 0; i < 50; i++) expect(() => inflateMessage(bomb, 1024 * 1024)).toThrow(/exceeds/);
    expect(rss() - before).toBeLessThan(96 * 1024 * 1024);
  });
});
