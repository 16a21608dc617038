// The in-memory index both stores share: per conversation the last seq and the retained messages,
// the known users and the offline inboxes. The file store replays its log into it; the memory store
// is just this index. Reads are synchronous, which is what the hub's no-gap/no-duplicate rule needs.
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/validate.js';
import type { ConvKey, HistoryPage, HistoryQuery, KnownUser } from './store.js';

/**
 * Retained messages live in fixed-size chunks so that retention drops the oldest message in O(1)
 * and discards a whole chunk at a time: no append ever copies a large array, whatever the retention.
 */
const CHUNK = 1024;

interface Conversation {
  last: number;
  chunks: ChatMessage[][];
  /** Index of the oldest retained message inside chunks[0]. */
  head: number;
  count: number;
}

/** One undelivered direct message. `order` sorts an inbox after a replay; `seg` is where it is stored. */
export interface InboxEntry {
  key: string;
  conv: ConvKey;
  msg: ChatMessage;
  order: number;
  seg: number;
}

export function inboxKey(conv: ConvKey, seq: number): string {
  return `${conv}#${seq}`;
}

export class ConversationIndex {
  private readonly convs = new Map<ConvKey, Conversation>();
  private readonly users = new Map<string, KnownUser>();
  /** Map iteration order is insertion order: each inbox is oldest first. */
  private readonly inboxes = new Map<string, Map<string, InboxEntry>>();

  constructor(private readonly retention: number) {}

  lastSeq(conv: ConvKey): number {
    return this.convs.get(conv)?.last ?? 0;
  }

  /** Seq of the oldest retained message; lastSeq + 1 when none is retained. */
  firstRetainedSeq(conv: ConvKey): number {
    const c = this.convs.get(conv);
    if (!c) return 1;
    return c.count > 0 ? this.at(c, 0).seq : c.last + 1;
  }

  /** Adds a message newer than every other of its conversation and applies retention. */
  add(conv: ConvKey, msg: ChatMessage): void {
    let c = this.convs.get(conv);
    if (!c) this.convs.set(conv, (c = { last: 0, chunks: [], head: 0, count: 0 }));
    if (msg.seq <= c.last) throw new Error(`seq ${msg.seq} is not after ${c.last} in ${conv}`);
    c.last = msg.seq;
    let tail = c.chunks[c.chunks.length - 1];
    if (!tail || tail.length === CHUNK) c.chunks.push((tail = []));
    tail.push(msg);
    c.count++;
    while (c.count > this.retention) {
      c.count--;
      if (++c.head === CHUNK) {
        c.chunks.shift();
        c.head = 0;
      }
    }
  }

  /**
   * Merges messages recovered out of log order (compaction copies of old retained messages) into a
   * conversation; used once after a replay. Duplicates are ignored and retention applies.
   */
  restore(conv: ConvKey, older: ChatMessage[]): void {
    const c = this.convs.get(conv);
    const all = c ? this.slice(c, 0, c.count) : [];
    const bySeq = new Map<number, ChatMessage>();
    for (const m of older) bySeq.set(m.seq, m);
    for (const m of all) bySeq.set(m.seq, m);
    const sorted = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    const fresh: Conversation = { last: c?.last ?? 0, chunks: [], head: 0, count: 0 };
    this.convs.set(conv, fresh);
    const keep = sorted.slice(Math.max(0, sorted.length - this.retention));
    for (let i = 0; i < keep.length; i += CHUNK) fresh.chunks.push(keep.slice(i, i + CHUNK));
    fresh.count = keep.length;
    const newest = sorted[sorted.length - 1];
    if (newest && newest.seq > fresh.last) fresh.last = newest.seq;
  }

  /**
   * Forgets one message (its write failed): it must never be served. Rare, so O(retained). When it
   * was the newest, its number is handed back, so the next message takes it and nobody ever sees a
   * gap: nobody saw this one. (A failed batch is removed oldest first; by the time its newest goes,
   * the others are gone from the index, so the number falls back past all of them.)
   */
  remove(conv: ConvKey, seq: number): void {
    const c = this.convs.get(conv);
    if (!c) return;
    const pos = this.lowerBound(c, seq);
    if (pos >= c.count || this.at(c, pos).seq !== seq) return;
    const rest = this.slice(c, 0, c.count);
    rest.splice(pos, 1);
    c.chunks = [];
    c.head = 0;
    for (let i = 0; i < rest.length; i += CHUNK) c.chunks.push(rest.slice(i, i + CHUNK));
    c.count = rest.length;
    if (seq === c.last) c.last = rest.length > 0 ? rest[rest.length - 1]!.seq : seq - 1;
  }

  history(conv: ConvKey, q: HistoryQuery): HistoryPage {
    const c = this.convs.get(conv);
    if (!c || c.count === 0) return { messages: [], more: false };
    const lo = q.after === undefined ? 0 : this.lowerBound(c, q.after + 1);
    const hi = q.before === undefined ? c.count : this.lowerBound(c, q.before);
    if (hi <= lo) return { messages: [], more: false };
    const start = Math.max(lo, hi - Math.max(0, q.limit));
    return { messages: this.slice(c, start, hi), more: start > lo };
  }

  /** Retained messages of `conv` with seq in [from, to], oldest first. */
  range(conv: ConvKey, from: number, to: number): ChatMessage[] {
    const c = this.convs.get(conv);
    if (!c) return [];
    return this.slice(c, this.lowerBound(c, from), this.lowerBound(c, to + 1));
  }

  *rooms(): Iterable<string> {
    for (const [key, c] of this.convs) {
      if (!key.startsWith('r:') || c.count === 0) continue;
      const room = this.at(c, c.count - 1).room;
      if (room !== undefined) yield room;
    }
  }

  /** Returns the user as stored: the first spelling wins, lastSeen is updated. */
  rememberUser(name: string, lastSeen: string): KnownUser {
    const key = nameKey(name);
    const prev = this.users.get(key);
    const user = { name: prev?.name ?? name, lastSeen };
    this.users.set(key, user);
    return user;
  }

  knownUser(userKey: string): KnownUser | undefined {
    return this.users.get(userKey);
  }

  knownUsers(): Iterable<KnownUser> {
    return this.users.values();
  }

  /** Queues an entry unless one with the same key is already queued (replays see copies). */
  inboxAdd(userKey: string, entry: InboxEntry): boolean {
    let inbox = this.inboxes.get(userKey);
    if (!inbox) this.inboxes.set(userKey, (inbox = new Map()));
    if (inbox.has(entry.key)) return false;
    inbox.set(entry.key, entry);
    return true;
  }

  inbox(userKey: string): ChatMessage[] {
    const inbox = this.inboxes.get(userKey);
    return inbox ? [...inbox.values()].map((e) => e.msg) : [];
  }

  inboxEntries(): Iterable<[string, InboxEntry]> {
    const self = this;
    return (function* () {
      for (const [user, inbox] of self.inboxes) for (const e of inbox.values()) yield [user, e] as [string, InboxEntry];
    })();
  }

  inboxEntry(userKey: string, key: string): InboxEntry | undefined {
    return this.inboxes.get(userKey)?.get(key);
  }

  /** Drops the first `count` entries and returns them. */
  inboxShift(userKey: string, count: number): InboxEntry[] {
    const inbox = this.inboxes.get(userKey);
    const out: InboxEntry[] = [];
    if (!inbox) return out;
    for (const e of inbox.values()) {
      if (out.length >= count) break;
      out.push(e);
    }
    for (const e of out) inbox.delete(e.key);
    if (inbox.size === 0) this.inboxes.delete(userKey);
    return out;
  }

  inboxRemove(userKey: string, keys: Iterable<string>): void {
    const inbox = this.inboxes.get(userKey);
    if (!inbox) return;
    for (const k of keys) inbox.delete(k);
    if (inbox.size === 0) this.inboxes.delete(userKey);
  }

  /** Puts every inbox in `order` order; needed only when a replay met compaction copies. */
  sortInboxes(): void {
    for (const [user, inbox] of this.inboxes) {
      const sorted = [...inbox.values()].sort((a, b) => a.order - b.order);
      this.inboxes.set(user, new Map(sorted.map((e) => [e.key, e])));
    }
  }

  private at(c: Conversation, pos: number): ChatMessage {
    const p = c.head + pos;
    return c.chunks[Math.floor(p / CHUNK)]![p % CHUNK]!;
  }

  private slice(c: Conversation, from: number, to: number): ChatMessage[] {
    const out: ChatMessage[] = new Array<ChatMessage>(Math.max(0, to - from));
    for (let i = from; i < to; i++) out[i - from] = this.at(c, i);
    return out;
  }

  /** First position whose seq is >= seq (seqs increase but may have gaps after damage or failures). */
  private lowerBound(c: Conversation, seq: number): number {
    let lo = 0;
    let hi = c.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(c, mid).seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
