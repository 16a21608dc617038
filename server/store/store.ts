// The hub's only view of persistence. Two implementations: MemoryStore (--memory) and the file-backed
// log store (default, --data-dir). Reads are synchronous because every retained message is indexed in
// memory; that is what lets a join send history and then live messages with no gap and no duplicate.
import type { ChatMessage } from '../../protocol/messages.js';

/** A conversation key: `r:<room key>` for a room, `d:<a>|<b>` (sorted user keys) for a DM pair. */
export type ConvKey = string;

export function roomConv(roomKey: string): ConvKey {
  return `r:${roomKey}`;
}

export function dmConv(userKeyA: string, userKeyB: string): ConvKey {
  return userKeyA < userKeyB ? `d:${userKeyA}|${userKeyB}` : `d:${userKeyB}|${userKeyA}`;
}

export interface KnownUser {
  /** The name as the user first spelled it. */
  name: string;
  /** ISO time the user was last connected. */
  lastSeen: string;
}

export interface HistoryQuery {
  /** Only messages with seq > after. */
  after?: number;
  /** Only messages with seq < before. */
  before?: number;
  /** At most this many: the newest ones that match, returned oldest first. */
  limit: number;
}

export interface HistoryPage {
  messages: ChatMessage[];
  /** True when retained messages older than the first one returned also match `before`/`after`. */
  more: boolean;
}

export type Done = (err: Error | null) => void;

export interface Store {
  /** Loads everything durable. Called once before the server accepts connections. */
  open(): Promise<void>;
  /** Flushes and closes. Pending `done` callbacks are called before it resolves. */
  close(): Promise<void>;

  /** The highest seq ever assigned in a conversation, 0 when none. Survives restarts. */
  lastSeq(conv: ConvKey): number;
  /**
   * Appends a message whose seq must be lastSeq(conv) + 1 (lastSeq advances at once).
   * `offlineRecipient` (a user key) queues the message in that user's inbox as well.
   * `done` is called once the record is durable (per --fsync), always in append order; with an
   * error when it could not be written, in which case the message must not be acknowledged or sent.
   */
  appendMessage(conv: ConvKey, msg: ChatMessage, offlineRecipient: string | undefined, done: Done): void;
  /** Retained messages of a conversation; retention is --history-per-room. */
  history(conv: ConvKey, query: HistoryQuery): HistoryPage;
  /** Room names that have any retained message (display spelling), for `rooms` after a restart. */
  rooms(): Iterable<string>;

  /** Records that a user is (or was) connected. Durable best-effort: not awaited. */
  rememberUser(name: string, lastSeen: string): void;
  knownUser(userKey: string): KnownUser | undefined;
  knownUsers(): Iterable<KnownUser>;

  /** Messages queued for a user while offline, oldest first. */
  inbox(userKey: string): ChatMessage[];
  /** Drops the first `count` inbox messages: they were delivered. */
  markDelivered(userKey: string, count: number, done: Done): void;
}
