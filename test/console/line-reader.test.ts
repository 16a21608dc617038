// The console client's line reader: the same lines whatever the chunking, and time linear in the
// stream. The big cases are sized so that a reader that re-scans or re-slices its buffer per chunk
// or per line (quadratic) takes minutes and fails on the time budget, while a linear one takes well
// under a second.
import { describe, expect, it } from 'vitest';
import { LineReader } from '../../console-client/line-reader.js';
import { prng } from '../helpers/prng.js';

const enc = new TextEncoder();

function feed(reader: LineReader, bytes: Uint8Array, chunkSizes: () => number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = Math.max(1, chunkSizes());
    const r = reader.push(bytes.subarray(i, i + n));
    if (!r.ok) throw new Error(`unexpected ${r.code}`);
    lines.push(...r.lines);
    i += n;
  }
  return lines;
}

function elapsed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const out = f();
  return [out, performance.now() - t0];
}

describe('LineReader', () => {
  const sample = ['{"type":"message","text":"héllo wörld 🙂"}', '', '{"type":"ack","re":1}', 'crlf line\r', 'последняя'];
  const bytes = enc.encode(sample.join('\n') + '\n');
  const expected = sample.map((l) => l.replace(/\r$/, ''));

  it('one read with everything', () => {
    expect(feed(new LineReader(1 << 20), bytes, () => bytes.length)).toEqual(expected);
  });

  it('one byte per read, multi-byte characters split across reads included', () => {
    expect(feed(new LineReader(1 << 20), bytes, () => 1)).toEqual(expected);
  });

  it('any chunking: random read sizes give the same lines', () => {
    const random = prng(7);
    for (let round = 0; round < 200; round++) {
      expect(feed(new LineReader(1 << 20), bytes, () => 1 + Math.floor(random() * 12))).toEqual(expected);
    }
  });

  it('a line without its newline yet is held until the newline comes', () => {
    const r = new LineReader(1 << 20);
    expect(r.push(enc.encode('{"type":'))).toEqual({ ok: true, lines: [] });
    expect(r.push(enc.encode('"pong"}\n{"ty'))).toEqual({ ok: true, lines: ['{"type":"pong"}'] });
    expect(r.push(enc.encode('pe":"time"}\n'))).toEqual({ ok: true, lines: ['{"type":"time"}'] });
  });

  it('an over-long line is an error value; lines before it still come out, and reset starts clean', () => {
    const r = new LineReader(10);
    const res = r.push(enc.encode('short\n' + 'x'.repeat(11)));
    expect(res).toEqual({ ok: false, code: 'line_too_long', lines: ['short'] });
    r.reset();
    expect(r.push(enc.encode('fine\n'))).toEqual({ ok: true, lines: ['fine'] });
  });

  it('a history burst in TCP-sized reads: thousands of messages and one 4 MB history line, linear', () => {
    // A resume's history events are single lines of up to 500 messages; the old reader re-searched
    // and re-copied such a line from its start on every read (about 25 s for this one).
    const short = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ type: 'message', room: 'r', from: 'a', text: `line ${i}`, seq: i + 1 }));
    const history = JSON.stringify({ type: 'history', room: 'r', messages: Array.from({ length: 500 }, (_, i) => ({ seq: i, text: 'z'.repeat(8000) })) });
    const all = [...short.slice(0, 10_000), history, ...short.slice(10_000)];
    const burst = enc.encode(all.join('\n') + '\n');
    const [out, ms] = elapsed(() => feed(new LineReader(8 << 20), burst, () => 1500));
    expect(out).toHaveLength(all.length);
    expect(out[10_000]).toBe(history);
    expect(out.at(-1)).toBe(short.at(-1));
    expect(ms).toBeLessThan(3000);
  });

  it('one 300 kB line arriving a byte at a time, linear', () => {
    // The old reader: about a minute for 200 kB.
    const big = JSON.stringify({ type: 'history', room: 'r', messages: [{ text: 'y'.repeat(300_000) }] });
    const data = enc.encode(big + '\n');
    const [out, ms] = elapsed(() => feed(new LineReader(1 << 20), data, () => 1));
    expect(out).toEqual([big]);
    expect(ms).toBeLessThan(3000);
  });
});
