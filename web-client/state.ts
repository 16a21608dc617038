// What the page knows, independent of how it is drawn: one conversation per room or DM partner, each
// with its entries in seq order, plus who is online or away, the search panel and the local
// preferences. Immutable: reducer.ts makes a new state for every event, so views can tell what
// changed by identity and tests can compare states without a browser. No DOM here.
import type { ChatMessage, SearchResult } from '../protocol/messages.js';
import { nameKey } from '../protocol/validate.js';

/** A local line in a conversation: joins, leaves, command output, errors. Never from the wire as HTML. */
export interface Notice {
  readonly kind: 'notice';
  readonly text: string;
  readonly ts: string;
  readonly tone: 'info' | 'error' | 'presence';
}

export interface MessageEntry {
  readonly kind: 'message';
  readonly msg: ChatMessage;
}

export type Entry = MessageEntry | Notice;

export interface Topic {
  readonly text: string;
  readonly by?: string;
  readonly ts?: string;
}

/** Someone typing, until `until` (ms since the epoch): the protocol says typing expires after ~6 s. */
export interface Typist {
  readonly name: string;
  readonly until: number;
}

export interface Conversation {
  /** `r:<room key>` or `d:<user key>`: case-insensitive like the server's names. */
  readonly key: string;
  readonly kind: 'room' | 'dm';
  /** Display spelling (the server keeps the first one used). */
  readonly name: string;
  readonly entries: readonly Entry[];
  /** Older messages exist on the server before the oldest shown. */
  readonly more: boolean;
  readonly loadingOlder: boolean;
  /** The first history arrived: later ones (resumes) carry news, not backlog. */
  readonly loaded: boolean;
  /** Room members by key -> display name (rooms only). */
  readonly members: ReadonlyMap<string, string>;
  readonly joined: boolean;
  readonly topic: Topic | undefined;
  /** The read marker: messages above it are unread. 0 when none is known. */
  readonly readSeq: number;
  /** The server told us the marker (on join, `read`, `reads`): backlog is then judged by it. */
  readonly markerKnown: boolean;
  /** Who is typing here, by name key. */
  readonly typing: ReadonlyMap<string, Typist>;
}

/** One search: what was asked, and what came back so far (pages are added as `more` is followed). */
export interface Search {
  readonly query: string;
  /** The words matched, as the server compares them (protocol/search-terms.ts): what is highlighted. */
  readonly terms: readonly string[];
  /** Newest first, as the server sends them. */
  readonly results: readonly SearchResult[];
  readonly more: boolean;
  /** The cursor for the next (older) page: the last reply's `next`. */
  readonly next: number | undefined;
  readonly loading: boolean;
  /** Why the search failed (an error reply), shown instead of results. */
  readonly error?: string;
}

export interface ChatState {
  readonly me: string | undefined;
  /** The conversation on screen. */
  readonly active: string | undefined;
  /** In sidebar order (insertion order). */
  readonly conversations: ReadonlyMap<string, Conversation>;
  /** Every user the server told us about, for online dots. */
  readonly online: ReadonlyMap<string, boolean>;
  /** Away messages by name key. */
  readonly away: ReadonlyMap<string, string>;
  /** Users whose messages this browser hides (/ignore), by name key. */
  readonly ignored: ReadonlySet<string>;
  /** A room the user asked to join: shown as soon as the server confirms. */
  readonly openOnJoin: string | undefined;
  readonly search: Search | undefined;
}

export function roomKey(room: string): string {
  return `r:${nameKey(room)}`;
}
export function dmKey(user: string): string {
  return `d:${nameKey(user)}`;
}

export function initialState(): ChatState {
  return {
    me: undefined,
    active: undefined,
    conversations: new Map(),
    online: new Map(),
    away: new Map(),
    ignored: new Set(),
    openOnJoin: undefined,
    search: undefined,
  };
}

export function newConversation(kind: 'room' | 'dm', name: string): Conversation {
  return {
    key: kind === 'room' ? roomKey(name) : dmKey(name),
    kind,
    name,
    entries: [],
    more: false,
    loadingOlder: false,
    loaded: false,
    members: new Map(),
    joined: false,
    topic: undefined,
    readSeq: 0,
    markerKnown: false,
    typing: new Map(),
  };
}

export function isMe(s: ChatState, name: string): boolean {
  return s.me !== undefined && nameKey(name) === nameKey(s.me);
}

/** The key of the conversation a message (or an amendment carrying `room`, or `to` and `from`) belongs to. */
export function keyFor(s: ChatState, m: { room?: string | undefined; to?: string | undefined; from?: string | undefined; with?: string | undefined }): string {
  if (m.room !== undefined) return roomKey(m.room);
  if (m.with !== undefined) return dmKey(m.with);
  return dmKey(otherParty(s, m));
}

/** The other side of a direct message, from this user's point of view. */
export function otherParty(s: ChatState, m: { to?: string | undefined; from?: string | undefined }): string {
  const from = m.from ?? '';
  return isMe(s, from) ? (m.to ?? from) : from;
}

export function activeConversation(s: ChatState): Conversation | undefined {
  return s.active === undefined ? undefined : s.conversations.get(s.active);
}

export function messages(c: Conversation): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const e of c.entries) if (e.kind === 'message') out.push(e.msg);
  return out;
}

/** The smallest seq shown, where the next older page starts. */
export function oldestSeq(c: Conversation): number | undefined {
  for (const e of c.entries) if (e.kind === 'message') return e.msg.seq;
  return undefined;
}

/** The largest seq shown: what "read up to here" means when the conversation is viewed. */
export function newestSeq(c: Conversation): number | undefined {
  for (let i = c.entries.length - 1; i >= 0; i--) {
    const e = c.entries[i]!;
    if (e.kind === 'message') return e.msg.seq;
  }
  return undefined;
}

/** A message that counts: not deleted, not one's own, not from someone ignored. */
function counts(s: ChatState, m: ChatMessage): boolean {
  return !m.deleted && !isMe(s, m.from) && !s.ignored.has(nameKey(m.from));
}

export function mentionsMe(s: ChatState, m: ChatMessage): boolean {
  return s.me !== undefined && (m.mentions ?? []).some((n) => nameKey(n) === nameKey(s.me!));
}

/** Messages above the read marker, from others. */
export function unread(s: ChatState, c: Conversation): number {
  let n = 0;
  for (const e of c.entries) if (e.kind === 'message' && e.msg.seq > c.readSeq && counts(s, e.msg)) n++;
  return n;
}

/** Unread messages that mention the user. */
export function unreadMentions(s: ChatState, c: Conversation): number {
  let n = 0;
  for (const e of c.entries) if (e.kind === 'message' && e.msg.seq > c.readSeq && counts(s, e.msg) && mentionsMe(s, e.msg)) n++;
  return n;
}

/** Conversations the sidebar lists: rooms one is in, and every direct conversation. */
export function listed(c: Conversation): boolean {
  return c.kind === 'dm' || c.joined;
}

export function totals(s: ChatState): { unread: number; mentions: number } {
  let u = 0;
  let m = 0;
  for (const c of s.conversations.values()) {
    if (!listed(c)) continue;
    u += unread(s, c);
    m += unreadMentions(s, c);
  }
  return { unread: u, mentions: m };
}

/** Who is typing in `c` at `now`, oldest first, without ignored users. */
export function typists(s: ChatState, c: Conversation, now: number): string[] {
  return [...c.typing.values()].filter((t) => t.until > now && !s.ignored.has(nameKey(t.name))).map((t) => t.name);
}
