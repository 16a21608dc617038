import { describe, expect, it } from 'vitest';
import { Utf8Validator, isValidUtf8 } from '../../server/ws/utf8.js';
import { prng } from './helpers/frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

const valid = ['', '61', 'c2a9', 'e282ac', 'f09f9880', 'efbfbf', 'f48fbfbf', 'ed9fbf', 'ee8080', 'cebae1bdb9cf83cebcceb5', '00', '7f'];
const invalid = ['80', 'bf', 'c0af', 'c1bf', 'e080af', 'eda080', 'edbfbf', 'f08f8080', 'f4908080', 'f5', 'ff', 'fe', 'c2', 'e282', 'f09f98', 'c261', 'e2c2ac', 'cebae1bdb9cf83cebcceb5eda080656469746564'];

describe('Utf8Validator', () => {
  for (const v of valid) it(`valid ${v || '(empty)'}`, () => expect(isValidUtf8(hex(v))).toBe(true));
  for (const v of invalid) it(`invalid ${v}`, () => expect(isValidUtf8(hex(v))).toBe(false));

  it('agrees with the one-shot result under every byte split', () => {
    for (const v of [...valid, ...invalid]) {
      const b = hex(v);
      const want = isValidUtf8(b);
      const u = new Utf8Validator();
      let ok = true;
      for (let i = 0; i < b.length; i++) ok = u.push(b, i, i + 1) && ok;
      expect(ok && u.end()).toBe(want);
    }
  });

  it('fails at the first invalid byte, mid-sequence', () => {
    const u = new Utf8Validator();
    expect(u.push(hex('f0'))).toBe(true);
    expect(u.push(hex('9f'))).toBe(true);
    expect(u.push(hex('41'))).toBe(false);
    expect(u.push(hex('41'))).toBe(false);
    u.reset();
    expect(u.push(hex('41'))).toBe(true);
  });

  it('incomplete is reported by end()', () => {
    const u = new Utf8Validator();
    expect(u.push(hex('e282'))).toBe(true);
    expect(u.end()).toBe(false);
    expect(u.push(hex('41'))).toBe(true);
    expect(u.end()).toBe(true);
  });

  it('matches a reference decoder on random bytes', () => {
    const r = prng(7);
    const dec = new TextDecoder('utf-8', { fatal: true });
    for (let n = 0; n < 20000; n++) {
      const len = Math.floor(r() * 8);
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = r() < 0.5 ? 0x80 + Math.floor(r() * 0x80) : Math.floor(r() * 256);
      let ref = true;
      try {
        dec.decode(b);
      } catch {
        ref = false;
      }
      expect(isValidUtf8(b)).toBe(ref);
    }
  });
});
