// CHATHISTORY (https://ircv3.net/specs/extensions/chathistory, draft/chathistory) over Parley's
// `history` request. A msgid names a seq (msgid.ts); a timestamp is sent to the hub as a time bound
// (beforeTs/afterTs), which it turns into a seq by bisection, since times grow with seqs. Each
// subcommand is one or two history requests plus a filter:
//
//   LATEST *        newest n                      LATEST ref   newest n, kept if after ref
//   BEFORE ref      newest n before ref           AFTER ref    oldest n after ref
//   AROUND ref      ⌈n/2⌉ up to and including ref, then ⌊n/2⌋ after it (for a time: ⌊n/2⌋ before, the rest at or after)
//   BETWEEN a b     a < b: oldest n in (a, b)     a > b: newest n before a, kept if after b
//                   (a msgid and a time: the first if it finds anything, else the second)
//
// The answer is one `chathistory` batch of PRIVMSGs with their original time and msgid, oldest first;
// an empty batch when there is nothing, or when the target is not one the client may read (a channel it
// is not in, a stranger). TARGETS is answered from the conversations this connection has seen (joins
// and messages): Parley has no request that lists one's direct conversations.
import type { ChatMessage, Request } from '../../protocol/messages.js';
import type { IrcConnection } from './connection.js';
import { CHATHISTORY_MAX } from './isupport.js';
import { formatFitted, formatLine, type IrcMessage } from './message.js';
import { parseMsgid } from './msgid.js';
import { isChannel, isValidNick, ircKey, roomOf } from './names.js';
import type { Reply } from './reply.js';

type Ref = { kind: 'msgid'; seq: number } | { kind: 'time'; ts: string; ms: number };

interface Bounds {
  before?: number;
  after?: number;
  beforeTs?: string;
  afterTs?: string;
}

interface Query extends Bounds {
  limit: number;
}

type Keep = (m: ChatMessage) => boolean;

interface Part {
  query: Query;
  /** Which of its messages belong to the answer. */
  keep: Keep;
}

interface Plan {
  /** Asked in this order; their messages are joined in order (each list is oldest first). */
  parts: Part[];
  /** BETWEEN a msgid and a time: the first part's messages when it found any, else the second's. */
  firstNonEmpty: boolean;
}

const SUBCOMMANDS = new Set(['LATEST', 'BEFORE', 'AFTER', 'AROUND', 'BETWEEN']);
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;
const ALL: Keep = () => true;

export function chathistory(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const sub = m.params[0]!.toUpperCase();
  const fail = (code: string, context: readonly string[], text: string): void => r.line(formatFitted(c.serverName, 'FAIL', ['CHATHISTORY', code, ...context], text));
  if (sub === 'TARGETS') return targets(c, m, r, fail);
  if (!SUBCOMMANDS.has(sub)) return fail('UNKNOWN_COMMAND', [sub], 'Unknown command');
  const needed = sub === 'BETWEEN' ? 5 : 4;
  if (m.params.length < needed) return fail('NEED_MORE_PARAMS', [sub], 'Missing parameters');
  const target = m.params[1]!;
  let about: { room: string } | { with: string };
  if (isChannel(target)) {
    const room = roomOf(target);
    if (room === undefined) return fail('INVALID_TARGET', [sub, target], 'No such channel');
    about = { room };
  } else if (isValidNick(target)) {
    about = { with: target };
  } else {
    return fail('INVALID_TARGET', [sub, target], 'No such nick or channel');
  }
  const limit = parseLimit(m.params[needed - 1]!);
  if (limit === undefined) return fail('INVALID_PARAMS', [sub], 'The limit must be a whole number');
  const refs: Ref[] = [];
  for (let i = 2; i < needed - 1; i++) {
    const text = m.params[i]!;
    if (sub === 'LATEST' && text === '*') continue;
    const ref = parseRef(text, about, c.key ?? '');
    if (typeof ref === 'string') return fail('INVALID_PARAMS', [sub, text], ref);
    refs.push(ref);
  }
  run(c, r, about, target, planFor(sub, refs, limit));
}

function parseLimit(text: string): number | undefined {
  if (!/^\d{1,9}$/.test(text)) return undefined;
  const n = Number(text);
  // 0 asks for as many as the server gives.
  return n === 0 || n > CHATHISTORY_MAX ? CHATHISTORY_MAX : n;
}

/** `msgid=…` or `timestamp=…`; a message of why not otherwise. */
function parseRef(text: string, about: { room: string } | { with: string }, me: string): Ref | string {
  const eq = text.indexOf('=');
  const kind = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (eq > 0 && kind === 'timestamp') return parseTime(value) ?? 'Timestamps look like 2026-11-25T10:00:00.000Z';
  if (eq > 0 && kind === 'msgid') {
    const ref = parseMsgid(value);
    const ours =
      ref !== undefined &&
      ('room' in about ? 'room' in ref && ref.room === ircKey(about.room) : 'users' in ref && sameUsers(ref.users, me, ircKey(about.with)));
    return ours ? { kind: 'msgid', seq: ref.seq } : 'That msgid names no message of this target';
  }
  return 'A message reference is msgid=… or timestamp=…';
}

function parseTime(value: string): Ref | undefined {
  const ms = Date.parse(value);
  return TIMESTAMP.test(value) && Number.isFinite(ms) ? { kind: 'time', ts: value, ms } : undefined;
}

function sameUsers(users: readonly [string, string], a: string, b: string): boolean {
  const [x, y] = [a, b].sort();
  return users[0] === x && users[1] === y;
}

/** The history requests and filters for one subcommand (see the table at the top). */
function planFor(sub: string, refs: readonly Ref[], n: number): Plan {
  const plan = (...parts: Part[]): Plan => ({ parts, firstNonEmpty: false });
  const ref = refs[0];
  switch (sub) {
    case 'LATEST':
      return plan({ query: { limit: n }, keep: ref === undefined ? ALL : after(ref) });
    case 'BEFORE':
      return plan({ query: { ...upTo(ref!), limit: n }, keep: ALL });
    case 'AFTER':
      return plan({ query: { ...from(ref!), limit: n }, keep: ALL });
    case 'AROUND': {
      const parts: Part[] = [];
      if (ref!.kind === 'msgid') {
        parts.push({ query: { before: ref!.seq + 1, limit: Math.ceil(n / 2) }, keep: ALL });
        if (n >= 2) parts.push({ query: { after: ref!.seq, limit: Math.floor(n / 2) }, keep: ALL });
      } else {
        if (n >= 2) parts.push({ query: { beforeTs: ref!.ts, limit: Math.floor(n / 2) }, keep: ALL });
        parts.push({ query: { afterTs: new Date(ref!.ms - 1).toISOString(), limit: n - Math.floor(n / 2) }, keep: ALL });
      }
      return plan(...parts);
    }
    default: {
      // BETWEEN a b: forwards when a is older, backwards (then kept only after b) when it is newer.
      const a = refs[0]!;
      const b = refs[1]!;
      const forward: Part = { query: { ...from(a), ...upTo(b), limit: n }, keep: ALL };
      const backward: Part = { query: { ...upTo(a), limit: n }, keep: after(b) };
      const order = a.kind === 'msgid' && b.kind === 'msgid' ? a.seq - b.seq : a.kind === 'time' && b.kind === 'time' ? a.ms - b.ms : undefined;
      if (order === undefined) return { parts: [forward, backward], firstNonEmpty: true };
      if (order === 0) return plan();
      return plan(order < 0 ? forward : backward);
    }
  }
}

/** Bounds for "strictly before ref". */
function upTo(ref: Ref): Bounds {
  return ref.kind === 'msgid' ? { before: ref.seq } : { beforeTs: ref.ts };
}

/** Bounds for "strictly after ref". */
function from(ref: Ref): Bounds {
  return ref.kind === 'msgid' ? { after: ref.seq } : { afterTs: ref.ts };
}

function after(ref: Ref): Keep {
  return ref.kind === 'msgid' ? (m) => m.seq > ref.seq : (m) => Date.parse(m.ts) > ref.ms;
}

function run(c: IrcConnection, r: Reply, about: { room: string } | { with: string }, target: string, plan: Plan): void {
  const results: ChatMessage[][] = plan.parts.map(() => []);
  let refused: { code: string; message: string } | undefined;
  let left = plan.parts.length;
  const finish = (): void => {
    // Not a member, or a stranger: as if there were nothing (the spec's advice for unauthorised targets).
    if (refused && refused.code !== 'not_member' && refused.code !== 'no_such_user') {
      const code = refused.code === 'bad_request' ? 'INVALID_PARAMS' : 'MESSAGE_ERROR';
      r.line(formatFitted(c.serverName, 'FAIL', ['CHATHISTORY', code, target], refused.message));
      return;
    }
    const kept = results.map((msgs, i) => msgs.filter(plan.parts[i]!.keep));
    const chosen = plan.firstNonEmpty ? (kept[0]!.length > 0 ? kept[0]! : kept[1]!) : kept.flat();
    const lines: string[] = [];
    for (const m of chosen) lines.push(...c.renderer.messageLines(m, c.tagVariant));
    r.batch('chathistory', [target], lines);
  };
  if (left === 0) return finish();
  plan.parts.forEach(({ query: q }, i) => {
    const req: Request = { type: 'history', ...about, limit: q.limit };
    if (q.before !== undefined) req.before = q.before;
    if (q.after !== undefined) req.after = q.after;
    if (q.beforeTs !== undefined) req.beforeTs = q.beforeTs;
    if (q.afterTs !== undefined) req.afterTs = q.afterTs;
    c.request(r, req, (ev) => {
      if (ev.type === 'history') results[i] = ev.messages;
      else if (ev.type === 'error') refused ??= { code: ev.code, message: ev.message };
      if (--left === 0) finish();
      return true;
    });
  });
}

/** TARGETS a b limit: conversations this connection saw active between the two times, oldest first. */
function targets(c: IrcConnection, m: IrcMessage, r: Reply, fail: (code: string, context: readonly string[], text: string) => void): void {
  if (m.params.length < 4) return fail('NEED_MORE_PARAMS', ['TARGETS'], 'Missing parameters');
  const time = (text: string): Ref | undefined => (text.startsWith('timestamp=') ? parseTime(text.slice('timestamp='.length)) : undefined);
  const a = time(m.params[1]!);
  const b = time(m.params[2]!);
  const limit = parseLimit(m.params[3]!);
  if (a?.kind !== 'time' || b?.kind !== 'time') {
    return fail('INVALID_PARAMS', ['TARGETS'], 'TARGETS takes two timestamp=… references');
  }
  if (limit === undefined) return fail('INVALID_PARAMS', ['TARGETS'], 'The limit must be a whole number');
  const lo = Math.min(a.ms, b.ms);
  const hi = Math.max(a.ms, b.ms);
  const found = [...c.activity.values()]
    .filter((x) => {
      const t = Date.parse(x.ts);
      return t > lo && t < hi;
    })
    .sort((x, y) => Date.parse(x.ts) - Date.parse(y.ts))
    .slice(0, limit);
  r.batch(
    'draft/chathistory-targets',
    [],
    found.map((x) => formatLine(c.serverName, 'CHATHISTORY', ['TARGETS', x.target, x.ts])),
  );
}
