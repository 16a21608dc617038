// The JSON codec: decoding hands a session values or verdicts, never text; encoding serialises an
// event once however many encoders and sockets meet it, and a socket of each kind gets the same bytes.
import { constants, inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../protocol/messages.js';
import { decode, jsonLine, jsonText, receiveText, wsDeflateFrame, wsTextFrame } from '../../server/codec/json.js';
import { Outgoing } from '../../server/outgoing.js';
import type { Session } from '../../server/peer.js';
import { DEFLATE_THRESHOLD } from '../../server/ws/deflate.js';
import { parseFrames } from '../helpers/ws-client.js';

function recordingSession(): Session & { got: unknown[] } {
  const got: unknown[] = [];
  return {
    got,
    receive: (req: Request) => got.push(req),
    reject: (code, message, re, fatal) => got.push({ code, message, re, fatal }),
    drained: () => got.push('drained'),
    disconnected: () => got.push('disconnected'),
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('decode', () => {
  it('turns JSON text into a validated request, or the error with re when the id was valid', () => {
    expect(decode('{"type":"say","room":"r","text":"hi","id":3,"extra":1}')).toEqual({
      ok: true,
      request: { type: 'say', room: 'r', text: 'hi', id: 3 },
    });
    expect(decode('{"type":')).toMatchObject({ ok: false, code: 'bad_json' });
    expect(decode('{"type":"nope","id":"x"}')).toMatchObject({ ok: false, code: 'unknown_type', re: 'x' });
  });

  it('receiveText hands the session a Request value or a rejection, never text', () => {
    const s = recordingSession();
    receiveText(s, '{"type":"pong"}');
    receiveText(s, '{"type":"join","id":7}');
    receiveText(s, 'not json');
    expect(s.got).toEqual([
      { type: 'pong' },
      { code: 'bad_request', message: 'join needs the field "room"', re: 7, fatal: undefined },
      { code: 'bad_json', message: 'not valid JSON', re: undefined, fatal: undefined },
    ]);
  });
});

describe('encoders', () => {
  const small = { type: 'message', room: 'r', from: 'amy', text: 'hi ✓', seq: 1, ts: '2026-12-07T00:00:00.000Z' } as const;
  const big = { ...small, text: 'compress me '.repeat(200) };

  it('serialise an event once for every encoder and every socket; each kind of socket gets the same Buffer', () => {
    const stringify = vi.spyOn(JSON, 'stringify');
    const out = new Outgoing(big);
    const bytesPerSocket = [jsonLine, jsonLine, wsTextFrame, wsTextFrame, wsDeflateFrame(15), wsDeflateFrame(15), wsDeflateFrame(10)].map((e) => out.encode(e));
    expect(stringify).toHaveBeenCalledTimes(1);
    expect(bytesPerSocket[0]).toBe(bytesPerSocket[1]);
    expect(bytesPerSocket[2]).toBe(bytesPerSocket[3]);
    expect(bytesPerSocket[4]).toBe(bytesPerSocket[5]);
    expect(wsDeflateFrame(15)).toBe(wsDeflateFrame(15));
    expect(wsDeflateFrame(10)).not.toBe(wsDeflateFrame(15));
  });

  it('TCP: the JSON text and one LF', () => {
    const out = new Outgoing(small);
    expect(out.encode(jsonLine).toString('utf8')).toBe(JSON.stringify(small) + '\n');
    expect(out.encode(jsonText)).toBe(JSON.stringify(small));
  });

  it('WebSocket: one final text frame carrying the JSON text (7-, 16- and 64-bit lengths)', () => {
    for (const text of ['hi ✓', 'x'.repeat(300), 'y'.repeat(70_000)]) {
      const event = { ...small, text };
      const { frames, rest } = parseFrames(new Outgoing(event).encode(wsTextFrame));
      expect(rest.length).toBe(0);
      expect(frames).toHaveLength(1);
      expect(frames[0]).toMatchObject({ fin: true, rsv1: false, opcode: 1 });
      expect(frames[0]!.payload.toString('utf8')).toBe(JSON.stringify(event));
    }
  });

  it('deflate: a large event is one compressed frame; a small one is the very frame uncompressed sockets get', () => {
    const large = new Outgoing(big);
    const { frames } = parseFrames(large.encode(wsDeflateFrame(15)));
    expect(frames[0]).toMatchObject({ fin: true, rsv1: true, opcode: 1 });
    expect(JSON.stringify(big).length).toBeGreaterThan(DEFLATE_THRESHOLD);
    const inflated = inflateRawSync(Buffer.concat([frames[0]!.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.toString('utf8')).toBe(JSON.stringify(big));
    expect(frames[0]!.payload.length).toBeLessThan(inflated.length / 5);
    const tiny = new Outgoing(small);
    expect(tiny.encode(wsDeflateFrame(15))).toBe(tiny.encode(wsTextFrame));
  });
});
