// The pure heart of the web client: a server event (or a reply, with the request it answers) and the
// current state give the next state, plus the effects the page must carry out (requests to send, a
// line for screen readers, a notification). No DOM, no socket, no clock of its own: app.ts feeds it
// and views draw what it returns, and test/web/reducer.test.ts runs it under Node, event by event.
//
// Local actions (opening a conversation, marking it read, starting a search...) are here too, as
// functions of the state, so every change of what the page knows goes through one file.
import type { Outbound } from '../protocol/client-core.js';
import type { ChatMessage, ErrorEvent, HistoryEvent, ServerEvent, UsersEvent } from '../protocol/messages.js';
import { searchTerms } from '../protocol/search-terms.js';
import { nameKey } from '../protocol/validate.js';
import { dateTime } from './format.js';
import {
  dmKey,
  isMe,
  keyFor,
  mentionsMe,
  newConversation,
  newestSeq,
  roomKey,
  type ChatState,
  type Conversation,
  type Entry,
  type Notice,
  type Search,
  type Typist,
} from './state.js';

/** The protocol's typing events expire after about 6 s without another. */
export const TYPING_MS = 6_000;
/** Rooms to fall back on for notices when nothing is open yet, so nothing is lost. */
export const DEFAULT_ROOM = 'general';
export const PAGE = 50;

/** What the event answers and what the page needs to know about the moment. */
export interface Context {
  /** Milliseconds since the epoch (typing expiry) and the time for local notices. */
  now: number;
  /** The request this event is the direct reply to, if any. */
  pending?: Outbound | undefined;
  /** The reply was asked for with a command: it is printed in the conversation. */
  print?: boolean;
  /** Show times as 24-hour HH:MM (/clock 24) rather than as the locale says. */
  clock24?: boolean;
}

export type Effect =
  /** Send this request (through ClientCore, so its reply comes back with it as `pending`). */
  | { kind: 'request'; req: Outbound }
  /** A new message from someone else arrived here (screen readers hear it when it is on screen). */
  | { kind: 'announce'; key: string; msg: ChatMessage }
  /** A message that mentions the user, or a direct message to them: worth a notification. */
  | { kind: 'notify'; key: string; msg: ChatMessage }
  /** The list of rooms or direct conversations changed: the page saves it for the next visit. */
  | { kind: 'remember' }
  /** A join was refused: the join form says why. */
  | { kind: 'joinError'; text: string };

export interface Result {
  state: ChatState;
  effects: Effect[];
}

export const FRIENDLY: Partial<Record<string, string>> = {
  bad_name: 'Names are 1–32 letters, digits, _ - or . (no spaces).',
  name_taken: 'Someone online is already using that name. Pick another one.',
  bad_room: 'Room names are 1–32 letters, digits, _ - or . (no spaces).',
  not_member: 'You are not in that room. Join it first.',
  bad_text: 'Messages must be 1–4000 characters.',
  too_many_rooms: 'You are in too many rooms (100 at most). Leave one first.',
  unavailable: 'The server could not store your message, so nobody got it. Please try again.',
  not_author: 'Only its author can change a message.',
  no_such_message: 'That message cannot be changed any more (deleted, too old, or never stored).',
  too_many_reactions: 'That message already has 20 different reactions.',
};

// ---- small immutable helpers ----

function withMap<K, V>(m: ReadonlyMap<K, V>, k: K, v: V | undefined): Map<K, V> {
  const n = new Map(m);
  if (v === undefined) n.delete(k);
  else n.set(k, v);
  return n;
}

function put(s: ChatState, c: Conversation): ChatState {
  return { ...s, conversations: withMap(s.conversations, c.key, c) };
}

function drop(s: ChatState, key: string): ChatState {
  return { ...s, conversations: withMap<string, Conversation>(s.conversations, key, undefined) };
}

function get(s: ChatState, kind: 'room' | 'dm', name: string): Conversation {
  return s.conversations.get(kind === 'room' ? roomKey(name) : dmKey(name)) ?? newConversation(kind, name);
}

/** Adds messages not yet shown, each at its place in seq order; returns the new entries and those added. */
function merge(entries: readonly Entry[], msgs: readonly ChatMessage[]): { entries: Entry[]; added: ChatMessage[] } {
  const seen = new Set<number>();
  for (const e of entries) if (e.kind === 'message') seen.add(e.msg.seq);
  const out = [...entries];
  const added: ChatMessage[] = [];
  for (const m of [...msgs].sort((a, b) => a.seq - b.seq)) {
    if (seen.has(m.seq)) continue;
    seen.add(m.seq);
    added.push(m);
    // The common cases are cheap: live ones go at the end, an older page at the top.
    let at = out.length;
    for (let i = out.length - 1; i >= 0; i--) {
      const e = out[i]!;
      if (e.kind === 'message' && e.msg.seq < m.seq) break;
      if (e.kind === 'message') at = i;
    }
    if (at === out.length) out.push({ kind: 'message', msg: m });
    else out.splice(at, 0, { kind: 'message', msg: m });
  }
  return { entries: out, added };
}

/** Replaces message `seq` of a conversation by `change(msg)`; undefined when it is not shown. */
function amend(c: Conversation, seq: number, change: (m: ChatMessage) => ChatMessage): Conversation | undefined {
  const i = c.entries.findIndex((e) => e.kind === 'message' && e.msg.seq === seq);
  if (i < 0) return undefined;
  const e = c.entries[i]!;
  if (e.kind !== 'message') return undefined;
  const entries = [...c.entries];
  entries[i] = { kind: 'message', msg: change(e.msg) };
  return { ...c, entries };
}

function deletedVersion(m: ChatMessage): ChatMessage {
  // Deleted: the seq, author and time stay; text, mentions and reactions go (as history gives it).
  const out: ChatMessage = { type: 'message', from: m.from, text: '', seq: m.seq, ts: m.ts, deleted: true };
  if (m.room !== undefined) out.room = m.room;
  if (m.to !== undefined) out.to = m.to;
  if (m.action) out.action = true;
  if (m.guest) out.guest = true;
  return out;
}

function reactedVersion(m: ChatMessage, counts: Record<string, string[]>): ChatMessage {
  const out: ChatMessage = { ...m };
  if (Object.keys(counts).length === 0) delete out.reactions;
  else out.reactions = counts;
  return out;
}

const iso = (now: number): string => new Date(now).toISOString();

// ---- local actions ----

/** A local line in conversation `key` (the open one, or #general when none is). */
export function addNotice(s: ChatState, key: string | undefined, text: string, tone: Notice['tone'], ts: string): ChatState {
  const c = (key !== undefined ? s.conversations.get(key) : undefined) ?? noticeTarget(s);
  return put(s, { ...c, entries: [...c.entries, { kind: 'notice', text, ts, tone }] });
}

/** The conversation notices go to when nothing more specific is known. */
export function noticeTarget(s: ChatState): Conversation {
  return (s.active !== undefined ? s.conversations.get(s.active) : undefined) ?? get(s, 'room', DEFAULT_ROOM);
}

/** Opens a conversation (it must exist). */
export function activate(s: ChatState, key: string): ChatState {
  if (!s.conversations.has(key)) return s;
  return { ...s, active: key };
}

/** A direct conversation, listed (and opened when `open`); its history is asked for once. */
export function openDm(s: ChatState, name: string, open: boolean): Result {
  const existing = s.conversations.get(dmKey(name));
  let c = existing ?? newConversation('dm', name);
  const effects: Effect[] = [];
  if (!c.loaded && !c.loadingOlder) {
    c = { ...c, loadingOlder: true };
    effects.push({ kind: 'request', req: { type: 'history', with: c.name, limit: PAGE } });
  }
  if (!existing) effects.push({ kind: 'remember' });
  let next = put(s, c);
  if (open) next = { ...next, active: c.key };
  return { state: next, effects };
}

/** Direct conversations saved by an earlier visit: listed again, their history fetched after the welcome. */
export function restoreDms(s: ChatState, names: readonly string[]): ChatState {
  let next = s;
  for (const n of names) if (!next.conversations.has(dmKey(n))) next = put(next, newConversation('dm', n));
  return next;
}

/** Direct conversations whose history has not been asked for yet (restored, or its reply lost in a drop). */
export function loadPendingDms(s: ChatState): Result {
  let next = s;
  const effects: Effect[] = [];
  for (const c of s.conversations.values()) {
    if (c.kind !== 'dm' || c.loaded || c.loadingOlder) continue;
    const r = openDm(next, c.name, false);
    next = r.state;
    effects.push(...r.effects.filter((e) => e.kind === 'request'));
  }
  return { state: next, effects };
}

/** Closes a direct conversation (rooms are left with a `leave` request instead). */
export function closeDm(s: ChatState, key: string): ChatState {
  let next = drop(s, key);
  if (s.active === key) next = { ...next, active: firstListed(next) };
  return next;
}

function firstListed(s: ChatState): string | undefined {
  const all = [...s.conversations.values()].filter((c) => c.kind === 'dm' || c.joined);
  return (all.find((c) => c.kind === 'room') ?? all[0])?.key;
}

/**
 * The user is looking at conversation `key`: its marker moves to the newest message shown, and the
 * server is told (it tells the account's other sessions), unless nothing new was there.
 */
export function markRead(s: ChatState, key: string): Result {
  const c = s.conversations.get(key);
  const newest = c === undefined ? undefined : newestSeq(c);
  if (c === undefined || newest === undefined || newest <= c.readSeq || (c.kind === 'room' && !c.joined)) return { state: s, effects: [] };
  const req: Outbound = c.kind === 'room' ? { type: 'read', room: c.name, seq: newest } : { type: 'read', with: c.name, seq: newest };
  return { state: put(s, { ...c, readSeq: newest }), effects: [{ kind: 'request', req }] };
}

/** The next older page of the conversation was asked for. */
export function setLoadingOlder(s: ChatState, key: string, loading: boolean): ChatState {
  const c = s.conversations.get(key);
  return c === undefined ? s : put(s, { ...c, loadingOlder: loading });
}

/** A room the user asked to join: opened when its `members` arrives. */
export function expectJoin(s: ChatState, room: string): ChatState {
  return { ...s, openOnJoin: roomKey(room) };
}

export function beginSearch(s: ChatState, query: string, paging: boolean): ChatState {
  // Until the server says which words it compared, highlight the words as the shared rules split them.
  const search: Search = paging && s.search ? { ...s.search, loading: true } : { query, terms: searchTerms(query), results: [], more: false, next: undefined, loading: true };
  return { ...s, search };
}

export function closeSearch(s: ChatState): ChatState {
  return { ...s, search: undefined };
}

export function setIgnored(s: ChatState, name: string, ignore: boolean): ChatState {
  const ignored = new Set(s.ignored);
  if (ignore) ignored.add(nameKey(name));
  else ignored.delete(nameKey(name));
  return { ...s, ignored };
}

// ---- events ----

/** The next state after `ev`, and what the page must do about it. */
export function reduce(s: ChatState, ev: ServerEvent, ctx: Context): Result {
  const effects: Effect[] = [];
  const state = step(s, ev, ctx, effects);
  return { state, effects };
}

function step(s: ChatState, ev: ServerEvent, ctx: Context, fx: Effect[]): ChatState {
  const ts = iso(ctx.now);
  const clock24 = ctx.clock24 ?? false;
  switch (ev.type) {
    case 'welcome':
      return { ...s, me: ev.name };
    case 'members': {
      const old = get(s, 'room', ev.room);
      const c: Conversation = { ...old, name: ev.room, joined: true, members: new Map(ev.users.map((u) => [nameKey(u), u])) };
      const online = new Map(s.online);
      const away = new Map(s.away);
      for (const u of ev.users) {
        online.set(nameKey(u), true);
        const text = ev.away?.[u];
        if (text === undefined) away.delete(nameKey(u));
        else away.set(nameKey(u), text);
      }
      let next: ChatState = { ...put(s, c), online, away };
      if (s.active === undefined || s.openOnJoin === c.key || !s.conversations.has(s.active)) next = { ...next, active: c.key, openOnJoin: undefined };
      // Members are who is in the room now; `who` adds whether each is online.
      fx.push({ kind: 'request', req: { type: 'who', room: ev.room } }, { kind: 'remember' });
      return next;
    }
    case 'topic':
      return onTopic(s, ev.room, ev.text, ev.by, ev.ts, ctx, ts);
    case 'read':
    case 'reads': {
      const markers = ev.type === 'read' ? [ev] : ev.markers;
      let next = s;
      for (const m of markers) {
        if (m.room !== undefined) {
          const c = next.conversations.get(roomKey(m.room));
          if (c) next = put(next, { ...c, readSeq: Math.max(c.readSeq, m.seq), markerKnown: true });
        } else if (m.with !== undefined) {
          // A direct conversation read on another device (or before a reload) is listed here too.
          const existing = next.conversations.get(dmKey(m.with));
          if (!existing) {
            const r = openDm(next, m.with, false);
            next = r.state;
            fx.push(...r.effects);
          }
          const c = next.conversations.get(dmKey(m.with))!;
          next = put(next, { ...c, readSeq: Math.max(c.readSeq, m.seq), markerKnown: true });
        }
      }
      return next;
    }
    case 'history':
      return onHistory(s, ev, ctx, fx);
    case 'message':
      return onMessage(s, ev, fx);
    case 'joined': {
      const c = s.conversations.get(roomKey(ev.room));
      if (!c) return s;
      const me = isMe(s, ev.name);
      const known = c.members.has(nameKey(ev.name));
      let next = put(s, { ...c, members: withMap(c.members, nameKey(ev.name), ev.name) });
      next = { ...next, online: withMap(next.online, nameKey(ev.name), true) };
      // After a reconnect the server announces our own rejoin again; that is not news to the reader.
      const rejoin = me && c.entries.some((e) => e.kind === 'notice' && e.tone === 'presence');
      if (!rejoin && !(known && !me)) next = addNotice(next, c.key, me ? `You joined #${c.name}` : `${ev.name} joined`, 'presence', ev.ts);
      return next;
    }
    case 'left': {
      const c = s.conversations.get(roomKey(ev.room));
      if (!c) return s;
      const disconnect = ev.reason === 'disconnect';
      if (isMe(s, ev.name) && !disconnect) {
        let next = drop(s, c.key);
        if (s.active === c.key) next = { ...next, active: firstListed(next) };
        fx.push({ kind: 'remember' });
        return next;
      }
      let next = put(s, { ...c, members: withMap<string, string>(c.members, nameKey(ev.name), undefined), typing: withMap<string, Typist>(c.typing, nameKey(ev.name), undefined) });
      if (disconnect) next = { ...next, online: withMap(next.online, nameKey(ev.name), false) };
      return addNotice(next, c.key, disconnect ? `${ev.name} disconnected` : `${ev.name} left`, 'presence', ev.ts);
    }
    case 'users':
      return onUsers(s, ev, ctx, ts);
    case 'rooms':
      if (!ctx.print) return s;
      return addNotice(s, undefined, ev.rooms.length === 0 ? 'No rooms yet.' : `Rooms: ${ev.rooms.map((r) => `#${r.name} (${r.members})`).join(', ')}`, 'info', ts);
    case 'time':
      if (!ctx.print) return s;
      return addNotice(s, undefined, `Server time: ${dateTime(ev.time, clock24)} (${ev.time})`, 'info', ts);
    case 'user': {
      if (!ctx.print) return s;
      const parts = [`${ev.name}: ${ev.account ? 'account' : 'guest'}`, ev.online ? 'online' : `offline${ev.lastSeen ? `, last seen ${dateTime(ev.lastSeen, clock24)}` : ''}`];
      if (ev.away !== undefined) parts.push(`away: ${ev.away}`);
      if (ev.rooms && ev.rooms.length > 0) parts.push(`in ${ev.rooms.map((r) => `#${r}`).join(' ')}`);
      return addNotice(s, undefined, parts.join(', '), 'info', ts);
    }
    case 'away': {
      const key = nameKey(ev.name);
      let next: ChatState = { ...s, away: withMap(s.away, key, ev.text) };
      const me = isMe(s, ev.name);
      const text = me
        ? ev.text === undefined
          ? 'You are back.'
          : `You are marked away: ${ev.text}`
        : ev.text === undefined
          ? `${ev.name} is back`
          : `${ev.name} is away: ${ev.text}`;
      if (me) return addNotice(next, undefined, text, 'info', ts);
      for (const c of s.conversations.values()) if (c.kind === 'room' && c.joined && c.members.has(key)) next = addNotice(next, c.key, text, 'presence', ts);
      return next;
    }
    case 'typing': {
      if (isMe(s, ev.name)) return s;
      const c = ev.room !== undefined ? s.conversations.get(roomKey(ev.room)) : s.conversations.get(dmKey(ev.name));
      if (!c) return s;
      return put(s, { ...c, typing: withMap(c.typing, nameKey(ev.name), { name: ev.name, until: ctx.now + TYPING_MS }) });
    }
    case 'edited':
    case 'deleted':
    case 'reactions': {
      const change = (m: ChatMessage): ChatMessage =>
        ev.type === 'edited' ? { ...m, text: ev.text, editedTs: ev.editedTs } : ev.type === 'deleted' ? deletedVersion(m) : reactedVersion(m, ev.counts);
      let next = s;
      const c = s.conversations.get(keyFor(s, ev));
      const changed = c && amend(c, ev.seq, change);
      if (changed) next = put(next, changed);
      // A search result showing this message shows its latest state too.
      if (next.search && ev.type !== 'reactions') {
        const key = keyFor(s, ev);
        const results = next.search.results.map((m) => (m.seq === ev.seq && keyFor(s, m) === key ? change(m) : m));
        next = { ...next, search: { ...next.search, results } };
      }
      return next;
    }
    case 'results': {
      if (!s.search) return s;
      const paging = ctx.pending?.type === 'search' && ctx.pending.before !== undefined;
      const results = paging ? [...s.search.results, ...ev.messages] : ev.messages;
      return { ...s, search: { ...s.search, results, terms: ev.terms, more: ev.more, next: ev.more ? ev.next : undefined, loading: false } };
    }
    case 'bye':
      if (ev.reason === 'shutdown') return addNotice(s, undefined, 'The server is restarting; reconnecting…', 'info', ts);
      return s;
    case 'error':
      return onError(s, ev, ctx, fx, ts);
    default:
      return s;
  }
}

function onTopic(s: ChatState, room: string, text: string, by: string | undefined, when: string | undefined, ctx: Context, ts: string): ChatState {
  const c = s.conversations.get(roomKey(room));
  let next = s;
  if (c && c.joined) {
    const topic = text === '' ? undefined : { text, ...(by !== undefined ? { by } : {}), ...(when !== undefined ? { ts: when } : {}) };
    const changed = (c.topic?.text ?? '') !== text || c.topic?.ts !== when;
    next = put(s, { ...c, topic });
    // A topic set while one is here is news; the one sent on join (before the history) is not.
    if (changed && c.loaded && by !== undefined && !ctx.print) {
      next = addNotice(next, c.key, text === '' ? `${by} cleared the topic` : `${by} set the topic: ${text}`, 'info', when ?? ts);
    }
  }
  if (ctx.print) next = addNotice(next, undefined, text === '' ? `#${room} has no topic.` : `Topic of #${room}: ${text}${by !== undefined ? ` (set by ${by})` : ''}`, 'info', ts);
  return next;
}

function onHistory(s: ChatState, ev: HistoryEvent, ctx: Context, fx: Effect[]): ChatState {
  const old = ev.with !== undefined ? get(s, 'dm', ev.with) : get(s, 'room', ev.room ?? '');
  if (ctx.pending?.type === 'history') {
    // An older page asked for (scrolling up, /history, or a direct conversation's first page): below
    // the resume mark; seqs already shown are skipped.
    const { entries, added } = merge(old.entries, ev.messages);
    let c: Conversation = { ...old, entries, loadingOlder: false, more: ev.more ?? false };
    if (c.kind === 'dm') {
      const first = !old.loaded;
      c = { ...c, name: ev.with ?? c.name, loaded: true };
      // A first page without a marker is backlog: read, except what arrived live before it.
      const newest = added.reduce((n, m) => Math.max(n, m.seq), 0);
      if (first && !c.markerKnown) c = { ...c, readSeq: Math.max(c.readSeq, newest) };
    }
    if (c.kind === 'room' && !c.joined && !s.conversations.has(c.key)) return s;
    return put(s, c);
  }
  if (old.kind === 'room' && !old.joined) return s;
  const firstLoad = !old.loaded;
  const { entries, added } = merge(old.entries, ev.messages);
  let c: Conversation = { ...old, entries, loaded: true, more: firstLoad ? (ev.more ?? false) : old.more };
  // The backlog of a room joined without a marker (a new member, a guest) is not unread.
  if (firstLoad && !c.markerKnown) c = { ...c, readSeq: Math.max(c.readSeq, newestSeq(c) ?? 0) };
  const next = put(s, c);
  if (!firstLoad) for (const m of added) news(next, c.key, m, fx);
  return next;
}

/** Effects of a message new to the reader: announced, and notified when it is for them. */
function news(s: ChatState, key: string, m: ChatMessage, fx: Effect[]): void {
  if (isMe(s, m.from) || s.ignored.has(nameKey(m.from)) || m.deleted) return;
  fx.push({ kind: 'announce', key, msg: m });
  if (mentionsMe(s, m) || m.room === undefined) fx.push({ kind: 'notify', key, msg: m });
}

function onMessage(s: ChatState, msg: ChatMessage, fx: Effect[]): ChatState {
  const key = keyFor(s, msg);
  let c = s.conversations.get(key);
  let next = s;
  if (msg.room !== undefined) {
    // A message racing our own leave: the room is gone from the sidebar and must not come back.
    if (!c || !c.joined) return s;
  } else {
    const other = msg.from !== undefined && !isMe(s, msg.from) ? msg.from : (msg.to ?? msg.from);
    if (!c) {
      const r = openDm(s, other, false);
      next = r.state;
      fx.push(...r.effects);
      c = next.conversations.get(key)!;
    } else if (!c.loaded && !c.loadingOlder) {
      const r = openDm(s, c.name, false);
      next = r.state;
      fx.push(...r.effects);
      c = next.conversations.get(key)!;
    }
    // The server's spelling of the other party's name wins.
    if (c.name !== other && nameKey(c.name) === nameKey(other)) c = { ...c, name: other };
  }
  const { entries, added } = merge(c.entries, [msg]);
  if (added.length === 0) return next;
  const typing = withMap<string, Typist>(c.typing, nameKey(msg.from), undefined);
  c = { ...c, entries, typing };
  // One's own message (from this or another session) is read where it was written.
  if (isMe(s, msg.from) && msg.seq > c.readSeq && unreadAbove(s, c, msg.seq) === 0) c = { ...c, readSeq: msg.seq };
  next = put(next, c);
  news(next, key, msg, fx);
  return next;
}

/** Unread messages from others below `seq` (a message of one's own does not read them). */
function unreadAbove(s: ChatState, c: Conversation, seq: number): number {
  let n = 0;
  for (const e of c.entries) if (e.kind === 'message' && e.msg.seq > c.readSeq && e.msg.seq < seq && !isMe(s, e.msg.from) && !e.msg.deleted) n++;
  return n;
}

function onUsers(s: ChatState, ev: UsersEvent, ctx: Context, ts: string): ChatState {
  let next = s;
  if (ev.room !== undefined) {
    const c = s.conversations.get(roomKey(ev.room));
    if (c && c.joined) next = put(next, { ...c, members: new Map(ev.users.map((u) => [nameKey(u.name), u.name])) });
  }
  const online = new Map(next.online);
  const away = new Map(next.away);
  for (const u of ev.users) {
    online.set(nameKey(u.name), u.online);
    if (u.away === undefined) away.delete(nameKey(u.name));
    else away.set(nameKey(u.name), u.away);
  }
  next = { ...next, online, away };
  if (!ctx.print) return next;
  const clock24 = ctx.clock24 ?? false;
  if (ev.room !== undefined) {
    const list = ev.users.map((u) => `${u.name}${u.away !== undefined ? ` (away: ${u.away})` : ''}${u.online ? '' : ' (offline)'}`);
    return addNotice(next, undefined, `In #${ev.room}: ${list.join(', ') || 'nobody'}.`, 'info', ts);
  }
  const on = ev.users.filter((u) => u.online).map((u) => (u.away !== undefined ? `${u.name} (away: ${u.away})` : u.name));
  const off = ev.users.filter((u) => !u.online).map((u) => (u.lastSeen ? `${u.name} (last seen ${dateTime(u.lastSeen, clock24)})` : u.name));
  const rest = ev.more === true ? ` There are more users than the first ${ev.users.length} listed here.` : '';
  return addNotice(next, undefined, `Online: ${on.join(', ') || 'nobody'}${off.length ? `. Offline: ${off.join(', ')}` : ''}.${rest}`, 'info', ts);
}

function onError(s: ChatState, ev: ErrorEvent, ctx: Context, fx: Effect[], ts: string): ChatState {
  const req = ctx.pending;
  const text = FRIENDLY[ev.code] ?? ev.message;
  if (req?.type === 'search') return s.search ? { ...s, search: { ...s.search, loading: false, error: text } } : s;
  // Typing and read markers are background chatter: a refusal is not worth the reader's attention.
  if (req?.type === 'typing' || req?.type === 'read' || req?.type === 'reads' || req?.type === 'ping') return s;
  let next = s;
  if (req?.type === 'history') {
    const c = req.with !== undefined ? s.conversations.get(dmKey(req.with)) : s.conversations.get(roomKey(req.room ?? ''));
    if (c) {
      next = put(next, { ...c, loadingOlder: false });
      // A saved conversation with someone this server does not know (its data was reset): nothing to show.
      if (req.with !== undefined && ev.code === 'no_such_user') return put(next, { ...c, loadingOlder: false, loaded: true, more: false });
    }
  }
  let where: string | undefined;
  if (req?.type === 'say') where = roomKey(req.room);
  if (req?.type === 'dm') where = dmKey(req.to);
  if (req?.type === 'edit' || req?.type === 'delete' || req?.type === 'react' || req?.type === 'unreact') where = req.room !== undefined ? roomKey(req.room) : dmKey(req.to ?? '');
  if (where !== undefined && !next.conversations.has(where)) where = undefined;
  if (ev.code === 'no_such_user' && req?.type === 'dm') {
    return addNotice(next, where, `Nobody named ${req.to} has ever connected here, so the message was not sent.`, 'error', ts);
  }
  if (req?.type === 'join') fx.push({ kind: 'joinError', text });
  return addNotice(next, where, text, 'error', ts);
}
