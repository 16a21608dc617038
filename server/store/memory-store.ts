// --memory: the Store contract with nothing behind it. Messages live in the heap, newest
// --history-per-room per conversation. A client's message id (`mid`) is remembered for as many of a
// conversation's messages, so a resent message is answered with the first one instead of stored
// twice. A message is stored (visible, and as durable as it will ever be) in a microtask, so callers
// see the same asynchronous contract as the file store, in append order.
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { Inboxes } from './inboxes.js';
import { KnownUsers } from './known-users.js';
import { stamp, type Numbering } from './numbering.js';
import { pageSpan } from './page-span.js';
import { chatMessage } from './record-codec.js';
import { Amendments, toRecord } from './amendments.js';
import { NoSuchMessage, type Amended, type Change } from './store.js';
import type { Appended, ConvKey, Done, Draft, HistoryPage, HistoryQuery, InboxItem, KnownUser, MessageRef, Store, UserPage } from './store.js';

export interface MemoryStoreOptions {
  historyPerRoom: number;
}

interface Conv extends Numbering {
  key: ConvKey;
  room: string | undefined;
  /** Retained messages are msgs[head..], oldest first. */
  msgs: ChatMessage[];
  head: number;
  /** `<sender key>\n<mid>` -> the message stored with it; the oldest forgotten beyond retention. */
  mids: Map<string, ChatMessage> | undefined;
}

export class MemoryStore implements Store {
  private readonly convs = new Map<ConvKey, Conv>();
  private readonly known = new KnownUsers();
  private readonly inboxes = new Inboxes();
  private order = 0;
  private readonly amends = new Amendments();

  constructor(private readonly opts: MemoryStoreOptions) {}

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  append(conv: ConvKey, draft: Draft, inboxFor: string | undefined, done: Appended): void {
    if (draft.room === undefined && draft.to === undefined) return queueMicrotask(() => done(new Error('a message needs a room or a recipient'), undefined));
    let c = this.convs.get(conv);
    if (!c) this.convs.set(conv, (c = { key: conv, room: undefined, msgs: [], head: 0, assigned: 0, stored: 0, lastTs: '', mids: undefined }));
    const midKey = draft.mid === undefined ? undefined : `${nameKey(draft.from)}\n${draft.mid}`;
    const first = midKey === undefined ? undefined : c.mids?.get(midKey);
    // Answered after the first one's done (both are microtasks, queued in order).
    if (first) return queueMicrotask(() => done(null, first, true));
    const { seq, ts } = stamp(c);
    const msg = chatMessage(draft.room, draft.room === undefined ? draft.to : undefined, draft.from, draft.text, seq, ts, draft.action === true, draft.guest === true, draft.mentions);
    if (midKey !== undefined) {
      const mids = (c.mids ??= new Map());
      mids.set(midKey, msg);
      if (mids.size > this.opts.historyPerRoom) mids.delete(mids.keys().next().value!);
    }
    const conversation = c;
    queueMicrotask(() => {
      this.add(conversation, msg);
      if (inboxFor !== undefined) this.inboxes.add(inboxFor, { conv, seq, order: this.order++, seg: 0 });
      done(null, msg);
    });
  }

  whenDurable(done: Done): void {
    // After the microtasks of every earlier append: nothing here is slower than that.
    queueMicrotask(() => done(null));
  }

  history(conv: ConvKey, query: HistoryQuery): Promise<HistoryPage> {
    const c = this.convs.get(conv);
    if (!c) return Promise.resolve({ messages: [], more: false });
    const span = pageSpan(c.msgs.length - c.head, (s) => this.lowerBound(c, s), query);
    const messages = c.msgs.slice(c.head + span.start, c.head + span.end).map((m) => this.amends.view(conv, m));
    return Promise.resolve({ messages, more: span.more });
  }

  message(conv: ConvKey, seq: number): Promise<ChatMessage | undefined> {
    const m = this.find(conv, seq);
    return Promise.resolve(m && this.amends.view(conv, m));
  }

  amend(conv: ConvKey, seq: number, change: Change, done: (err: Error | null, state: Amended | undefined) => void): void {
    if (!this.find(conv, seq)) return queueMicrotask(() => done(new NoSuchMessage(`no message ${seq} in ${conv}`), undefined));
    const state = this.amends.apply(toRecord(conv, seq, change));
    queueMicrotask(() => done(null, state));
  }

  lastSeq(conv: ConvKey): Promise<number> {
    return Promise.resolve(this.convs.get(conv)?.stored ?? 0);
  }

  rooms(): Promise<string[]> {
    const out: string[] = [];
    for (const c of this.convs.values()) if (c.room !== undefined && c.msgs.length > c.head && c.key.startsWith('r:')) out.push(c.room);
    return Promise.resolve(out);
  }

  rememberUser(name: string, lastSeen: string): void {
    this.known.remember(name, lastSeen);
  }

  knownUser(userKey: string): Promise<KnownUser | undefined> {
    return Promise.resolve(this.known.get(userKey));
  }

  users(after: string | undefined, limit: number): Promise<UserPage> {
    return Promise.resolve(this.known.page(after, limit));
  }

  inbox(userKey: string, limit: number): Promise<InboxItem[]> {
    const out: InboxItem[] = [];
    for (const e of this.inboxes.list(userKey, limit, (x) => this.find(x.conv, x.seq) !== undefined)) {
      out.push({ conv: e.conv, msg: this.amends.view(e.conv, this.find(e.conv, e.seq)!) });
    }
    return Promise.resolve(out);
  }

  markDelivered(userKey: string, refs: readonly MessageRef[], done: Done): void {
    this.inboxes.remove(userKey, refs);
    queueMicrotask(() => done(null));
  }

  private add(c: Conv, msg: ChatMessage): void {
    c.stored = msg.seq;
    if (msg.room !== undefined) c.room = msg.room;
    c.msgs.push(msg);
    if (c.msgs.length - c.head > this.opts.historyPerRoom) {
      c.head++;
      const oldest = c.msgs[c.head]!.seq;
      if (this.amends.has(c.key)) this.amends.prune(c.key, (seq) => seq >= oldest);
    }
    // Drop the dead front now and then: amortised O(1), and never a copy of more than twice the retention.
    if (c.head > 1024 && c.head * 2 > c.msgs.length) {
      c.msgs = c.msgs.slice(c.head);
      c.head = 0;
    }
  }

  private lowerBound(c: Conv, seq: number): number {
    let lo = c.head;
    let hi = c.msgs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c.msgs[mid]!.seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - c.head;
  }

  private find(conv: ConvKey, seq: number): ChatMessage | undefined {
    const c = this.convs.get(conv);
    if (!c) return undefined;
    const m = c.msgs[c.head + this.lowerBound(c, seq)];
    return m?.seq === seq ? m : undefined;
  }
}
