// --memory: the Store contract with nothing behind it. Messages live in the heap, newest
// --history-per-room per conversation. A client's message id (`mid`) is remembered for as many of a
// conversation's messages, so a resent message is answered with the first one instead of stored
// twice. A message is stored (visible, and as durable as it will ever be) in a microtask, so callers
// see the same asynchronous contract as the file store, in append order.
// --max-store-bytes counts each message as the file store would write it; over it, the oldest
// messages of all conversations go first, but never a conversation's newest (as in the file store).
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { humanBytes } from './byte-size.js';
import { Inboxes } from './inboxes.js';
import { KEEP_EVERYONE, KnownUsers, type ForgetPolicy } from './known-users.js';
import { stamp, type Numbering } from './numbering.js';
import { pageSpan } from './page-span.js';
import { chatMessage, encodeMessage } from './record-codec.js';
import { HEADER_BYTES } from './log-format.js';
import { Amendments, toRecord } from './amendments.js';
import { searchTerms } from '../../protocol/search-terms.js';
import { SearchIndex } from './search-index.js';
import { runSearch } from './search-query.js';
import { InboxFull, NoSuchMessage, type Amended, type Change } from './store.js';
import type { Appended, ConvKey, Done, Draft, HistoryPage, HistoryQuery, InboxItem, KnownUser, MessageRef, SearchPage, SearchQuery, Seen, Store, StoreUsage, UserPage } from './store.js';

export interface MemoryStoreOptions {
  historyPerRoom: number;
  /** When offline guests are forgotten (default: never). */
  forget?: ForgetPolicy;
  /** Undelivered messages one offline inbox may hold; more are refused with InboxFull (0 = no bound). */
  maxInbox?: number;
  /** The clock the forget policy reads; tests pass their own. */
  now?: () => number;
  /** Bytes the retained messages may add up to before the oldest are dropped (0 = no budget). */
  maxBytes?: number;
  /** Where the line saying what the budget dropped goes. */
  log?: (line: string) => void;
}

interface Conv extends Numbering {
  key: ConvKey;
  room: string | undefined;
  /** Retained messages are msgs[head..], oldest first. */
  msgs: ChatMessage[];
  /** Bytes of each message in msgs, as the file store would write it. */
  sizes: number[];
  head: number;
  /** `<sender key>\n<mid>` -> the message stored with it; the oldest forgotten beyond retention. */
  mids: Map<string, ChatMessage> | undefined;
}

/** Past the budget, this share of it is freed besides (1/64: at most ~160 MiB of 10 GiB at once). */
const BUDGET_SLACK = 64;

/** A message in the order all conversations received them: the budget drops from the front. */
interface Aged {
  c: Conv;
  seq: number;
}

export class MemoryStore implements Store {
  private readonly convs = new Map<ConvKey, Conv>();
  private readonly known: KnownUsers;
  private readonly inboxes = new Inboxes();
  private order = 0;
  /** Estimated bytes of the retained messages (as the file store would write them). */
  private bytes = 0;
  /** Retained messages (all conversations), to know when `aged` holds mostly stale entries. */
  private retained = 0;
  /** Messages oldest first, for the byte budget; entries for messages gone since are skipped. */
  private aged: Aged[] = [];
  private agedHead = 0;
  private readonly amends = new Amendments();
  /** The search index; documents are keyed by `stored`, the order messages became durable in. */
  private readonly words = new SearchIndex();
  private stored = 0;

  constructor(private readonly opts: MemoryStoreOptions) {
    this.known = new KnownUsers(opts.forget ?? KEEP_EVERYONE, undefined, opts.now);
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  append(conv: ConvKey, draft: Draft, inboxFor: string | undefined, done: Appended): void {
    if (draft.room === undefined && draft.to === undefined) return queueMicrotask(() => done(new Error('a message needs a room or a recipient'), undefined));
    let c = this.convs.get(conv);
    if (!c) this.convs.set(conv, (c = { key: conv, room: undefined, msgs: [], sizes: [], head: 0, assigned: 0, stored: 0, lastTs: '', mids: undefined }));
    const midKey = draft.mid === undefined ? undefined : `${nameKey(draft.from)}\n${draft.mid}`;
    const first = midKey === undefined ? undefined : c.mids?.get(midKey);
    // Answered after the first one's done (both are microtasks, queued in order); before the inbox
    // bound, since a repeat takes no new room there.
    if (first) return queueMicrotask(() => done(null, first, true));
    const maxInbox = this.opts.maxInbox ?? 0;
    if (inboxFor !== undefined && !this.inboxes.fits(inboxFor, maxInbox, (x) => this.find(x.conv, x.seq) !== undefined)) {
      return queueMicrotask(() => done(new InboxFull(maxInbox), undefined));
    }
    if (inboxFor !== undefined) this.inboxes.begin(inboxFor);
    const { seq, ts } = stamp(c);
    const msg = chatMessage(draft.room, draft.room === undefined ? draft.to : undefined, draft.from, draft.text, seq, ts, draft.action === true, draft.guest === true, draft.mentions);
    if (midKey !== undefined) {
      const mids = (c.mids ??= new Map());
      mids.set(midKey, msg);
      if (mids.size > this.opts.historyPerRoom) mids.delete(mids.keys().next().value!);
    }
    const conversation = c;
    // The record's length without building it (no buffer, no CRC): the same count as the file store's.
    const size = HEADER_BYTES + Buffer.byteLength(encodeMessage('M', conv, msg, inboxFor));
    queueMicrotask(() => {
      this.add(conversation, msg, size);
      if (inboxFor !== undefined) {
        this.inboxes.settled(inboxFor);
        this.inboxes.add(inboxFor, { conv, seq, order: this.order++, seg: 0 });
      }
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
    if (change.kind === 'edit') this.words.edited(conv, seq, searchTerms(change.text));
    queueMicrotask(() => done(null, state));
  }

  search(query: SearchQuery): Promise<SearchPage> {
    return runSearch(
      {
        index: this.words,
        alive: (conv, seq) => this.find(conv, seq) !== undefined,
        load: (docs) => Promise.all(docs.map((d) => this.message(d.conv, d.seq))),
      },
      query,
    );
  }

  lastSeq(conv: ConvKey): Promise<number> {
    return Promise.resolve(this.convs.get(conv)?.stored ?? 0);
  }

  rooms(): Promise<string[]> {
    const out: string[] = [];
    for (const c of this.convs.values()) if (c.room !== undefined && c.msgs.length > c.head && c.key.startsWith('r:')) out.push(c.room);
    return Promise.resolve(out);
  }

  rememberUser(name: string, lastSeen: string, seen?: Seen): void {
    this.known.remember(name, lastSeen, seen);
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

  usage(): StoreUsage {
    return { knownUsers: this.known.size, bytes: this.bytes };
  }

  private add(c: Conv, msg: ChatMessage, size: number): void {
    c.stored = msg.seq;
    if (msg.room !== undefined) c.room = msg.room;
    c.msgs.push(msg);
    this.words.add(c.key, msg.seq, ++this.stored, searchTerms(msg.text));
    c.sizes.push(size);
    this.bytes += size;
    this.retained++;
    const budget = this.opts.maxBytes ?? 0;
    if (budget > 0) {
      this.aged.push({ c, seq: msg.seq });
      this.sweepAged();
    }
    if (c.msgs.length - c.head > this.opts.historyPerRoom) this.dropOldest(c);
    if (budget > 0 && this.bytes > budget) this.overBudget(budget);
  }

  /** Drops the oldest retained message of a conversation (retention, or the byte budget). */
  private dropOldest(c: Conv): void {
    this.bytes -= c.sizes[c.head]!;
    c.head++;
    this.retained--;
    const oldest = c.msgs[c.head]?.seq ?? Infinity;
    if (this.amends.has(c.key)) this.amends.prune(c.key, (seq) => seq >= oldest);
    this.words.retired((conv, seq) => this.find(conv, seq) !== undefined);
    // Drop the dead front now and then: amortised O(1), and never a copy of more than twice the retention.
    if (c.head > 1024 && c.head * 2 > c.msgs.length) {
      c.msgs = c.msgs.slice(c.head);
      c.sizes = c.sizes.slice(c.head);
      c.head = 0;
    }
  }

  /**
   * The oldest messages of all conversations go until the budget is met with a little room to spare
   * (BUDGET_SLACK), so a server at its budget drops and logs now and then, not at every message; each
   * conversation's newest stays.
   */
  private overBudget(budget: number): void {
    const before = this.bytes;
    const target = budget - Math.floor(budget / BUDGET_SLACK);
    const touched = new Set<Conv>();
    let messages = 0;
    // Entries passed over (a conversation's newest) go back at the end: each is looked at once per call.
    const rounds = this.aged.length - this.agedHead;
    for (let i = 0; i < rounds && this.bytes > target; i++) {
      const e = this.aged[this.agedHead++]!;
      const c = e.c;
      const first = c.msgs[c.head];
      if (!first || first.seq > e.seq) continue; // gone already, by retention
      if (c.msgs.length - c.head === 1) {
        this.aged.push(e);
        continue;
      }
      this.dropOldest(c);
      touched.add(c);
      messages++;
    }
    if (this.agedHead > 1024 && this.agedHead * 2 > this.aged.length) {
      this.aged = this.aged.slice(this.agedHead);
      this.agedHead = 0;
    }
    if (messages > 0) {
      const convs = touched.size;
      this.opts.log?.(`store: over --max-store-bytes (${humanBytes(before)} > ${humanBytes(budget)}): dropped the ${messages} oldest messages of ${convs} conversation${convs === 1 ? '' : 's'}; now ${humanBytes(this.bytes)}`);
    }
  }

  /** Entries for messages retention dropped pile up when the budget is rarely reached: swept now and then. */
  private sweepAged(): void {
    if (this.aged.length - this.agedHead <= 2 * this.retained + 1024) return;
    this.aged = this.aged.slice(this.agedHead).filter((x) => (x.c.msgs[x.c.head]?.seq ?? Infinity) <= x.seq);
    this.agedHead = 0;
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
