import { describe, expect, it, vi } from 'vitest';
import { deflateMessage } from '../../server/ws/deflate.js';
import { liveHeapBytes } from '../helpers/heap.js';
import { MAX_FRAMES_PER_RUN, Receiver } from '../../server/ws/receiver.js';
import { frame, prng, runAll, collect } from './helpers/frames.js';

const cat = (...b: Buffer[]): Buffer => Buffer.concat(b);
const T = 1, B = 2, C = 0, CLOSE = 8, PING = 9, PONG = 10;
const closeP = (code: number, reason = ''): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return cat(b, Buffer.from(reason));
};

interface Row {
  name: string;
  input: Buffer;
  expect: string[];
  max?: number;
  deflate?: boolean;
}

const rows: Row[] = [
  // RFC 6455 5.7 examples, masked client versions.
  { name: '5.7 single-frame masked text', input: Buffer.from('818537fa213d7f9f4d5158', 'hex'), expect: ['text:Hello'] },
  { name: '5.7 fragmented text', input: cat(frame({ fin: false, opcode: T, payload: 'Hel' }), frame({ opcode: C, payload: 'lo' })), expect: ['text:Hello'] },
  { name: '5.7 ping Hello', input: frame({ opcode: PING, payload: 'Hello' }), expect: ['ping:48656c6c6f'] },
  { name: '5.7 pong Hello', input: frame({ opcode: PONG, payload: 'Hello' }), expect: ['pong:48656c6c6f'] },
  { name: '5.7 256 bytes binary (16-bit len)', input: frame({ opcode: B, payload: Buffer.alloc(256, 1) }), expect: ['bin:' + '01'.repeat(256)] },
  { name: '64-bit length small payload', input: frame({ opcode: B, payload: Buffer.from([9]), lenBits: 64 }), expect: ['bin:09'] },
  { name: '16-bit length for 5 bytes', input: frame({ opcode: T, payload: 'abcde', lenBits: 16 }), expect: ['text:abcde'] },
  // Empty messages.
  { name: 'empty text', input: frame({ opcode: T }), expect: ['text:'] },
  { name: 'empty binary', input: frame({ opcode: B }), expect: ['bin:'] },
  { name: 'empty fragments', input: cat(frame({ fin: false, opcode: T }), frame({ fin: false, opcode: C }), frame({ opcode: C })), expect: ['text:'] },
  // FIN/RSV/opcode.
  { name: 'RSV1 without deflate', input: frame({ opcode: T, rsv1: true, payload: 'x' }), expect: ['error:1002'] },
  { name: 'RSV2', input: frame({ opcode: T, rsv2: true, payload: 'x' }), expect: ['error:1002'] },
  { name: 'RSV3', input: frame({ opcode: T, rsv3: true, payload: 'x' }), expect: ['error:1002'] },
  { name: 'RSV2 even with deflate', input: frame({ opcode: T, rsv2: true }), deflate: true, expect: ['error:1002'] },
  ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op) => ({ name: `reserved opcode ${op}`, input: frame({ opcode: op }), expect: ['error:1002'] })),
  { name: 'RSV1 on control frame (deflate on)', input: frame({ opcode: PING, rsv1: true }), deflate: true, expect: ['error:1002'] },
  { name: 'RSV1 on continuation (deflate on)', input: cat(frame({ fin: false, opcode: B, rsv1: true }), frame({ opcode: C, rsv1: true })), deflate: true, expect: ['error:1002'] },
  // Masking.
  { name: 'unmasked client frame', input: frame({ opcode: T, payload: 'Hello', masked: false }), expect: ['error:1002'] },
  { name: 'unmasked empty frame', input: frame({ opcode: T, masked: false }), expect: ['error:1002'] },
  // Lengths.
  { name: 'over max (7-bit)', input: frame({ opcode: B, payload: Buffer.alloc(11) }), max: 10, expect: ['error:1009'] },
  { name: 'exactly max', input: frame({ opcode: B, payload: Buffer.alloc(10) }), max: 10, expect: ['bin:' + '00'.repeat(10)] },
  { name: 'over max declared 16-bit, no payload sent', input: frame({ opcode: B, declaredLen: 60000, lenBits: 16 }), max: 1000, expect: ['error:1009'] },
  { name: 'over max declared 64-bit', input: frame({ opcode: B, declaredLen: 2 ** 40, lenBits: 64 }), max: 1000, expect: ['error:1009'] },
  { name: 'fragmented running total over max', input: cat(frame({ fin: false, opcode: T, payload: 'aaaaaa' }), frame({ opcode: C, payload: 'bbbbb' })), max: 10, expect: ['error:1009'] },
  { name: '64-bit length top bit', input: cat(Buffer.from('82ff', 'hex'), Buffer.from('8000000000000001', 'hex'), Buffer.alloc(4)), expect: ['error:1002'] },
  // Control frames.
  { name: 'ping 125 bytes ok', input: frame({ opcode: PING, payload: Buffer.alloc(125, 2) }), expect: ['ping:' + '02'.repeat(125)] },
  { name: 'ping 126 bytes', input: frame({ opcode: PING, payload: Buffer.alloc(126) }), expect: ['error:1002'] },
  { name: 'ping with 16-bit len of 5', input: frame({ opcode: PING, payload: 'abcde', lenBits: 16 }), expect: ['error:1002'] },
  { name: 'fragmented ping', input: frame({ opcode: PING, fin: false }), expect: ['error:1002'] },
  { name: 'fragmented close', input: frame({ opcode: CLOSE, fin: false }), expect: ['error:1002'] },
  {
    name: 'control frames between fragments',
    input: cat(frame({ fin: false, opcode: T, payload: 'fr' }), frame({ opcode: PING, payload: 'p' }), frame({ fin: false, opcode: C, payload: 'ag' }), frame({ opcode: PONG }), frame({ opcode: C, payload: 'ment' })),
    expect: ['ping:70', 'pong:', 'text:fragment'],
  },
  // Fragmentation sequencing (Autobahn 5.x).
  { name: 'continuation without message', input: frame({ opcode: C, payload: 'x' }), expect: ['error:1002'] },
  { name: 'fin continuation without message', input: frame({ opcode: C, fin: false }), expect: ['error:1002'] },
  { name: 'new text while fragmented open', input: cat(frame({ fin: false, opcode: T, payload: 'a' }), frame({ opcode: T, payload: 'b' })), expect: ['error:1002'] },
  { name: 'new binary while fragmented open', input: cat(frame({ fin: false, opcode: B }), frame({ opcode: B })), expect: ['error:1002'] },
  { name: 'two messages back to back', input: cat(frame({ opcode: T, payload: 'a' }), frame({ opcode: B, payload: Buffer.from([1]) }), frame({ opcode: T, payload: 'b' })), expect: ['text:a', 'bin:01', 'text:b'] },
  { name: 'ping then message', input: cat(frame({ opcode: PING }), frame({ opcode: T, payload: 'x' })), expect: ['ping:', 'text:x'] },
  // UTF-8 (Autobahn 6.x).
  { name: 'valid multi-byte text', input: frame({ opcode: T, payload: 'κόσμε 😀 €' }), expect: ['text:κόσμε 😀 €'] },
  {
    name: 'code point split across fragments',
    input: cat(frame({ fin: false, opcode: T, payload: Buffer.from([0xf0, 0x9f]) }), frame({ fin: false, opcode: C, payload: Buffer.from([0x98]) }), frame({ opcode: C, payload: Buffer.from([0x80]) })),
    expect: ['text:😀'],
  },
  { name: 'invalid byte in text', input: frame({ opcode: T, payload: Buffer.from([0x61, 0xff]) }), expect: ['error:1007'] },
  { name: 'overlong', input: frame({ opcode: T, payload: Buffer.from([0xc0, 0xaf]) }), expect: ['error:1007'] },
  { name: 'surrogate', input: frame({ opcode: T, payload: Buffer.from([0xed, 0xa0, 0x80]) }), expect: ['error:1007'] },
  { name: 'above U+10FFFF', input: frame({ opcode: T, payload: Buffer.from([0xf4, 0x90, 0x80, 0x80]) }), expect: ['error:1007'] },
  { name: 'truncated at message end', input: frame({ opcode: T, payload: Buffer.from([0x61, 0xe2, 0x82]) }), expect: ['error:1007'] },
  { name: 'truncated across fragments end', input: cat(frame({ fin: false, opcode: T, payload: 'a' }), frame({ opcode: C, payload: Buffer.from([0xce]) })), expect: ['error:1007'] },
  { name: 'invalid in binary is fine', input: frame({ opcode: B, payload: Buffer.from([0xff]) }), expect: ['bin:ff'] },
  // Fail fast (Autobahn 6.4.x): the message never completes, yet the error arrives.
  { name: 'fail-fast: invalid byte in first fragment, no final frame', input: frame({ fin: false, opcode: T, payload: Buffer.from('cebae1bdb9cf83cebcceb5f4908080', 'hex') }), expect: ['error:1007'] },
  { name: 'fail-fast: invalid mid-frame, rest never sent', input: frame({ opcode: T, payload: Buffer.from('cebae1bdb9cf83cebcceb5f4908080', 'hex'), declaredLen: 100 }), expect: ['error:1007'] },
  // Close (Autobahn 7.x).
  { name: 'empty close', input: frame({ opcode: CLOSE }), expect: ['close:1005:'] },
  { name: 'close 1000', input: frame({ opcode: CLOSE, payload: closeP(1000) }), expect: ['close:1000:'] },
  { name: 'close with reason', input: frame({ opcode: CLOSE, payload: closeP(1001, 'bye ✓') }), expect: ['close:1001:bye ✓'] },
  { name: 'close 1-byte payload', input: frame({ opcode: CLOSE, payload: Buffer.from([3]) }), expect: ['error:1002'] },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((c) => ({ name: `close code ${c} invalid`, input: frame({ opcode: CLOSE, payload: closeP(c) }), expect: ['error:1002'] })),
  ...[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999].map((c) => ({ name: `close code ${c} valid`, input: frame({ opcode: CLOSE, payload: closeP(c) }), expect: [`close:${c}:`] })),
  { name: 'close reason invalid UTF-8', input: frame({ opcode: CLOSE, payload: cat(closeP(1000), Buffer.from([0xce, 0xba, 0xff])) }), expect: ['error:1007'] },
  { name: 'close 125 bytes', input: frame({ opcode: CLOSE, payload: closeP(1000, 'r'.repeat(123)) }), expect: [`close:1000:${'r'.repeat(123)}`] },
  { name: 'input after close ignored', input: cat(frame({ opcode: CLOSE, payload: closeP(1000) }), frame({ opcode: T, payload: 'x' }), Buffer.from([0xff, 0xff])), expect: ['close:1000:'] },
  { name: 'input after error ignored', input: cat(frame({ opcode: 3 }), frame({ opcode: T, payload: 'x' })), expect: ['error:1002'] },
  { name: 'text before close delivered', input: cat(frame({ opcode: T, payload: 'hi' }), frame({ opcode: CLOSE })), expect: ['text:hi', 'close:1005:'] },
  // Deflate (Autobahn 12/13).
  { name: 'compressed text', input: frame({ opcode: T, rsv1: true, payload: deflateMessage(Buffer.from('Hello'), 15) }), deflate: true, expect: ['text:Hello'] },
  { name: 'RFC 7692 7.2.3.1 example', input: frame({ opcode: T, rsv1: true, payload: Buffer.from('f248cdc9c90700', 'hex') }), deflate: true, expect: ['text:Hello'] },
  {
    name: 'RFC 7692 7.2.3.1 fragmented',
    input: cat(frame({ fin: false, opcode: T, rsv1: true, payload: Buffer.from('f248cd', 'hex') }), frame({ opcode: C, payload: Buffer.from('c9c90700', 'hex') })),
    deflate: true,
    expect: ['text:Hello'],
  },
  { name: 'compressed empty (00)', input: frame({ opcode: T, rsv1: true, payload: Buffer.from([0]) }), deflate: true, expect: ['text:'] },
  { name: 'uncompressed message with deflate on', input: frame({ opcode: T, payload: 'plain' }), deflate: true, expect: ['text:plain'] },
  { name: 'compressed invalid UTF-8', input: frame({ opcode: T, rsv1: true, payload: deflateMessage(Buffer.from([0x61, 0xff]), 15) }), deflate: true, expect: ['error:1007'] },
  { name: 'compressed binary', input: frame({ opcode: B, rsv1: true, payload: deflateMessage(Buffer.from([0xff, 0]), 15) }), deflate: true, expect: ['bin:ff00'] },
  { name: 'corrupt compressed data', input: frame({ opcode: B, rsv1: true, payload: Buffer.from('ffffffff', 'hex') }), deflate: true, expect: ['error:1007'] },
  { name: 'inflates past max', input: frame({ opcode: B, rsv1: true, payload: deflateMessage(Buffer.alloc(5000), 15) }), deflate: true, max: 4096, expect: ['error:1009'] },
];

describe('Receiver table (every row in 1-byte, whole and 3 random chunkings)', () => {
  for (const [i, row] of rows.entries()) {
    it(row.name, () => {
      const results = runAll(row.input, { maxMessageBytes: row.max ?? 1 << 20, deflate: row.deflate ?? false }, i + 1);
      for (const r of results) expect(r).toEqual(row.expect);
    });
  }
});

describe('Receiver behaviour', () => {
  it('rejects an oversized length before the payload arrives', () => {
    const { r, events } = collect({ maxMessageBytes: 100 });
    r.push(Buffer.from([0x82, 0xfe, 0x01, 0x00]));
    expect(events.map((e) => e.t)).toEqual(['error']);
  });

  it('fails on the invalid byte before the frame is complete', () => {
    const { r, events } = collect();
    const f = frame({ opcode: T, payload: Buffer.concat([Buffer.from('ab'), Buffer.from([0xff]), Buffer.alloc(50, 0x61)]) });
    r.push(Buffer.from(f.subarray(0, 2 + 4 + 3)));
    expect(events.map((e) => (e.t === 'error' ? e.err.code : e.t))).toEqual(['WS_ERR_INVALID_UTF8']);
  });

  it('delivers a big message (9.x) in one piece', () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const { r, events } = collect({ maxMessageBytes: 16 * 1024 * 1024 });
    const f = frame({ opcode: T, payload: big });
    for (let i = 0; i < f.length; i += 65536) r.push(Buffer.from(f.subarray(i, i + 65536)));
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e.t === 'message' && e.data.equals(big)).toBe(true);
  });

  it('big fragmented message with many fragments', () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 1000; i++) parts.push(frame({ fin: i === 999, opcode: i === 0 ? B : C, payload: Buffer.alloc(1000, i & 0xff) }));
    const { r, events } = collect({ maxMessageBytes: 1_000_000 });
    r.push(Buffer.concat(parts));
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e.t === 'message' && e.data.length === 1_000_000 && e.data[999_999] === 999 % 256).toBe(true);
  });

  it('errors carry stable codes', () => {
    const { r, events } = collect();
    r.push(frame({ opcode: T, masked: false }));
    const e = events[0]!;
    expect(e.t === 'error' && e.err.code).toBe('WS_ERR_EXPECTED_MASK');
  });
});

describe('Receiver yields', () => {
  it('a push of thousands of tiny frames is parsed MAX_FRAMES_PER_RUN at a time; the owner resumes it, nothing is lost', () => {
    const n = 3 * MAX_FRAMES_PER_RUN + 10;
    const frames: Buffer[] = [];
    for (let i = 0; i < n; i++) frames.push(frame({ opcode: 9, payload: Buffer.from([i & 0xff]) }));
    let pings = 0;
    let yields = 0;
    const r = new Receiver(
      { maxMessageBytes: 1 << 20, deflate: false },
      { onMessage: () => {}, onPing: () => void pings++, onPong: () => {}, onCloseFrame: () => {}, onProtocolError: () => {}, onYield: () => void yields++ },
    );
    r.push(Buffer.concat(frames));
    expect([pings, yields, r.isPaused]).toEqual([MAX_FRAMES_PER_RUN, 1, true]);
    for (let round = 2; round <= 4; round++) r.resume();
    expect([pings, yields, r.isPaused]).toEqual([n, 3, false]);
  });

  it('without an onYield handler a push is parsed in one go', () => {
    const { r, events } = collect();
    const frames: Buffer[] = [];
    for (let i = 0; i < 2 * MAX_FRAMES_PER_RUN; i++) frames.push(frame({ opcode: 9, payload: Buffer.from([1]) }));
    r.push(Buffer.concat(frames));
    expect(events).toHaveLength(2 * MAX_FRAMES_PER_RUN);
  });
});

describe('Receiver memory', () => {
  it('65,000 one-byte continuation fragments hold O(bytes), not a Buffer per piece', () => {
    const N = 65_000;
    const { r, events } = collect({ maxMessageBytes: 65_536 });
    const before = liveHeapBytes();
    // A fresh Buffer per frame, as the socket would deliver them, dropped once pushed.
    r.push(frame({ fin: false, opcode: B, payload: Buffer.from([0]) }));
    for (let i = 1; i < N - 1; i++) r.push(frame({ fin: false, opcode: C, payload: Buffer.from([i & 0xff]) }));
    const held = liveHeapBytes() - before;
    // Before this bound, each piece was a Buffer slice in a list: ~7.5 MB here, 115x the payload.
    expect(held).toBeLessThan(1024 * 1024);
    // The gathered bytes live in one buffer at most twice their size.
    expect(r.heldBytes).toBeGreaterThanOrEqual(N - 1);
    expect(r.heldBytes).toBeLessThanOrEqual(2 * N);
    r.push(frame({ opcode: C, payload: Buffer.from([(N - 1) & 0xff]) }));
    expect(events).toHaveLength(1);
    const data = (events[0] as { data: Buffer }).data;
    expect(data.length).toBe(N);
    for (let i = 0; i < N; i++) if (data[i] !== (i & 0xff)) throw new Error(`byte ${i} is ${data[i]}`);
    expect(r.heldBytes).toBe(0);
  });
});

describe('Receiver gathering cost', () => {
  it('1 MiB in 64-byte fragments grows its buffer by doubling: a few allocations, not one per fragment (Autobahn 9.3.1)', () => {
    const total = 1024 * 1024;
    const piece = 64;
    const { r, events } = collect({ maxMessageBytes: total });
    const allocations = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      const payload = Buffer.alloc(piece, 0x61);
      const first = frame({ fin: false, opcode: B, payload });
      const middle = frame({ fin: false, opcode: C, payload });
      const last = frame({ opcode: C, payload });
      r.push(Buffer.from(first));
      // 16,382 continuation frames, pushed a thousand at a time as a socket would deliver them.
      const batch = Buffer.concat(Array.from({ length: 1000 }, () => middle));
      let sent = piece;
      while (sent + 1000 * piece < total) {
        r.push(Buffer.from(batch));
        sent += 1000 * piece;
      }
      for (; sent < total - piece; sent += piece) r.push(Buffer.from(middle));
      r.push(Buffer.from(last));
      expect(events).toHaveLength(1);
      expect((events[0] as { data: Buffer }).data.length).toBe(total);
      // 256 bytes doubling to 1 MiB is 13 allocations; before, every fragment reallocated (16,384).
      expect(allocations.mock.calls.length).toBeLessThanOrEqual(13);
    } finally {
      allocations.mockRestore();
    }
  });
});

describe('Receiver pause and resume', () => {
  /** A receiver whose handlers record events and call `hook` after each one (to pause from inside). */
  function pausable(hook: (r: Receiver, summaryOfEvent: string) => void, opts: { maxMessageBytes?: number; deflate?: boolean } = {}) {
    const out: string[] = [];
    const record = (s: string): void => {
      out.push(s);
      hook(r, s);
    };
    const r: Receiver = new Receiver(
      { maxMessageBytes: opts.maxMessageBytes ?? 1 << 20, deflate: opts.deflate ?? false },
      {
        onMessage: (data, binary) => record(`${binary ? 'bin' : 'text'}:${binary ? data.toString('hex') : data.toString('utf8')}`),
        onPing: (data) => record(`ping:${data.toString('hex')}`),
        onPong: (data) => record(`pong:${data.toString('hex')}`),
        onCloseFrame: (code, reason) => record(`close:${code}:${reason}`),
        onProtocolError: (err) => record(`error:${err.closeCode}`),
      },
    );
    return { r, out };
  }

  it('pausing in a handler stops at once mid-chunk: the rest is kept unparsed, as a slice, and control frames keep their place', () => {
    const input = cat(frame({ opcode: T, payload: 'a' }), frame({ opcode: PING, payload: 'p' }), frame({ opcode: T, payload: 'b' }), frame({ opcode: CLOSE, payload: closeP(1000) }));
    const firstLen = frame({ opcode: T, payload: 'a' }).length;
    const original = Buffer.from(input);
    const { r, out } = pausable((rx, s) => {
      if (s === 'text:a') rx.pause();
    });
    r.push(input);
    expect(out).toEqual(['text:a']);
    expect(r.isPaused).toBe(true);
    // Unparsed: the receiver unmasks in place, and the bytes after the first frame are untouched.
    expect(input.subarray(firstLen).equals(original.subarray(firstLen))).toBe(true);
    // Kept as it is: nothing gathered, no copy.
    expect(r.heldBytes).toBe(input.length - firstLen);
    // Input pushed while paused waits behind it.
    r.push(frame({ opcode: T, payload: 'late' }));
    expect(out).toEqual(['text:a']);
    r.resume();
    expect(out).toEqual(['text:a', 'ping:70', 'text:b', 'close:1000:']);
    expect(r.heldBytes).toBe(0);
  });

  it('pauses anywhere, in any chunking, give the same events as no pauses', () => {
    const rnd = prng(99);
    const parts = [
      frame({ opcode: T, payload: 'hello' }),
      frame({ fin: false, opcode: T, payload: 'fr' }),
      frame({ opcode: PING, payload: 'x' }),
      frame({ fin: false, opcode: C, payload: 'ag' }),
      frame({ opcode: PONG }),
      frame({ opcode: C, payload: 'ment 😀' }),
      frame({ opcode: B, payload: Buffer.alloc(300, 5) }),
      frame({ opcode: T, rsv1: true, payload: deflateMessage(Buffer.from('zipped '.repeat(50)), 15) }),
      frame({ opcode: B, payload: Buffer.alloc(70_000, 9) }),
      frame({ opcode: CLOSE, payload: closeP(1001, 'bye') }),
    ];
    const input = cat(...parts);
    const expected = runAll(input, { deflate: true })[0]!;
    expect(expected).toHaveLength(8);
    for (let round = 0; round < 40; round++) {
      const { r, out } = pausable(
        (rx) => {
          if (rnd() < 0.5) rx.pause();
        },
        { deflate: true },
      );
      for (let i = 0; i < input.length; ) {
        const n = 1 + Math.floor(rnd() * (round % 2 ? 5 : 3000));
        r.push(Buffer.from(input.subarray(i, i + n)));
        i += n;
        // Sometimes resume after each chunk, sometimes let chunks queue behind the pause.
        if (rnd() < 0.7) r.resume();
      }
      while (r.isPaused) r.resume();
      expect(out).toEqual(expected);
    }
  });
});
