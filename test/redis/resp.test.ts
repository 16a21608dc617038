// The RESP2 decoder, row by row, then under every chunking: one byte at a time, and random splits
// (seeded, so a failure replays). Lengths are checked before they are trusted.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, encodeCommand, RespDecoder, RespError, RespProtocolError, type RespLimits, type RespValue } from '../../server/redis/resp.js';
import { parseRedisUrl } from '../../server/redis/url.js';
import { prng } from '../helpers/prng.js';

function decodeAll(bytes: Buffer, split: (n: number) => number[] = (n) => [n], limits?: RespLimits): RespValue[] {
  const out: RespValue[] = [];
  const d = new RespDecoder((v) => out.push(v), limits);
  let pos = 0;
  for (const size of split(bytes.length)) {
    d.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}

const oneByte = (n: number): number[] => Array.from({ length: n }, () => 1);

const ROWS: { name: string; wire: string; value: RespValue }[] = [
  { name: 'simple string', wire: '+OK\r\n', value: 'OK' },
  { name: 'empty simple string', wire: '+\r\n', value: '' },
  { name: 'error', wire: '-NOSCRIPT No matching script\r\n', value: new RespError('NOSCRIPT No matching script') },
  { name: 'integer', wire: ':42\r\n', value: 42 },
  { name: 'negative integer', wire: ':-7\r\n', value: -7 },
  { name: 'bulk string', wire: '$5\r\nhello\r\n', value: 'hello' },
  { name: 'empty bulk string', wire: '$0\r\n\r\n', value: '' },
  { name: 'bulk string holding CRLF', wire: '$4\r\na\r\nb\r\n', value: 'a\r\nb' },
  { name: 'null bulk string', wire: '$-1\r\n', value: null },
  { name: 'UTF-8 bulk string', wire: '$4\r\n\u00e9\u00e9\r\n', value: '\u00e9\u00e9' },
  { name: 'empty array', wire: '*0\r\n', value: [] },
  { name: 'null array', wire: '*-1\r\n', value: null },
  { name: 'flat array', wire: '*3\r\n$3\r\nfoo\r\n:1\r\n$-1\r\n', value: ['foo', 1, null] },
  {
    name: 'nested arrays (XRANGE shape)',
    wire: '*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nd\r\n$2\r\n{}\r\n*2\r\n$3\r\n2-0\r\n*0\r\n',
    value: [
      ['1-0', ['d', '{}']],
      ['2-0', []],
    ],
  },
  { name: 'error inside an array (EXEC shape)', wire: '*2\r\n+OK\r\n-WRONGTYPE bad\r\n', value: ['OK', new RespError('WRONGTYPE bad')] },
  { name: 'array ending in an empty array', wire: '*2\r\n*0\r\n*1\r\n*0\r\n', value: [[], [[]]] },
];

describe('RESP2 decoder', () => {
  for (const row of ROWS) {
    it(`${row.name}: whole and one byte at a time`, () => {
      const bytes = Buffer.from(row.wire, 'utf8');
      expect(decodeAll(bytes)).toEqual([row.value]);
      expect(decodeAll(bytes, oneByte)).toEqual([row.value]);
    });
  }

  it('an error value carries its code', () => {
    const [v] = decodeAll(Buffer.from('-NOSCRIPT No matching script\r\n'));
    expect(v).toBeInstanceOf(RespError);
    expect((v as RespError).code).toBe('NOSCRIPT');
  });

  it('every row back to back, in 500 random chunkings, decodes to the same values in order', () => {
    const wire = Buffer.concat(ROWS.map((r) => Buffer.from(r.wire, 'utf8')));
    const want = ROWS.map((r) => r.value);
    for (let seed = 1; seed <= 500; seed++) {
      const rnd = prng(seed);
      const split = (n: number): number[] => {
        const sizes: number[] = [];
        let left = n;
        while (left > 0) {
          const s = Math.min(left, 1 + Math.floor(rnd() * 12));
          sizes.push(s);
          left -= s;
        }
        return sizes;
      };
      expect(decodeAll(wire, split), `seed ${seed}`).toEqual(want);
    }
  });

  it('a large bulk string split anywhere keeps its bytes (a multi-byte character split across chunks)', () => {
    const text = 'ä€𝄞x'.repeat(5000);
    const body = Buffer.from(text, 'utf8');
    const wire = Buffer.concat([Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n')]);
    const rnd = prng(7);
    const out = decodeAll(wire, (n) => {
      const sizes: number[] = [];
      for (let left = n; left > 0; ) {
        const s = Math.min(left, 1 + Math.floor(rnd() * 700));
        sizes.push(s);
        left -= s;
      }
      return sizes;
    });
    expect(out).toEqual([text]);
  });

  it('round-trips encodeCommand output (an array of bulk strings)', () => {
    const wire = encodeCommand(['SET', 'k', 'v\r\nw', 12]);
    expect(wire.toString()).toBe('*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nw\r\n$2\r\n12\r\n');
    expect(decodeAll(wire, oneByte)).toEqual([['SET', 'k', 'v\r\nw', '12']]);
  });

  const small: RespLimits = { maxBulkBytes: 10, maxArrayLength: 3, maxDepth: 2, maxLineBytes: 16 };
  const refused: [string, string][] = [
    ['a bulk length over the limit, before any body arrives', '$11\r\n'],
    ['an array length over the limit, before any element arrives', '*4\r\n'],
    ['nesting deeper than the limit', '*1\r\n*1\r\n*1\r\n'],
    ['a header line longer than the limit, before its end arrives', `+${'x'.repeat(40)}`],
    ['an unknown type byte', '!5\r\n'],
    ['a negative bulk length other than -1', '$-2\r\n'],
    ['a length that is not a number', '$abc\r\n'],
    ['a bulk string not followed by CRLF', '$2\r\nabXY'],
    ['a line ending in LF alone', '+OK\n'],
    ['an integer that is not one', ':12a\r\n'],
  ];
  for (const [name, wire] of refused) {
    it(`refuses ${name}`, () => {
      expect(() => decodeAll(Buffer.from(wire), oneByte, small)).toThrow(RespProtocolError);
    });
  }

  it('the default limits accept what Parley stores (a 64 KiB message, a page of 1,000 entries)', () => {
    expect(DEFAULT_LIMITS.maxBulkBytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(DEFAULT_LIMITS.maxArrayLength).toBeGreaterThanOrEqual(1000);
  });
});

describe('Redis URL', () => {
  it('reads host, port, user, password and database', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380')).toEqual({ host: '127.0.0.1', port: 6380, user: undefined, password: undefined, db: 0 });
    expect(parseRedisUrl('redis://app:s%3Acret@redis:6379/2')).toEqual({ host: 'redis', port: 6379, user: 'app', password: 's:cret', db: 2 });
    expect(parseRedisUrl('redis://:pw@[::1]/1')).toEqual({ host: '::1', port: 6379, user: undefined, password: 'pw', db: 1 });
  });
  it('refuses what it cannot use', () => {
    for (const bad of ['http://x', 'redis://', 'redis://h/x', 'redis://u@h', 'nonsense', 'redis://h?db=1']) expect(() => parseRedisUrl(bad), bad).toThrow();
  });
});
