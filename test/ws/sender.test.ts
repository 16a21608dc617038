// The sender is pure framing: byte-exact against the RFC examples, and its output read back by our own
// Receiver (masked as a client would send it) gives back exactly the messages that went in.
import { describe, expect, it } from 'vitest';
import { deflateMessage } from '../../server/ws/deflate.js';
import { encodeClose, encodeFrame, encodeTextFrame, Opcode } from '../../server/ws/sender.js';
import { collect, prng, summary } from './helpers/frames.js';

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

/**
 * A server frame as a client would send it: the mask bit set and a key after the length, the payload
 * XORed with it. Everything else (FIN, RSV1, opcode, the 7/16/64-bit length) is the sender's own.
 */
function asClientFrame(serverFrame: Buffer, key: Buffer): Buffer {
  const len7 = serverFrame[1]! & 0x7f;
  const headerLen = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
  const out = Buffer.alloc(serverFrame.length + 4);
  serverFrame.copy(out, 0, 0, headerLen);
  out[1] = out[1]! | 0x80;
  key.copy(out, headerLen);
  for (let i = headerLen; i < serverFrame.length; i++) out[i + 4] = serverFrame[i]! ^ key[(i - headerLen) & 3]!;
  return out;
}

describe('sender output parses back: random messages through the sender, the Receiver in random chunkings', () => {
  it('gives back the same messages, compressed or not, at every length encoding', () => {
    const r = prng(1105);
    const int = (n: number): number => Math.floor(r() * n);
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
    const text = (n: number): string => Array.from({ length: n }, () => ['a', 'é', '€', '😀', ' ', '{'][int(6)]).join('');
    const frames: Buffer[] = [];
    const want: string[] = [];
    for (let i = 0; i < 400; i++) {
      // Mostly small, some 16-bit lengths, a few 64-bit ones.
      const len = r() < 0.85 ? int(126) : r() < 0.9 ? 126 + int(3000) : 65_536 + int(3000);
      const kind = int(6);
      let f: Buffer;
      if (kind === 0) {
        const t = text(len);
        f = encodeTextFrame(t);
        want.push(`text:${t}`);
      } else if (kind === 1) {
        const t = text(len);
        f = encodeFrame(Opcode.TEXT, Buffer.from(t));
        want.push(`text:${t}`);
      } else if (kind === 2) {
        const b = bytes(len);
        f = encodeFrame(Opcode.BINARY, b);
        want.push(`bin:${b.toString('hex')}`);
      } else if (kind === 3) {
        // permessage-deflate as the server sends it, at any window size it may have agreed.
        const t = text(len);
        f = encodeFrame(Opcode.TEXT, deflateMessage(Buffer.from(t), 9 + int(7)), true);
        want.push(`text:${t}`);
      } else if (kind === 4) {
        const b = bytes(len);
        f = encodeFrame(Opcode.BINARY, deflateMessage(b, 9 + int(7)), true);
        want.push(`bin:${b.toString('hex')}`);
      } else {
        const b = bytes(int(126));
        const op = r() < 0.5 ? Opcode.PING : Opcode.PONG;
        f = encodeFrame(op, b);
        want.push(`${op === Opcode.PING ? 'ping' : 'pong'}:${b.toString('hex')}`);
      }
      frames.push(asClientFrame(f, bytes(4)));
    }
    frames.push(asClientFrame(encodeClose(4000, 'fin ✓'.repeat(40)), bytes(4)));
    const stream = Buffer.concat(frames);
    const closeReason = Buffer.from('fin ✓'.repeat(40)).subarray(0, 123);
    // encodeClose cuts the reason to 123 bytes on a character boundary.
    want.push(`close:4000:${closeReason.toString('utf8').replace(/\uFFFD$/, '')}`);

    for (const maxChunk of [stream.length, 5000, 64, 7]) {
      const { r: rx, events } = collect({ maxMessageBytes: 1 << 20, deflate: true });
      for (let i = 0; i < stream.length; ) {
        const n = 1 + int(maxChunk);
        // The receiver unmasks in place: each run gets its own copy of the bytes.
        rx.push(Buffer.from(stream.subarray(i, i + n)));
        i += n;
      }
      expect(summary(events)).toEqual(want);
    }
  });
});
