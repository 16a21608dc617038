import { describe, expect, it } from 'vitest';
import { encodeClose, encodeFrame, Opcode } from '../../server/ws/sender.js';
import { collect, frame, summary } from './helpers/frames.js';

describe('encodeFrame (RFC 6455 5.7 unmasked examples, byte-exact)', () => {
  it('single-frame text', () => {
    expect(encodeFrame(Opcode.TEXT, Buffer.from('Hello')).toString('hex')).toBe('810548656c6c6f');
  });
  it('unmasked ping', () => {
    expect(encodeFrame(Opcode.PING, Buffer.from('Hello')).toString('hex')).toBe('890548656c6c6f');
  });
  it('pong', () => {
    expect(encodeFrame(Opcode.PONG, Buffer.from('Hello')).toString('hex')).toBe('8a0548656c6c6f');
  });
  it('256 bytes binary, 16-bit length', () => {
    const f = encodeFrame(Opcode.BINARY, Buffer.alloc(256));
    expect(f.subarray(0, 4).toString('hex')).toBe('827e0100');
    expect(f.length).toBe(260);
  });
  it('64 KiB binary, 64-bit length', () => {
    const f = encodeFrame(Opcode.BINARY, Buffer.alloc(65536));
    expect(f.subarray(0, 10).toString('hex')).toBe('827f0000000000010000');
    expect(f.length).toBe(65546);
  });
  it('boundaries 125/126/65535', () => {
    expect(encodeFrame(1, Buffer.alloc(125))[1]).toBe(125);
    expect(encodeFrame(1, Buffer.alloc(126)).subarray(0, 4).toString('hex')).toBe('817e007e');
    expect(encodeFrame(1, Buffer.alloc(65535)).subarray(0, 4).toString('hex')).toBe('817effff');
  });
  it('rsv1 bit', () => {
    expect(encodeFrame(Opcode.TEXT, Buffer.from([0]), true).toString('hex')).toBe('c10100');
  });
  it('returns one buffer containing header and payload', () => {
    const f = encodeFrame(Opcode.TEXT, Buffer.from('abc'));
    expect(f.subarray(2).toString()).toBe('abc');
  });
});

describe('encodeClose', () => {
  it('empty close', () => expect(encodeClose().toString('hex')).toBe('8800'));
  it('code only', () => expect(encodeClose(1000).toString('hex')).toBe('880203e8'));
  it('code and reason', () => expect(encodeClose(1001, 'bye').toString('hex')).toBe('880503e9627965'));
  it('truncates the reason on a UTF-8 boundary to fit 125 bytes', () => {
    for (const ch of ['a', 'é', '€', '😀']) {
      const f = encodeClose(4000, ch.repeat(200));
      expect(f[1]).toBeLessThanOrEqual(125);
      const reason = f.subarray(4);
      expect(Buffer.from(reason.toString('utf8')).equals(reason)).toBe(true);
      expect(reason.length).toBeGreaterThan(119);
    }
  });
});

describe('sender output parses back (masked round trip)', () => {
  it('text, binary, ping, close', () => {
    const payloads = [Buffer.alloc(0), Buffer.from('hi'), Buffer.alloc(300, 7), Buffer.alloc(70000, 1)];
    for (const p of payloads) {
      // Re-mask the server frame as a client would send it.
      const f = encodeFrame(Opcode.BINARY, p);
      const { r, events } = collect();
      r.push(frame({ opcode: f[0]! & 0x0f, payload: p }));
      expect(events).toHaveLength(1);
      const e = events[0]!;
      expect(e.t === 'message' && e.data.equals(p)).toBe(true);
    }
    const c = encodeClose(1000, 'ok');
    const { r, events } = collect();
    r.push(frame({ opcode: 8, payload: c.subarray(2) }));
    expect(summary(events)).toEqual(['close:1000:ok']);
  });
});
