// The hub's only view of persistence: a contract a remote store (Redis) can implement as well as the
// embedded ones. The store, not the hub, numbers messages: append() assigns each conversation's next
// seq and its ts, so two servers sharing one store cannot pick the same number. Reads are asynchronous
// and may fail, because history lives on disk (or across a network), not in the heap. Nothing here
// relies on one global order across conversations.
import type { ChatMessage } from '../../protocol/messages.js';

/** A conversation key: `r:<room key>` for a room, `d:<a>|<b>` (sorted user keys) for a DM pair. */
export type ConvKey = string;

export function roomConv(roomKey: string): ConvKey {
  return `r:${roomKey}`;
}

export function dmConv(userKeyA: string, userKeyB: string): ConvKey {
  return userKeyA < userKeyB ? `d:${userKeyA}|${userKeyB}` : `d:${userKeyB}|${userKeyA}`;
}

/**
 * The conversation of two accounts. Kept apart from dmConv (`d:`), which names conversations stored
 * before accounts existed: those belong to whoever used a name then, not to whoever registers it now.
 */
export function accountDmConv(userKeyA: string, userKeyB: string): ConvKey {
  return userKeyA < userKeyB ? `p:${userKeyA}|${userKeyB}` : `p:${userKeyB}|${userKeyA}`;
}

/** A message as the hub hands it over: everything but the seq and ts, which the store assigns. */
export interface Draft {
  /** Display spelling of the room, for a room message. */
  room?: string;
  /** Display spelling of the recipient, for a direct message. */
  to?: string;
  from: string;
  text: string;
  action?: true;
  /** The sender is a guest. */
  guest?: true;
  /**
   * The client's id for this message (`mid`): the store stores a message once per sender,
   * conversation and mid, and answers a repeat with the first one's seq and ts (how long a mid is
   * remembered differs: Redis 24 h, memory as many as the conversation retains, the file store a
   * bounded table kept across clean restarts).
   */
  mid?: string;
  /** Known users the text mentions (`@name`), as the hub resolved them. */
  mentions?: string[];
}

/** A message's identity. Inbox delivery is marked by identity, never by count. */
export interface MessageRef {
  conv: ConvKey;
  seq: number;
}

export interface InboxItem {
  conv: ConvKey;
  msg: ChatMessage;
}

export interface KnownUser {
  /** The name as the user first spelled it. */
  name: string;
  /** ISO time the user was last connected. */
  lastSeen: string;
}

/** How a user is being remembered (rememberUser). */
export interface Seen {
  /** A guest, which may be forgotten once offline; otherwise an account, never forgotten. */
  guest?: boolean;
  /** Connected now: not forgotten until recorded offline again. */
  online?: boolean;
}

export interface UserPage {
  /** In name-key order (lower case), after the key asked for. */
  users: KnownUser[];
  /** True when more users follow the last one returned. */
  more: boolean;
}

export interface HistoryQuery {
  /** Only messages with seq > after. */
  after?: number;
  /** Only messages with seq < before. */
  before?: number;
  /** At most this many, returned oldest first. */
  limit: number;
  /**
   * Which end of the matching range a limited page comes from: the newest (default; paging back)
   * or the oldest (resume: paging forward from `after`).
   */
  from?: 'newest' | 'oldest';
}

export interface HistoryPage {
  messages: ChatMessage[];
  /**
   * True when matching messages were left out: older ones than the first returned (from newest), or
   * newer ones than the last returned (from oldest).
   */
  more: boolean;
}

/** A change to a stored message (amend). Who may make it is the hub's business, not the store's. */
export type Change =
  | { kind: 'edit'; text: string; ts: string }
  | { kind: 'delete'; ts: string }
  /** `on`: add `name`'s reaction with `emoji`; otherwise take it away. */
  | { kind: 'react'; emoji: string; name: string; on: boolean };

/** A message's state after an amend: deleted, or its (edited) text and its reactions. */
export interface Amended {
  deleted?: true;
  text?: string;
  editedTs?: string;
  /** Emoji to who reacted with it. */
  reactions?: Record<string, string[]>;
}

/**
 * A search: the messages holding every one of `terms` (words normalised by protocol/search-terms.ts),
 * among the conversations in scope, newest first. The store, not the hub, keeps the index, so it can
 * answer without reading every message; it checks each candidate against the message's latest state.
 */
export interface SearchQuery {
  /** Distinct normalised words (searchTerms of the query), at least one: all must occur. */
  terms: string[];
  /** Conversations to search (rooms the user is in, or one DM conversation). */
  convs: ConvKey[];
  /** Also every account conversation (`p:`) this user key is a side of. */
  dmsOf?: string;
  /** A `next` from an earlier page: only matches stored before that point. */
  before?: number;
  limit: number;
}

export interface SearchHit {
  conv: ConvKey;
  /** In its latest state (edits applied); never a deleted or aged-out message. */
  msg: ChatMessage;
}

export interface SearchPage {
  /** Newest first, in the store's order of storing. */
  hits: SearchHit[];
  /** True when older matches remain. */
  more: boolean;
  /**
   * With `more`: an opaque positive integer in the store's own order (a log position, a counter) that
   * a later query passes as `before` to continue after the last hit.
   */
  next?: number;
}

/** amend() of a seq that is not a retained, durable message of the conversation. */
export class NoSuchMessage extends Error {}

/**
 * append() for a user whose offline inbox already holds the store's --max-inbox undelivered messages:
 * refused before it is numbered, so nothing is stored and no seq is used. Refusing the new message
 * rather than dropping an old one keeps the promise an ack made.
 */
export class InboxFull extends Error {
  constructor(readonly limit: number) {
    super(`the recipient's offline inbox holds ${limit} undelivered messages`);
  }
}

export type Done = (err: Error | null) => void;
/**
 * `msg` is the stored message, with the seq and ts the store gave it; undefined exactly when err is set.
 * `repeat`: the draft's `mid` had been stored before by this sender in this conversation, and `msg` is
 * that first message: nothing was stored or numbered now, and nobody should be sent it again.
 */
export type Appended = (err: Error | null, msg: ChatMessage | undefined, repeat?: boolean) => void;

export interface Store {
  /** Loads what is needed to serve. Called once before the server accepts connections. */
  open(): Promise<void>;
  /** Flushes and closes. Pending callbacks are called before it resolves. */
  close(): Promise<void>;

  /**
   * Numbers and stores a message: seq = the conversation's last seq + 1, ts = now (never earlier than
   * the conversation's previous ts). `done(null, msg)` once the message is stored: readable by
   * history and inboxes, and kept if this process crashes — so it may be delivered. Whether it also
   * survives a power loss is whenDurable's to say (per --fsync): an ack waits for that. Called in
   * append order within a conversation. `done(err)` when it could not be stored: that message is then
   * never served (not by history, not by an inbox, not after a restart) and its seq goes to the next
   * message, so a conversation's seqs never have a gap. When a failure forces later appends of the
   * same conversation to fail as well, they fail too, oldest first.
   * `inboxFor` (a user key) also queues the message in that user's offline inbox; when that inbox is
   * full (the store's maxInbox, counting appends still in flight) `done(InboxFull)` and nothing is stored.
   */
  append(conv: ConvKey, draft: Draft, inboxFor: string | undefined, done: Appended): void;
  /**
   * `done(null)` once everything appended so far is durable (per --fsync: on disk); `done(err)` when
   * the store could not make it so. Callers are answered in the order they asked. A store with
   * nothing slower than append (memory, a remote store that replies once stored) answers at once.
   */
  whenDurable(done: Done): void;
  /** Stored messages only: an append whose done has not yet been called successfully is not served. */
  history(conv: ConvKey, query: HistoryQuery): Promise<HistoryPage>;
  /** One retained, stored message in its latest state (amendments applied), or undefined. */
  message(conv: ConvKey, seq: number): Promise<ChatMessage | undefined>;
  /**
   * Durably records a change to a retained message: an edit, a deletion (the message keeps its seq;
   * readers then see `deleted: true` and an empty text), a reaction added or taken away. Every message
   * the store hands out afterwards (history, inbox) shows it, after a restart too. `done(null, state)`
   * once durable; `done(NoSuchMessage)` when the seq is not a retained message of the conversation.
   */
  amend(conv: ConvKey, seq: number, change: Change, done: (err: Error | null, state: Amended | undefined) => void): void;
  /** The highest stored seq of a conversation, 0 when none. */
  lastSeq(conv: ConvKey): Promise<number>;
  /** Messages matching a search (see SearchQuery), from the store's index, never a scan of the log. */
  search(query: SearchQuery): Promise<SearchPage>;
  /** Display names of the rooms with any retained message, for `rooms` after a restart. */
  rooms(): Promise<string[]>;

  /**
   * Records that a user is (`online`) or was connected. Durable best-effort: not awaited. A `guest`
   * offline for longer than the store's forget policy (--forget-guests-after, --max-known-guests) is
   * forgotten: knownUser and users no longer list it. Without `seen` the user counts as an account,
   * offline: never forgotten.
   */
  rememberUser(name: string, lastSeen: string, seen?: Seen): void;
  knownUser(userKey: string): Promise<KnownUser | undefined>;
  /** Known users with a name key greater than `after`, at most `limit`, in name-key order. */
  users(after: string | undefined, limit: number): Promise<UserPage>;

  /**
   * At most `limit` undelivered, stored messages queued for a user, oldest first. Retention applies:
   * a message that aged out of its conversation's history (--history-per-room) leaves the inbox too.
   */
  inbox(userKey: string, limit: number): Promise<InboxItem[]>;
  /** Those messages were delivered: they leave the user's inbox. Unknown refs are ignored. */
  markDelivered(userKey: string, refs: readonly MessageRef[], done: Done): void;

  /** What the store holds now, for /metrics: sampled, never awaited. */
  usage(): StoreUsage;
}

export interface StoreUsage {
  /** Users knownUser() would find: accounts, guests online or not yet forgotten. */
  knownUsers: number;
  /** Bytes of stored history counted against --max-store-bytes. */
  bytes: number;
}
