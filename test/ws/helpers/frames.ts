// Client-side frame builder and chunking helpers for the frame-layer tests.
import type { WsError } from '../../../server/ws/errors.js';
import { Receiver, type ReceiverOptions } from '../../../server/ws/receiver.js';
import { prng } from '../../helpers/prng.js';

export interface FrameSpec {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  opcode: number;
  payload?: Buffer | string;
  masked?: boolean;
  mask?: Buffer;
  /** Force a length encoding: 7, 16 or 64 bits. */
  lenBits?: 7 | 16 | 64;
  /** Lie about the length (header only; payload still appended as given). */
  declaredLen?: number;
}

export function frame(s: FrameSpec): Buffer {
  const payload = typeof s.payload === 'string' ? Buffer.from(s.payload) : (s.payload ?? Buffer.alloc(0));
  const len = s.declaredLen ?? payload.length;
  const masked = s.masked ?? true;
  const bits = s.lenBits ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const head: number[] = [((s.fin ?? true) ? 0x80 : 0) | (s.rsv1 ? 0x40 : 0) | (s.rsv2 ? 0x20 : 0) | (s.rsv3 ? 0x10 : 0) | s.opcode];
  const m = masked ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (bits === 7) head.push(m | len);
  else if (bits === 16) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  const key = masked ? (s.mask ?? Buffer.from([0x37, 0xfa, 0x21, 0x3d])) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (masked) for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

export { prng };

/** Splits into chunks; copies, because the receiver unmasks in place. */
export function chunkings(data: Buffer, seed: number): Buffer[][] {
  const out: Buffer[][] = [];
  const ones: Buffer[] = [];
  for (let i = 0; i < data.length; i++) ones.push(Buffer.from(data.subarray(i, i + 1)));
  out.push(ones);
  out.push([Buffer.from(data)]);
  const r = prng(seed);
  for (let k = 0; k < 3; k++) {
    const parts: Buffer[] = [];
    let i = 0;
    while (i < data.length) {
      const n = 1 + Math.floor(r() * Math.min(data.length, 1 + (k + 1) * 7));
      parts.push(Buffer.from(data.subarray(i, i + n)));
      i += n;
    }
    out.push(parts);
  }
  return out;
}

export type Event =
  | { t: 'message'; data: Buffer; binary: boolean }
  | { t: 'ping'; data: Buffer }
  | { t: 'pong'; data: Buffer }
  | { t: 'close'; code: number; reason: string }
  | { t: 'error'; err: WsError };

export function collect(opts: Partial<ReceiverOptions> = {}): { r: Receiver; events: Event[] } {
  const events: Event[] = [];
  const r = new Receiver(
    { maxMessageBytes: opts.maxMessageBytes ?? 1 << 20, deflate: opts.deflate ?? false },
    {
      onMessage: (data, binary) => events.push({ t: 'message', data: Buffer.from(data), binary }),
      onPing: (data) => events.push({ t: 'ping', data: Buffer.from(data) }),
      onPong: (data) => events.push({ t: 'pong', data: Buffer.from(data) }),
      onCloseFrame: (code, reason) => events.push({ t: 'close', code, reason }),
      onProtocolError: (err) => events.push({ t: 'error', err }),
    },
  );
  return { r, events };
}

/** A compact, comparable summary of events. */
export function summary(events: Event[]): string[] {
  return events.map((e) => {
    switch (e.t) {
      case 'message':
        return `${e.binary ? 'bin' : 'text'}:${e.binary ? e.data.toString('hex') : e.data.toString('utf8')}`;
      case 'ping':
      case 'pong':
        return `${e.t}:${e.data.toString('hex')}`;
      case 'close':
        return `close:${e.code}:${e.reason}`;
      case 'error':
        return `error:${e.err.closeCode}`;
    }
  });
}

/** Feeds `data` in every chunking and returns the summaries (they must all agree). */
export function runAll(data: Buffer, opts: Partial<ReceiverOptions> = {}, seed = 1): string[][] {
  return chunkings(data, seed).map((parts) => {
    const { r, events } = collect(opts);
    for (const p of parts) r.push(p);
    return summary(events);
  });
}
