// An event on its way out: serialised once, then encoded at most once per wire format, however many
// recipients it has. This is the fan-out fast path: a broadcast to 1,000 members costs one
// JSON.stringify and one frame per transport, and every socket is handed the same bytes.
import type { ServerEvent } from '../protocol/messages.js';

/** Turns the JSON text of an event into the bytes of one wire format (a TCP line, a WebSocket frame). */
export type Encoder<T> = (json: string) => T;

export class Outgoing {
  readonly json: string;
  // Most events meet one or two encoders; a tiny array beats a Map for that.
  private encoders: Encoder<unknown>[] = [];
  private encoded: unknown[] = [];

  constructor(event: ServerEvent) {
    this.json = JSON.stringify(event);
  }

  encode<T>(encoder: Encoder<T>): T {
    const i = this.encoders.indexOf(encoder);
    if (i >= 0) return this.encoded[i] as T;
    const bytes = encoder(this.json);
    this.encoders.push(encoder);
    this.encoded.push(bytes);
    return bytes;
  }
}
