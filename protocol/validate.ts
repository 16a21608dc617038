// Validation of requests in one place, driven by a declarative table: each request type lists its
// fields and the rule each must satisfy. Both transports and both clients use the same rules.
import type { ErrorCode } from './errors.js';
import { searchTerms } from './search-terms.js';
import { LIMITS, NAME_PATTERN, type Request, type RequestId, type RequestType, type ServerEvent } from './messages.js';

export type Invalid = { ok: false; code: ErrorCode; message: string; re?: RequestId };
export type Parsed = { ok: true; request: Request } | Invalid;

/** A field rule returns undefined when the value is acceptable, or the error to send. */
type Rule = (value: unknown, field: string) => { code: ErrorCode; message: string } | undefined;

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const isName = (v: unknown): v is string => typeof v === 'string' && NAME_PATTERN.test(v);

const userName: Rule = (v, f) =>
  isName(v) ? undefined : { code: 'bad_name', message: `${f} must be 1-32 letters, digits, _ - or .` };
const roomName: Rule = (v, f) =>
  isName(v) ? undefined : { code: 'bad_room', message: `${f} must be 1-32 letters, digits, _ - or .` };
const text: Rule = (v, f) => {
  if (typeof v !== 'string') return { code: 'bad_text', message: `${f} must be a string` };
  if (v.length === 0) return { code: 'bad_text', message: `${f} must not be empty` };
  if (v.includes('\0')) return { code: 'bad_text', message: `${f} must not contain NUL` };
  // A lone surrogate is not a character: it cannot be encoded as UTF-8 and would reach others as U+FFFD.
  if (LONE_SURROGATE.test(v)) return { code: 'bad_text', message: `${f} contains a lone surrogate (not valid Unicode)` };
  // Fast path: UTF-16 length bounds the code point count from above.
  if (v.length > LIMITS.textMaxChars && codePoints(v) > LIMITS.textMaxChars) {
    return { code: 'bad_text', message: `${f} is longer than ${LIMITS.textMaxChars} characters` };
  }
  return undefined;
};
/** One line of text that may be empty (a topic or away message cleared): no NUL, no line breaks. */
const line =
  (max: number): Rule =>
  (v, f) => {
    if (typeof v !== 'string') return { code: 'bad_text', message: `${f} must be a string` };
    if (/[\0\r\n]/.test(v)) return { code: 'bad_text', message: `${f} must be one line without NUL` };
    if (LONE_SURROGATE.test(v)) return { code: 'bad_text', message: `${f} contains a lone surrogate (not valid Unicode)` };
    if (v.length > max && codePoints(v) > max) return { code: 'bad_text', message: `${f} is longer than ${max} characters` };
    return undefined;
  };
const intIn =
  (min: number, max: number): Rule =>
  (v, f) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : { code: 'bad_request', message: `${f} must be an integer from ${min} to ${max}` };
const shortString =
  (max: number): Rule =>
  (v, f) =>
    typeof v === 'string' && v.length <= max ? undefined : { code: 'bad_request', message: `${f} must be a string of at most ${max} characters` };
const messageId: Rule = (v, f) =>
  typeof v === 'string' && v.length >= 1 && v.length <= LIMITS.midMaxLength && !v.includes('\0')
    ? undefined
    : { code: 'bad_request', message: `${f} must be a string of 1-${LIMITS.midMaxLength} characters` };
/** A reaction: a short string without spaces or control characters (an emoji, a grapheme or so). */
const emoji: Rule = (v, f) =>
  typeof v === 'string' && v.length >= 1 && v.length <= LIMITS.emojiMaxLength && !/[\s\p{Cc}]/u.test(v) && !LONE_SURROGATE.test(v)
    ? undefined
    : { code: 'bad_request', message: `${f} must be 1-${LIMITS.emojiMaxLength} characters without spaces` };
/** A time as the server writes them (ISO 8601 UTC, `2026-11-25T10:00:00.000Z`; the milliseconds may be left out). */
const timestamp: Rule = (v, f) =>
  typeof v === 'string' && TIMESTAMP.test(v) && Number.isFinite(Date.parse(v))
    ? undefined
    : { code: 'bad_request', message: `${f} must be a UTC time like 2026-11-25T10:00:00.000Z` };
/** A search query: 1-200 characters holding 1-10 words (search-terms.ts) to look for. */
const searchQuery: Rule = (v, f) => {
  // Length first: the query is tokenised only once it is known to be short.
  if (typeof v !== 'string' || v.length > LIMITS.searchQueryMaxChars) {
    return { code: 'bad_request', message: `${f} must be a string of at most ${LIMITS.searchQueryMaxChars} characters` };
  }
  if (LONE_SURROGATE.test(v)) return { code: 'bad_request', message: `${f} contains a lone surrogate (not valid Unicode)` };
  const words = searchTerms(v).length;
  if (words === 0) return { code: 'bad_request', message: `${f} has no words to search for (letters or digits)` };
  if (words > LIMITS.searchMaxTerms) return { code: 'bad_request', message: `${f} has more than ${LIMITS.searchMaxTerms} different words` };
  return undefined;
};
const bool: Rule = (v, f) => (typeof v === 'boolean' ? undefined : { code: 'bad_request', message: `${f} must be true or false` });

interface FieldSpec {
  rule: Rule;
  required: boolean;
}
const req = (rule: Rule): FieldSpec => ({ rule, required: true });
const opt = (rule: Rule): FieldSpec => ({ rule, required: false });

const SEQ_MAX = Number.MAX_SAFE_INTEGER;

/** The request table: every request type and its fields. Unknown fields are ignored. */
const REQUESTS: Record<RequestType, Record<string, FieldSpec>> = {
  hello: {
    name: req(userName),
    protocol: opt(intIn(0, 1_000_000)),
    client: opt(shortString(LIMITS.clientMaxLength)),
    password: opt(shortString(LIMITS.secretMaxLength)),
    token: opt(shortString(LIMITS.secretMaxLength)),
  },
  register: { password: req(shortString(LIMITS.secretMaxLength)) },
  password: { old: req(shortString(LIMITS.secretMaxLength)), new: req(shortString(LIMITS.secretMaxLength)) },
  logout: { all: opt(bool) },
  topic: { room: req(roomName), text: opt(line(LIMITS.topicMaxChars)) },
  away: { text: opt(line(LIMITS.awayMaxChars)) },
  whois: { name: req(userName) },
  join: { room: req(roomName), history: opt(intIn(0, LIMITS.maxHistory)), since: opt(intIn(0, SEQ_MAX)) },
  leave: { room: req(roomName) },
  say: { room: req(roomName), text: req(text), action: opt(bool), mid: opt(messageId) },
  dm: { to: req(userName), text: req(text), action: opt(bool), mid: opt(messageId) },
  who: { room: opt(roomName), after: opt(userName), limit: opt(intIn(1, LIMITS.maxWhoPage)) },
  rooms: {},
  typing: { room: opt(roomName), to: opt(userName) },
  read: { room: opt(roomName), with: opt(userName), seq: req(intIn(1, SEQ_MAX)) },
  reads: {},
  edit: { room: opt(roomName), to: opt(userName), seq: req(intIn(1, SEQ_MAX)), text: req(text) },
  delete: { room: opt(roomName), to: opt(userName), seq: req(intIn(1, SEQ_MAX)) },
  react: { room: opt(roomName), to: opt(userName), seq: req(intIn(1, SEQ_MAX)), emoji: req(emoji) },
  unreact: { room: opt(roomName), to: opt(userName), seq: req(intIn(1, SEQ_MAX)), emoji: req(emoji) },
  history: {
    room: opt(roomName),
    with: opt(userName),
    before: opt(intIn(1, SEQ_MAX)),
    after: opt(intIn(0, SEQ_MAX)),
    beforeTs: opt(timestamp),
    afterTs: opt(timestamp),
    limit: opt(intIn(1, LIMITS.maxHistory)),
  },
  search: {
    query: req(searchQuery),
    room: opt(roomName),
    with: opt(userName),
    before: opt(intIn(1, SEQ_MAX)),
    limit: opt(intIn(1, LIMITS.maxSearchPage)),
  },
  time: {},
  ping: {},
  pong: {},
  bye: {},
};

/** Requests that name what they are about in one of two fields: exactly one must be present. */
const EXACTLY_ONE: Partial<Record<RequestType, readonly [string, string]>> = {
  history: ['room', 'with'],
  typing: ['room', 'to'],
  read: ['room', 'with'],
  edit: ['room', 'to'],
  delete: ['room', 'to'],
  react: ['room', 'to'],
  unreact: ['room', 'to'],
};

/** Requests that may name at most one of two fields. */
const AT_MOST_ONE: Partial<Record<RequestType, readonly [string, string]>> = {
  hello: ['password', 'token'],
  search: ['room', 'with'],
};

export const REQUEST_TYPES = Object.keys(REQUESTS) as RequestType[];

function isRequestId(v: unknown): v is RequestId {
  return (typeof v === 'string' && v.length <= LIMITS.idMaxLength) || Number.isSafeInteger(v);
}

/**
 * Validates a decoded JSON value as a request. Errors carry `re` whenever the id itself was valid.
 * The request returned is built here from the checked fields only: a handler never sees the raw object,
 * so a field that is null, inherited or not in the table cannot reach it (a `null` optional field is
 * absent, exactly as if it had not been sent).
 */
export function validateRequest(value: unknown): Parsed {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, code: 'bad_request', message: 'a request must be a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const own = (field: string): unknown => (Object.hasOwn(obj, field) ? obj[field] : undefined);
  let re: RequestId | undefined;
  const id = own('id');
  if (id !== undefined && id !== null) {
    if (!isRequestId(id)) {
      return { ok: false, code: 'bad_request', message: `id must be a string of at most ${LIMITS.idMaxLength} characters or an integer` };
    }
    re = id;
  }
  const fail = (code: ErrorCode, message: string): Invalid => (re === undefined ? { ok: false, code, message } : { ok: false, code, message, re });
  const type = own('type');
  if (typeof type !== 'string') return fail('bad_request', 'a request needs a string field "type"');
  if (!Object.hasOwn(REQUESTS, type)) return fail('unknown_type', `unknown request type "${type.slice(0, 40)}"`);
  const fields = REQUESTS[type as RequestType];
  const built: Record<string, unknown> = { type };
  if (re !== undefined) built.id = re;
  for (const field in fields) {
    const spec = fields[field]!;
    const v = own(field);
    if (v === undefined || v === null) {
      if (spec.required) return fail(field === 'text' ? 'bad_text' : 'bad_request', `${type} needs the field "${field}"`);
      continue;
    }
    const problem = spec.rule(v, field);
    if (problem) return fail(problem.code, problem.message);
    built[field] = v;
  }
  const pair = EXACTLY_ONE[type as RequestType];
  if (pair && pair.filter((f) => built[f] !== undefined).length !== 1) {
    return fail('bad_request', `${type} needs exactly one of "${pair[0]}" or "${pair[1]}"`);
  }
  const either = AT_MOST_ONE[type as RequestType];
  if (either && built[either[0]] !== undefined && built[either[1]] !== undefined) {
    return fail('bad_request', `${type} takes "${either[0]}" or "${either[1]}", not both`);
  }
  // The table above and the Request union describe the same shapes; `built` holds only checked fields.
  return { ok: true, request: built as unknown as Request };
}

/** Parses one JSON text (a TCP line or a WebSocket text message) into a request. */
export function parseRequest(json: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, code: 'bad_json', message: 'not valid JSON' };
  }
  return validateRequest(value);
}

/** Client side: parses what a server sent; null when it is not an object with a string type. */
export function parseEvent(json: string): ServerEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  return typeof (value as { type?: unknown }).type === 'string' ? (value as ServerEvent) : null;
}

export { isValidName, nameKey } from './names.js';

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
