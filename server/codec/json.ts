// The JSON codec: how Parley values cross the edge. Decoding turns one JSON text (a TCP line, a
// WebSocket text message) into a validated Request or the reason it is not one; a transport hands the
// session the value, never the text. Encoding turns an Outgoing into the bytes each transport writes.
//
// The encoders are built on one another and the Outgoing caches each result, so a broadcast to any
// number of sockets costs one JSON serialisation, one TCP line, one WebSocket text frame and one
// deflate per window size in use, each made only if some recipient needs it, and every socket of a
// kind is handed the same bytes.
import { parseRequest, type Parsed } from '../../protocol/validate.js';
import type { Encoder, Outgoing } from '../outgoing.js';
import type { Session } from '../peer.js';
import { DEFLATE_THRESHOLD, deflateMessage } from '../ws/deflate.js';
import { encodeFrame, encodeTextFrame, Opcode } from '../ws/sender.js';

const LF = 0x0a;

/** One JSON text that is a request: a validated value, or the error to answer it with. */
export function decode(text: string): Parsed {
  return parseRequest(text);
}

/** Decodes `text` and hands the session the request, or the rejection (with `re` when the id was valid). */
export function receiveText(session: Session, text: string): void {
  const parsed = decode(text);
  if (parsed.ok) session.receive(parsed.request);
  else session.reject(parsed.code, parsed.message, parsed.re);
}

/** The event as JSON text; every other encoder starts from this one, so it runs once per event. */
export const jsonText: Encoder<string> = (out) => JSON.stringify(out.event);

/** TCP: the JSON text and its LF in one buffer. JSON.stringify never writes a raw newline. */
export const jsonLine: Encoder<Buffer> = (out) => {
  const text = out.encode(jsonText);
  const len = Buffer.byteLength(text, 'utf8');
  const line = Buffer.allocUnsafe(len + 1);
  line.write(text, 0, 'utf8');
  line[len] = LF;
  return line;
};

/** WebSocket, uncompressed: one text frame. */
export const wsTextFrame: Encoder<Buffer> = (out) => encodeTextFrame(out.encode(jsonText));

/** One compressing encoder per server window size (9..15): identity is the cache key. */
const deflateEncoders: (Encoder<Buffer> | undefined)[] = [];

/**
 * WebSocket with permessage-deflate at `windowBits`: a compressed text frame, or, for a message below
 * DEFLATE_THRESHOLD, the very bytes wsTextFrame made, shared with the uncompressed connections.
 */
export function wsDeflateFrame(windowBits: number): Encoder<Buffer> {
  let enc = deflateEncoders[windowBits];
  if (!enc) {
    enc = (out: Outgoing): Buffer => {
      const text = out.encode(jsonText);
      if (Buffer.byteLength(text, 'utf8') < DEFLATE_THRESHOLD) return out.encode(wsTextFrame);
      return encodeFrame(Opcode.TEXT, deflateMessage(Buffer.from(text, 'utf8'), windowBits), true);
    };
    deflateEncoders[windowBits] = enc;
  }
  return enc;
}
