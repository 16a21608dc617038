// 100,000 random frames of random validity, each into a fresh receiver in a random chunking. An
// oracle written straight from RFC 6455/7692 predicts the outcome; the receiver must match it,
// never throw, and report exactly one error for an invalid frame.
import { describe, expect, it } from 'vitest';
import { deflateMessage } from '../../server/ws/deflate.js';
import { frame, prng, collect, summary } from './helpers/frames.js';

const FRAMES = 100_000;
/** Time the fuzz may take, and the fewest frames that still make it a fuzz. */
const BUDGET_MS = 20_000;
const MIN_FRAMES = 20_000;
const fatal = new TextDecoder('utf-8', { fatal: true });
const utf8ok = (b: Buffer): boolean => {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
};
const validCode = (c: number): boolean => (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);

describe('receiver fuzz', () => {
  it(`up to ${FRAMES} random frames match the oracle`, () => {
    const r = prng(20240601);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const counts: Record<string, number> = {};
    const t0 = Date.now();

    // Bounded in count and in time: on a loaded machine fewer frames run, never a longer test.
    let n = 0;
    for (; n < FRAMES && Date.now() - t0 < BUDGET_MS; n++) {
      const deflate = r() < 0.3;
      const max = pick([16, 200, 100_000]);
      // Sometimes a message is already open: a valid non-final first fragment precedes the frame.
      const open = r() < 0.25 ? pick(['text', 'binary'] as const) : undefined;
      const prefix = open ? frame({ fin: false, opcode: open === 'text' ? 1 : 2, payload: 'ab' }) : Buffer.alloc(0);

      const fin = r() < 0.85;
      const rsv1 = r() < 0.08;
      const rsv2 = r() < 0.02;
      const rsv3 = r() < 0.02;
      const opcode = r() < 0.85 ? pick([0, 1, 2, 8, 9, 10]) : Math.floor(r() * 16);
      const masked = r() < 0.95;
      const isControl = opcode >= 8;
      const compressed = rsv1 && deflate && (opcode === 1 || opcode === 2);

      // Payload: random bytes, valid text, text with one stray byte, or a close body.
      let plain: Buffer;
      // Few big payloads: enough to cover 16- and 64-bit lengths without spending the time budget on them.
      const len = r() < 0.97 ? Math.floor(r() * 130) : r() < 0.8 ? 126 + Math.floor(r() * 2000) : 65_000 + Math.floor(r() * 5_000);
      const kind = r();
      if (kind < 0.4) plain = Buffer.from(Array.from({ length: len }, () => pick(['a', 'é', '€', '😀', ' '])).join('')).subarray(0, len);
      else if (kind < 0.6) plain = Buffer.from('x'.repeat(len));
      else {
        plain = Buffer.alloc(len);
        for (let i = 0; i < len; i++) plain[i] = Math.floor(r() * 256);
      }
      if (opcode === 8 && r() < 0.7) {
        const c = Buffer.alloc(2);
        c.writeUInt16BE(r() < 0.6 ? pick([1000, 1001, 1003, 1007, 1011, 1012, 3000, 4999]) : Math.floor(r() * 65536));
        plain = Buffer.concat([c, plain.subarray(0, Math.floor(r() * 20))]);
      }
      // Keep non-final text fragments unambiguous for the oracle: either complete valid UTF-8 or
      // containing 0xFF, which no prefix can make valid.
      if (opcode === 1 || opcode === 0) {
        if (!utf8ok(plain)) {
          plain = Buffer.from(plain);
          if (plain.length > 0) plain[Math.floor(r() * plain.length)] = 0xff;
        }
      }
      const payload = compressed ? deflateMessage(plain, 15) : plain;
      const need: 7 | 16 | 64 = payload.length < 126 ? 7 : payload.length < 65536 ? 16 : 64;
      const forced = r() < 0.1 ? pick([7, 16, 64] as const) : need;
      // A forced encoding may be wider than needed (legal, and illegal for control frames), never narrower.
      let encodedBits: 7 | 16 | 64 = forced === 64 || need === 64 ? 64 : forced === 16 || need === 16 ? 16 : 7;
      const topBit = r() < 0.01;
      let bytes = frame({ fin, rsv1, rsv2, rsv3, opcode, masked, payload, lenBits: encodedBits });
      if (topBit) {
        bytes = Buffer.from(frame({ fin, rsv1, rsv2, rsv3, opcode, masked, payload, lenBits: 64 }));
        bytes[2] = bytes[2]! | 0x80;
        encodedBits = 64;
      }

      // Oracle, in RFC order of what a receiver can know first.
      let want: string[];
      const total = (open ? 2 : 0) + payload.length;
      if (rsv2 || rsv3) want = ['error:1002'];
      else if (![0, 1, 2, 8, 9, 10].includes(opcode)) want = ['error:1002'];
      else if (rsv1 && (!deflate || isControl || opcode === 0)) want = ['error:1002'];
      else if (isControl && !fin) want = ['error:1002'];
      else if (opcode === 0 && !open) want = ['error:1002'];
      else if ((opcode === 1 || opcode === 2) && open) want = ['error:1002'];
      else if (!masked) want = ['error:1002'];
      else if (isControl && encodedBits !== 7) want = ['error:1002'];
      else if (topBit) want = ['error:1002'];
      else if (!isControl && total > max) want = ['error:1009'];
      else if (isControl) {
        if (opcode === 9) want = [`ping:${payload.toString('hex')}`];
        else if (opcode === 10) want = [`pong:${payload.toString('hex')}`];
        else if (payload.length === 0) want = ['close:1005:'];
        else if (payload.length === 1) want = ['error:1002'];
        else if (!validCode(payload.readUInt16BE(0))) want = ['error:1002'];
        else if (!utf8ok(payload.subarray(2))) want = ['error:1007'];
        else want = [`close:${payload.readUInt16BE(0)}:${payload.subarray(2).toString()}`];
      } else {
        const binary = opcode === 2 || (opcode === 0 && open === 'binary');
        const whole = opcode === 0 ? Buffer.concat([Buffer.from('ab'), plain]) : plain;
        if (compressed) {
          if (!fin) want = [];
          else if (plain.length > max) want = ['error:1009'];
          else if (!binary && !utf8ok(plain)) want = ['error:1007'];
          else want = [binary ? `bin:${whole.toString('hex')}` : `text:${whole.toString()}`];
        } else if (!binary && !utf8ok(plain)) want = ['error:1007'];
        else if (!fin) want = [];
        else want = [binary ? `bin:${whole.toString('hex')}` : `text:${whole.toString()}`];
      }

      const { r: rx, events } = collect({ maxMessageBytes: max, deflate });
      const all = Buffer.concat([prefix, bytes]);
      const oneByte = all.length < 64 && r() < 0.2;
      let i = 0;
      while (i < all.length) {
        const k = oneByte ? 1 : 1 + Math.floor(r() * Math.min(all.length, Math.max(300, all.length >> 3)));
        rx.push(Buffer.from(all.subarray(i, i + k)));
        i += k;
      }
      const got = summary(events);
      if (got.join('\n') !== want.join('\n')) {
        expect({ n, opcode, fin, rsv1, deflate, open, masked, max, got }).toEqual({ n, opcode, fin, rsv1, deflate, open, masked, max, got: want });
      }
      const key = want[0]?.split(':').slice(0, want[0].startsWith('error') ? 2 : 1).join(':') ?? 'none';
      counts[key] = (counts[key] ?? 0) + 1;
    }

    gc?.();
    const grew = process.memoryUsage().heapUsed - heapBefore;
    // Without --expose-gc the heap holds garbage we cannot force out; the bound is generous then.
    expect(grew).toBeLessThan((gc ? 8 : 64) * 1024 * 1024);
    // Every outcome class was exercised.
    for (const k of ['error:1002', 'error:1007', 'error:1009', 'text', 'bin', 'ping', 'pong', 'close', 'none']) expect(counts[k] ?? 0).toBeGreaterThan(100);
    expect(n).toBeGreaterThanOrEqual(Math.min(FRAMES, MIN_FRAMES));
  }, 60_000);
});
