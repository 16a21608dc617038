import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../server/line-splitter.js';
import { liveHeapBytes } from '../helpers/heap.js';

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
    // Nothing accumulates while discarding.
    expect(s.heldBytes).toBe(0);
  });
});

describe('LineSplitter memory', () => {
  it('60 KB of one line fed one byte at a time holds O(bytes), not a Buffer per piece', () => {
    const lines: Buffer[] = [];
    const s = new LineSplitter(65_536, { line: (b) => lines.push(Buffer.from(b)), tooLong: () => lines.push(Buffer.from('TOO_LONG')) });
    const N = 60_000;
    const before = liveHeapBytes();
    // A fresh Buffer per byte, as tiny TCP segments arrive, dropped once pushed.
    for (let i = 0; i < N; i++) s.push(Buffer.from([0x61 + (i % 26)]));
    const held = liveHeapBytes() - before;
    // Before this bound, each piece was a Buffer slice in a list: several MB for 60 KB.
    expect(held).toBeLessThan(1024 * 1024);
    expect(s.heldBytes).toBeGreaterThanOrEqual(N);
    expect(s.heldBytes).toBeLessThanOrEqual(2 * N);
    s.push(Buffer.from('\n'));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBe(N);
    expect(lines[0]!.toString()).toBe(Array.from({ length: N }, (_, i) => String.fromCharCode(0x61 + (i % 26))).join(''));
    expect(s.heldBytes).toBe(0);
  });
});

describe('LineSplitter pause and resume', () => {
  it('pausing in the sink stops at once mid-chunk; the rest is kept as a slice and parsed on resume', () => {
    const out: string[] = [];
    const s: LineSplitter = new LineSplitter(100, {
      line: (b) => {
        out.push(b.toString());
        if (out.length === 1) s.pause();
      },
      tooLong: () => out.push('TOO_LONG'),
    });
    s.push(Buffer.from('one\ntwo\nthree\nfo'));
    expect(out).toEqual(['one']);
    expect(s.isPaused).toBe(true);
    expect(s.heldBytes).toBe('two\nthree\nfo'.length);
    s.push(Buffer.from('ur\n'));
    expect(out).toEqual(['one']);
    s.resume();
    expect(out).toEqual(['one', 'two', 'three', 'four']);
    expect(s.heldBytes).toBe(0);
  });

  it('pauses anywhere, in any chunking, give the same lines as no pauses', () => {
    const rnd = seeded(4242);
    const input = Buffer.from(`a\r\nbb\n\n${'x'.repeat(30)}\nzoë 😀\n${'y'.repeat(12)}\r\nlast\n`);
    const expected = run(input, 20, () => 1 << 20);
    expect(expected).toEqual(['a', 'bb', 'TOO_LONG', 'zoë 😀', 'y'.repeat(12), 'last']);
    for (let round = 0; round < 200; round++) {
      const out: string[] = [];
      const s: LineSplitter = new LineSplitter(20, {
        line: (b) => {
          out.push(b.toString());
          if (rnd() < 0.5) s.pause();
        },
        tooLong: () => {
          out.push('TOO_LONG');
          if (rnd() < 0.5) s.pause();
        },
      });
      for (let i = 0; i < input.length; ) {
        const n = 1 + Math.floor(rnd() * 8);
        s.push(input.subarray(i, i + n));
        i += n;
        if (rnd() < 0.6) s.resume();
      }
      while (s.isPaused) s.resume();
      expect(out).toEqual(expected);
    }
  });
});
