// An event on its way out: a typed value, encoded at most once per wire format however many
// recipients it has, and only when some recipient needs that format. This is the fan-out fast path: a
// broadcast to 1,000 members costs one JSON serialisation and one frame per transport (one deflate per
// window size), and every socket is handed the same bytes. The hub builds these; only codecs at the
// edge turn them into bytes.
import type { ServerEvent } from '../protocol/messages.js';

/** Turns an event into the bytes (or text) of one wire format. Identity is the cache key: share one. */
export type Encoder<T> = (out: Outgoing) => T;

export class Outgoing<E extends ServerEvent = ServerEvent> {
  // Most events meet one or two encoders; two tiny arrays beat a Map, and a reply meant for one
  // socket allocates neither until it is encoded.
  private encoders: Encoder<unknown>[] | undefined;
  private encoded: unknown[] | undefined;

  constructor(readonly event: E) {}

  encode<T>(encoder: Encoder<T>): T {
    const encoders = (this.encoders ??= []);
    const i = encoders.indexOf(encoder);
    if (i >= 0) return this.encoded![i] as T;
    const bytes = encoder(this);
    encoders.push(encoder);
    (this.encoded ??= []).push(bytes);
    return bytes;
  }
}
