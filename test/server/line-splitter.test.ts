import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../server/line-splitter.js';

function run(input: Buffer, max: number, chunkSizes: () => number): (string | 'TOO_LONG')[] {
  const out: (string | 'TOO_LONG')[] = [];
  const s = new LineSplitter(max, { line: (b) => out.push(b.toString('utf8')), tooLong: () => out.push('TOO_LONG') });
  for (let i = 0; i < input.length; ) {
    const n = Math.max(1, chunkSizes());
    s.push(input.subarray(i, i + n));
    i += n;
  }
  return out;
}

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('LineSplitter', () => {
  const rows: [string, string, number, (string | 'TOO_LONG')[]][] = [
    ['two lines', 'a\nb\n', 10, ['a', 'b']],
    ['CRLF', 'a\r\nb\r\n', 10, ['a', 'b']],
    ['empty lines skipped', '\n\r\n\nx\n', 10, ['x']],
    ['no trailing newline waits', 'a\nb', 10, ['a']],
    ['exactly the limit', 'abcde\n', 5, ['abcde']],
    ['exactly the limit with CR', 'abcde\r\n', 5, ['abcde']],
    ['one over the limit', 'abcdef\nok\n', 5, ['TOO_LONG', 'ok']],
    ['one over with CR', 'abcdef\r\nok\n', 5, ['TOO_LONG', 'ok']],
    ['long line reported once, then recovery', `${'x'.repeat(100)}\nnext\n`, 5, ['TOO_LONG', 'next']],
    ['lone CR inside line kept', 'a\rb\n', 10, ['a\rb']],
    ['multi-byte UTF-8 split anywhere', 'zoë 😀\n', 20, ['zoë 😀']],
  ];
  for (const [label, input, max, expected] of rows) {
    it(`${label}: whole`, () => expect(run(Buffer.from(input), max, () => 1 << 20)).toEqual(expected));
    it(`${label}: one byte at a time`, () => expect(run(Buffer.from(input), max, () => 1)).toEqual(expected));
    it(`${label}: random chunks`, () => {
      const rnd = seeded(label.length * 7919);
      for (let round = 0; round < 20; round++) expect(run(Buffer.from(input), max, () => Math.floor(rnd() * 4) + 1)).toEqual(expected);
    });
  }

  it('holds at most about the limit in memory for an endless line', () => {
    const s = new LineSplitter(1000, { line: () => {}, tooLong: () => {} });
    for (let i = 0; i < 10_000; i++) s.push(Buffer.alloc(1000, 0x61));
    // Private state is inspected only to prove the bound: nothing accumulates while discarding.
    expect((s as unknown as { size: number }).size).toBe(0);
  });
});
