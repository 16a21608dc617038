// The payloads of log records: one JSON object each (log-format.ts frames them), in two generations.
//
// v2, written now. A message record starts with a fixed head, in this key order, so that the loader
// can index it by reading a few bytes instead of parsing the whole record (see readHead):
//   M {c, s, ts, o?, r?, to?, f, x, a?, g?, m?}  message seq s of conversation c; o = user key whose
//                                         offline inbox it joins; r/to = room/recipient display
//                                         spelling; a = an action; g = said by a guest;
//                                         m = the names it mentions
//   H {...same}                           compaction copy of a still-retained message
//   I {u, c, s, p}                        compaction copy of an undelivered inbox entry (p = its place)
// v1, still read (data dirs written before the store kept history on disk):
//   m {c, m, o?}  h {c, m}  i {u, c, m, p}  (m is the whole ChatMessage)
// Both: u {n, s} a known user and when last seen; d {u, k} inbox keys `conv#seq` delivered;
// x {} compaction barrier.
import type { ChatMessage } from '../../protocol/messages.js';
import type { ConvKey, MessageRef } from './store.js';

export type LogRecord =
  | { t: 'M' | 'H'; conv: ConvKey; msg: ChatMessage; inbox: string | undefined }
  | { t: 'u'; name: string; lastSeen: string }
  | { t: 'd'; user: string; refs: MessageRef[] }
  | { t: 'I'; user: string; conv: ConvKey; seq: number; order: number }
  | { t: 'x' };

/** A message's place in the log without its body: what the index needs. */
export interface MessageHead {
  t: 'M' | 'H';
  conv: ConvKey;
  seq: number;
  ts: string;
  inbox: string | undefined;
  room: string | undefined;
}

const q = JSON.stringify;


export function encodeMessage(t: 'M' | 'H', conv: ConvKey, m: ChatMessage, inbox: string | undefined): string {
  return (
    `{"t":"${t}","c":${q(conv)},"s":${m.seq},"ts":${q(m.ts)}` +
    (inbox === undefined ? '' : `,"o":${q(inbox)}`) +
    (m.room === undefined ? '' : `,"r":${q(m.room)}`) +
    (m.to === undefined ? '' : `,"to":${q(m.to)}`) +
    `,"f":${q(m.from)},"x":${q(m.text)}${m.action ? ',"a":1' : ''}${m.guest ? ',"g":1' : ''}` +
    (m.mentions && m.mentions.length > 0 ? `,"m":${q(m.mentions)}}` : '}')
  );
}

export function encodeUser(name: string, lastSeen: string): string {
  return `{"t":"u","n":${q(name)},"s":${q(lastSeen)}}`;
}

export function refKey(ref: MessageRef): string {
  return `${ref.conv}#${ref.seq}`;
}

export function encodeDelivered(user: string, refs: readonly MessageRef[]): string {
  return q({ t: 'd', u: user, k: refs.map(refKey) });
}

export function encodeInboxCopy(user: string, conv: ConvKey, seq: number, order: number): string {
  return `{"t":"I","u":${q(user)},"c":${q(conv)},"s":${seq},"p":${order}}`;
}

export const BARRIER = '{"t":"x"}';

/** Builds a ChatMessage with its keys in the protocol's order, whatever order the source had. */
export function chatMessage(
  room: string | undefined,
  to: string | undefined,
  from: string,
  text: string,
  seq: number,
  ts: string,
  action: boolean,
  guest: boolean,
  mentions?: readonly string[],
): ChatMessage {
  const m: ChatMessage = room !== undefined ? { type: 'message', room, from, text, seq, ts } : { type: 'message', to, from, text, seq, ts };
  if (action) m.action = true;
  if (guest) m.guest = true;
  if (mentions && mentions.length > 0) m.mentions = [...mentions];
  return m;
}

function str(v: unknown): v is string {
  return typeof v === 'string';
}

function optStr(v: unknown): v is string | undefined {
  return v === undefined || typeof v === 'string';
}

function seqOk(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0xffffffff;
}

/** A v1 embedded ChatMessage, checked field by field and rebuilt in canonical order. */
function v1Message(v: unknown): ChatMessage | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Record<string, unknown>;
  if (!seqOk(m.seq) || !str(m.from) || !str(m.text) || !str(m.ts) || !optStr(m.room) || !optStr(m.to)) return undefined;
  if (m.room === undefined && m.to === undefined) return undefined;
  return chatMessage(m.room, m.room === undefined ? m.to : undefined, m.from, m.text, m.seq, m.ts, m.action === true, m.guest === true);
}

function parseRef(key: unknown): MessageRef | undefined {
  if (!str(key)) return undefined;
  const hash = key.lastIndexOf('#');
  const seq = Number(key.slice(hash + 1));
  return hash > 0 && seqOk(seq) ? { conv: key.slice(0, hash), seq } : undefined;
}

/** Decodes and validates a payload of either generation; anything malformed is undefined (damage). */
export function decodeRecord(payload: string): LogRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  switch (r.t) {
    case 'M':
    case 'H': {
      if (!str(r.c) || !seqOk(r.s) || !str(r.ts) || !optStr(r.o) || !optStr(r.r) || !optStr(r.to) || !str(r.f) || !str(r.x)) return undefined;
      if (r.r === undefined && r.to === undefined) return undefined;
      const mentions = Array.isArray(r.m) && r.m.every(str) ? (r.m as string[]) : undefined;
      const msg = chatMessage(r.r, r.r === undefined ? r.to : undefined, r.f, r.x, r.s, r.ts, r.a === 1, r.g === 1, mentions);
      return { t: r.t, conv: r.c, msg, inbox: r.o };
    }
    case 'm':
    case 'h': {
      const msg = v1Message(r.m);
      if (!str(r.c) || !msg || !optStr(r.o)) return undefined;
      return { t: r.t === 'm' ? 'M' : 'H', conv: r.c, msg, inbox: r.t === 'm' ? r.o : undefined };
    }
    case 'u':
      return str(r.n) && str(r.s) ? { t: 'u', name: r.n, lastSeen: r.s } : undefined;
    case 'd': {
      if (!str(r.u) || !Array.isArray(r.k)) return undefined;
      const refs: MessageRef[] = [];
      for (const k of r.k) {
        const ref = parseRef(k);
        if (!ref) return undefined;
        refs.push(ref);
      }
      return { t: 'd', user: r.u, refs };
    }
    case 'I':
      return str(r.u) && str(r.c) && seqOk(r.s) && typeof r.p === 'number' ? { t: 'I', user: r.u, conv: r.c, seq: r.s, order: r.p } : undefined;
    case 'i': {
      const msg = v1Message(r.m);
      return str(r.u) && str(r.c) && msg && typeof r.p === 'number' ? { t: 'I', user: r.u, conv: r.c, seq: msg.seq, order: r.p } : undefined;
    }
    case 'x':
      return { t: 'x' };
    default:
      return undefined;
  }
}

// ---- the fast head reader ----

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Cursor over one payload; every read checks the payload's end before looking at a byte. */
class Cursor {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  literal(s: string): boolean {
    if (this.pos + s.length > this.end) return false;
    for (let i = 0; i < s.length; i++) if (this.buf[this.pos + i] !== s.charCodeAt(i)) return false;
    this.pos += s.length;
    return true;
  }

  /** A JSON string body up to its closing quote, only if it needs no unescaping (else undefined). */
  plainString(): string | undefined {
    const start = this.pos;
    for (let i = start; i < this.end; i++) {
      const b = this.buf[i]!;
      if (b === QUOTE) {
        this.pos = i + 1;
        return this.buf.toString('utf8', start, i);
      }
      if (b === BACKSLASH || b < 0x20) return undefined;
    }
    return undefined;
  }

  digits(): number | undefined {
    let n = 0;
    const start = this.pos;
    while (this.pos < this.end && this.pos - start < 11) {
      const b = this.buf[this.pos]!;
      if (b < 0x30 || b > 0x39) break;
      n = n * 10 + (b - 0x30);
      this.pos++;
    }
    return this.pos > start ? n : undefined;
  }
}

/**
 * Reads conversation, seq, ts, inbox user and room spelling from the head of a v2 message record
 * without parsing the rest. Undefined when the payload is not a v2 message or its head uses escapes;
 * the caller then parses the whole record, so this is only ever a shortcut.
 */
export function readHead(buf: Buffer, start: number, end: number): MessageHead | undefined {
  const c = new Cursor(buf, start, end);
  if (!c.literal('{"t":"')) return undefined;
  const t = buf[c.pos] === 0x4d ? 'M' : buf[c.pos] === 0x48 ? 'H' : undefined;
  if (t === undefined) return undefined;
  c.pos++;
  if (!c.literal('","c":"')) return undefined;
  const conv = c.plainString();
  if (conv === undefined || !c.literal(',"s":')) return undefined;
  const seq = c.digits();
  if (seq === undefined || seq < 1 || seq > 0xffffffff || !c.literal(',"ts":"')) return undefined;
  const ts = c.plainString();
  if (ts === undefined) return undefined;
  let inbox: string | undefined;
  let room: string | undefined;
  if (c.literal(',"o":"')) {
    inbox = c.plainString();
    if (inbox === undefined) return undefined;
  }
  if (c.literal(',"r":"')) {
    room = c.plainString();
    if (room === undefined) return undefined;
  } else if (!c.literal(',"to":')) return undefined;
  return { t, conv, seq, ts, inbox, room };
}
