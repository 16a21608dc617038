// Request mutation and an oracle for the whole-path fuzz (test/hostile/fuzz.test.ts).
//
// Requests are built as ordered key/value lists rather than JS objects: a JS object literal cannot hold
// a duplicate key, and `obj.__proto__ = x` sets a prototype instead of adding a key, while JSON text can
// carry both and the server must survive them. `Raw` is JSON text emitted verbatim (1e400, -0, deep nesting).
//
// The oracle predicts, from the bytes alone, what the protocol (docs/protocol.md) obliges the server to
// answer: it frames TCP lines exactly as section 1 says (LF ends a line, one CR before it is dropped,
// empty lines are ignored, a line over --max-message-bytes is too_large, then UTF-8, then JSON), and
// applies section 2's id rule: a request with a valid id gets exactly one reply carrying it as `re`;
// one whose JSON or id is broken gets an error without `re`.
import { deflateRawSync } from 'node:zlib';

export class Raw {
  constructor(readonly text: string) {}
}
export class Obj {
  constructor(public entries: [string, J][]) {}
  get(key: string): J | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]![0] === key) return this.entries[i]![1];
    return undefined;
  }
  set(key: string, value: J): void {
    const at = this.entries.findIndex((e) => e[0] === key);
    if (at >= 0) this.entries[at] = [key, value];
    else this.entries.push([key, value]);
  }
  delete(key: string): void {
    this.entries = this.entries.filter((e) => e[0] !== key);
  }
}
export type J = null | boolean | number | string | Raw | Obj | J[];

export function toJson(v: J): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj) return '{' + v.entries.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',') + '}';
  if (Array.isArray(v)) return '[' + v.map(toJson).join(',') + ']';
  return JSON.stringify(v);
}

export const REQUEST_TYPES = ['hello', 'join', 'leave', 'say', 'dm', 'who', 'rooms', 'history', 'time', 'ping', 'bye'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

/** Every field each request may carry (required and optional), the targets of field mutations. */
export const FIELDS: Record<RequestType, readonly string[]> = {
  hello: ['name', 'protocol', 'client'],
  join: ['room', 'history', 'since'],
  leave: ['room'],
  say: ['room', 'text', 'action'],
  dm: ['to', 'text', 'action'],
  who: ['room'],
  rooms: [],
  history: ['room', 'with', 'before', 'limit'],
  time: [],
  ping: [],
  bye: [],
};

export interface Ctx {
  r: () => number;
  /** A fresh user name for a hello. */
  freshName(): string;
  /** Rooms worth naming: shared fuzz rooms, so joins and says meet. */
  rooms: readonly string[];
  /** Names of users that exist (other fuzz workers, the session's own name). */
  users: readonly string[];
  nextId(): string | number;
}

export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/** A valid request of `type`, with an id. */
export function template(type: RequestType, c: Ctx): Obj {
  const r = c.r;
  const o = new Obj([['type', type]]);
  const room = pick(r, c.rooms);
  switch (type) {
    case 'hello':
      o.set('name', c.freshName());
      if (r() < 0.5) o.set('protocol', 1);
      if (r() < 0.5) o.set('client', 'fuzz/1');
      break;
    case 'join':
      o.set('room', room);
      if (r() < 0.3) o.set('history', int(r, 0, 20));
      else if (r() < 0.3) o.set('since', int(r, 0, 50));
      break;
    case 'leave':
      o.set('room', room);
      break;
    case 'say':
      o.set('room', room);
      o.set('text', pick(r, ['hi', 'multi\nline', 'émoji 😀', '/me waves', 'x'.repeat(int(r, 1, 300))]));
      if (r() < 0.2) o.set('action', true);
      break;
    case 'dm':
      o.set('to', pick(r, c.users));
      o.set('text', 'psst');
      if (r() < 0.2) o.set('action', r() < 0.5);
      break;
    case 'who':
      if (r() < 0.5) o.set('room', room);
      break;
    case 'history':
      if (r() < 0.7) o.set('room', room);
      else o.set('with', pick(r, c.users));
      if (r() < 0.4) o.set('before', int(r, 1, 100));
      if (r() < 0.4) o.set('limit', int(r, 1, 1000));
      break;
    default:
      break;
  }
  o.set('id', c.nextId());
  return o;
}

/** Values no field expects. Null comes first and is picked most: a null optional field killed the server once. */
function nasty(c: Ctx): J {
  const r = c.r;
  if (r() < 0.3) return null;
  const depth = int(r, 2, 3000);
  const all: (() => J)[] = [
    () => true,
    () => false,
    () => 0,
    () => -1,
    () => new Raw('-0'),
    () => 1.5,
    () => new Raw('1e400'),
    () => new Raw('-1e400'),
    () => 1e308,
    () => new Raw('9007199254740993'),
    () => 2 ** 31,
    () => -(2 ** 53),
    () => Number.MAX_SAFE_INTEGER,
    () => 'NaN',
    () => 'Infinity',
    () => '-1',
    () => '1e3',
    () => '',
    () => ' ',
    () => 'null',
    () => 'a\u0000b',
    () => '\ud800',
    () => '\udc00x',
    () => '😀',
    () => 'İ',
    () => '\u202egen',
    () => 'x'.repeat(33),
    () => 'x'.repeat(int(r, 60, 70)),
    () => 'x'.repeat(4100),
    () => pick(r, c.rooms),
    () => pick(r, c.users),
    () => pick(r, c.rooms).toUpperCase(),
    () => [],
    () => [1, 2],
    () => [pick(r, c.rooms)],
    () => new Obj([]),
    () => new Obj([['a', 1]]),
    () => new Raw('['.repeat(depth) + ']'.repeat(depth)),
    () => new Raw('{"a":'.repeat(Math.min(depth, 600)) + '1' + '}'.repeat(Math.min(depth, 600))),
    () => new Obj([['__proto__', new Obj([['room', pick(r, c.rooms)]])]]),
    () => new Obj([['constructor', new Obj([['prototype', new Obj([['polluted', true]])]])]]),
    () => new Obj([['toString', 1]]),
    () => pick(r, ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype']),
    () => pick(r, REQUEST_TYPES),
  ];
  return pick(r, all)();
}

const EXTRA_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'x', 'ID', 'Type', 're', 'fatal', '\u0000', 'é'];

export interface Mutated {
  /** The request's type before mutation, for statistics and for picking what to expect. */
  type: RequestType;
  /** What was done, for the failure report. */
  how: string[];
  text: string;
}

/** A request of a random type, possibly mutated, as JSON text (no line ending). */
export function mutatedRequest(c: Ctx): Mutated {
  const r = c.r;
  const type = pick(r, REQUEST_TYPES);
  const o = template(type, c);
  const how: string[] = [];
  // About one request in five goes out valid: valid ones build the state (joins, names) the rest probe.
  const n = r() < 0.2 ? 0 : int(r, 1, 3);
  let whole: J = o;
  for (let i = 0; i < n; i++) {
    const k = r();
    const fields = [...FIELDS[type], 'id', 'type'];
    if (k < 0.4) {
      const f = pick(r, fields);
      const v = nasty(c);
      o.set(f, v);
      how.push(`${f}=${toJson(v).slice(0, 40)}`);
    } else if (k < 0.55) {
      const f = pick(r, fields);
      o.delete(f);
      how.push(`-${f}`);
    } else if (k < 0.7) {
      const f = pick(r, EXTRA_KEYS);
      const v = r() < 0.5 ? nasty(c) : pick(r, c.rooms);
      o.entries.push([f, v]);
      how.push(`+${f}`);
    } else if (k < 0.8) {
      // A duplicate key: JSON.parse keeps the last one.
      const f = pick(r, fields);
      const v = nasty(c);
      o.entries.splice(int(r, 0, o.entries.length), 0, [f, v]);
      o.entries.push([f, o.get(f) ?? null]);
      how.push(`dup ${f}`);
    } else if (k < 0.9) {
      const t = r() < 0.5 ? pick(r, REQUEST_TYPES) : nasty(c);
      o.set('type', t);
      how.push(`type=${toJson(t).slice(0, 40)}`);
    } else if (k < 0.95) {
      o.entries.reverse();
      how.push('reordered');
    } else {
      whole = nasty(c);
      how.push(`whole=${toJson(whole).slice(0, 40)}`);
      break;
    }
  }
  return { type, how, text: toJson(whole) };
}

/** Mutations of the text and bytes of one request: what a broken client or a hostile one sends. */
export function mutateBytes(c: Ctx, text: string, maxBytes: number, tcp: boolean): { bytes: Buffer; how: string[] } {
  const r = c.r;
  const how: string[] = [];
  let s = text;
  if (r() < 0.3) {
    const k = r();
    if (k < 0.2) {
      s = s.slice(0, int(r, 0, s.length - 1));
      how.push('truncated');
    } else if (k < 0.35) {
      const at = int(r, 0, s.length);
      const ins = pick(r, ['\r', '\t', ' ', '\r\r', '\u000b', '\f', '\u00a0', '\u2028']);
      s = s.slice(0, at) + ins + s.slice(at);
      how.push(`insert ${JSON.stringify(ins)}`);
    } else if (k < 0.45 && tcp) {
      // Two lines out of one request.
      const at = int(r, 0, s.length);
      s = s.slice(0, at) + pick(r, ['\n', '\r\n', '\n\n']) + s.slice(at);
      how.push('LF inside');
    } else if (k < 0.55) {
      s = pick(r, ['\ufeff', ' ', '\r', '\t\t']) + s;
      how.push('prefix');
    } else if (k < 0.62) {
      s = s + pick(r, ['}', ']', ',', ' x', '{}', '\u0000']);
      how.push('garbage after');
    } else if (k < 0.75) {
      // Padded with JSON whitespace to just over the limit, or exactly to it (the boundary is accepted).
      const exact = r() < 0.5;
      const pad = maxBytes - Buffer.byteLength(s) + (exact ? 0 : r() < 0.5 ? int(r, 1, 3) : int(r, 1, 3 * maxBytes));
      if (pad > 0 && s.startsWith('{')) s = '{' + ' '.repeat(pad) + s.slice(1);
      how.push(exact ? 'padded to the limit' : 'padded over the limit');
    } else {
      s = s.replace(/"(\w+)"/, (_m, w: string) => `"${w}\\u00${int(r, 0, 31).toString(16).padStart(2, '0')}"`);
      how.push('escape in a key');
    }
  }
  let bytes = Buffer.from(s, 'utf8');
  // Over WebSocket invalid UTF-8 ends the session (1007), so it is rarer there: sessions must live long
  // enough to reach the broken frames they end with.
  if (r() < (tcp ? 0.08 : 0.02)) {
    const bad = pick(r, [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]);
    const at = int(r, 0, bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(bad), bytes.subarray(at)]);
    how.push(`invalid utf-8 ${Buffer.from(bad).toString('hex')}`);
  }
  if (r() < 0.02) {
    const at = int(r, 0, bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([0]), bytes.subarray(at)]);
    how.push('raw NUL');
  }
  return { bytes, how };
}

// ---------------------------------------------------------------------------------------------
// The oracle.

export type Expect =
  /** Nothing at all (an empty TCP line). */
  | { kind: 'none' }
  /** An error without `re`, of this code. */
  | { kind: 'error'; code: string }
  /** Exactly one event carrying `re: id`; `late` when it may come after later replies (say, dm: acked once stored). */
  | { kind: 'reply'; id: string | number; type: string; late: boolean }
  /** A valid request without an id: it may or may not have a direct reply. */
  | { kind: 'any'; type: string };

// ignoreBOM keeps a leading U+FEFF in the text, as Buffer#toString does on the server: a BOM is not
// JSON whitespace, so a line that starts with one is bad_json.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isRequestId(v: unknown): v is string | number {
  return (typeof v === 'string' && v.length <= 64) || Number.isSafeInteger(v);
}

/** What one complete JSON text (a TCP line, a WebSocket text message) must be answered with. */
export function expectForText(text: string): Expect {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { kind: 'error', code: 'bad_json' };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { kind: 'error', code: 'bad_request' };
  const o = v as Record<string, unknown>;
  const type = typeof o.type === 'string' ? o.type : '';
  // A null id is an absent one, like every optional field (docs/protocol.md, section 2).
  if (Object.prototype.hasOwnProperty.call(o, 'id') && o.id !== null) {
    if (!isRequestId(o.id)) return { kind: 'error', code: 'bad_request' };
    return { kind: 'reply', id: o.id, type, late: type === 'say' || type === 'dm' };
  }
  return { kind: 'any', type };
}

/** Splits TCP bytes into lines the way section 1 of the protocol does, and predicts each line's answer. */
export function expectForTcp(bytes: Buffer, maxBytes: number): Expect[] {
  const out: Expect[] = [];
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, start);
    if (nl < 0) break;
    let line = bytes.subarray(start, nl);
    start = nl + 1;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    if (line.length === 0) out.push({ kind: 'none' });
    else if (line.length > maxBytes) out.push({ kind: 'error', code: 'too_large' });
    else {
      let text: string;
      try {
        text = utf8.decode(line);
      } catch {
        out.push({ kind: 'error', code: 'bad_utf8' });
        continue;
      }
      out.push(expectForText(text));
    }
  }
  if (start !== bytes.length) throw new Error('expectForTcp: bytes must end with a line ending');
  return out;
}

/**
 * What one WebSocket text message must produce: a close code when the frame layer must refuse it
 * (1009 over the limit, 1007 not UTF-8), else what its JSON text must be answered with.
 */
export function expectForWsText(payload: Buffer, maxBytes: number): Expect | { kind: 'close'; code: number } {
  if (payload.length > maxBytes) return { kind: 'close', code: 1009 };
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return { kind: 'close', code: 1007 };
  }
  return expectForText(text);
}

/** permessage-deflate without context takeover: raw deflate, sync-flushed, the 4-byte tail dropped (RFC 7692 7.2.1). */
export function deflateMessage(data: Buffer): Buffer {
  const out = deflateRawSync(data, { finishFlush: 2 /* Z_SYNC_FLUSH */ });
  return out.subarray(0, out.length - 4);
}
