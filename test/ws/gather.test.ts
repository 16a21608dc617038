// ByteGather: pieces in, one buffer out; capacity at most twice the bytes (or the small first block),
// never past the unit's declared limit.
import { describe, expect, it } from 'vitest';
import { ByteGather } from '../../server/ws/gather.js';
import { prng } from '../helpers/prng.js';

describe('ByteGather', () => {
  it('gathers random pieces into the same bytes, capacity within max(256, 2x length) and the limit', () => {
    const r = prng(7);
    for (let round = 0; round < 50; round++) {
      const total = Math.floor(r() * 20_000);
      const src = Buffer.alloc(total);
      for (let i = 0; i < total; i++) src[i] = Math.floor(r() * 256);
      const g = new ByteGather();
      for (let i = 0; i < total; ) {
        const n = 1 + Math.floor(r() * (r() < 0.5 ? 3 : 2000));
        const end = Math.min(total, i + n);
        g.append(src, i, end, total);
        i = end;
        expect(g.capacity).toBeLessThanOrEqual(Math.min(total, Math.max(256, 2 * g.length)));
      }
      expect(g.bytes().equals(src)).toBe(true);
      expect(g.length).toBe(total);
    }
  });

  it('a unit declared small never allocates past its declaration', () => {
    const g = new ByteGather();
    g.append(Buffer.from('abc'), 0, 3, 5);
    expect(g.capacity).toBe(5);
    g.append(Buffer.from('de'), 0, 2, 5);
    expect(g.capacity).toBe(5);
    expect(g.bytes().toString()).toBe('abcde');
    expect(g.lastByte()).toBe(0x65);
  });
});
