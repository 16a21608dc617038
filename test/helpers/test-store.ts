// A Store for hub tests whose writes become durable only when the test says so (release/fail) and
// whose reads can be held (holdReads/releaseReads): with it a test can put a slow disk between any
// two steps of the hub and check that "history then live, no gap, no duplicate" still holds.
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/validate.js';
import { Amendments, toRecord } from '../../server/store/amendments.js';
import { NoSuchMessage, type Amended, type Change } from '../../server/store/store.js';
import type { Appended, ConvKey, Done, Draft, HistoryPage, HistoryQuery, InboxItem, KnownUser, MessageRef, Store, UserPage } from '../../server/store/store.js';

interface Pending {
  conv: ConvKey;
  msg: ChatMessage;
  inboxFor: string | undefined;
  done: Appended;
}

export class TestStore implements Store {
  private readonly durable = new Map<ConvKey, ChatMessage[]>();
  private readonly next = new Map<ConvKey, number>();
  private readonly inboxes = new Map<string, InboxItem[]>();
  private readonly known = new Map<string, KnownUser>();
  private queue: Pending[] = [];
  /** Appends made and appends settled (released or failed), for whenDurable's waiters. */
  private appended = 0;
  private settled = 0;
  private durableWaiters: { mark: number; done: Done }[] = [];
  private heldReads: (() => void)[] | undefined;
  failReads = false;
  private readonly amends = new Amendments();

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  append(conv: ConvKey, draft: Draft, inboxFor: string | undefined, done: Appended): void {
    const seq = (this.next.get(conv) ?? this.lastDurable(conv)) + 1;
    this.next.set(conv, seq);
    const msg: ChatMessage = { type: 'message', ...draft, seq, ts: new Date().toISOString() };
    this.queue.push({ conv, msg, inboxFor, done });
    this.appended++;
  }

  /** Released appends are durable at once: a waiter is answered once those before it settled. */
  whenDurable(done: Done): void {
    if (this.settled >= this.appended) return queueMicrotask(() => done(null));
    this.durableWaiters.push({ mark: this.appended, done });
  }

  private settle(n: number): void {
    this.settled += n;
    while (this.durableWaiters.length > 0 && this.durableWaiters[0]!.mark <= this.settled) this.durableWaiters.shift()!.done(null);
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Makes the oldest `n` pending appends durable, in order. */
  release(n = this.queue.length): void {
    for (const p of this.queue.splice(0, n)) {
      let list = this.durable.get(p.conv);
      if (!list) this.durable.set(p.conv, (list = []));
      list.push(p.msg);
      if (p.inboxFor !== undefined) {
        let inbox = this.inboxes.get(p.inboxFor);
        if (!inbox) this.inboxes.set(p.inboxFor, (inbox = []));
        inbox.push({ conv: p.conv, msg: p.msg });
      }
      p.done(null, p.msg);
      this.settle(1);
    }
  }

  /** Fails every pending append; their seqs go back to the next messages. */
  fail(): void {
    const failed = this.queue.splice(0);
    for (const p of failed) this.next.delete(p.conv);
    for (const p of failed) p.done(new Error('disk full'), undefined);
    this.settle(failed.length);
  }

  holdReads(): void {
    this.heldReads ??= [];
  }

  releaseReads(): void {
    const held = this.heldReads ?? [];
    this.heldReads = undefined;
    for (const go of held) go();
  }

  get heldReadCount(): number {
    return this.heldReads?.length ?? 0;
  }

  async history(conv: ConvKey, q: HistoryQuery): Promise<HistoryPage> {
    await this.gate();
    const all = (this.durable.get(conv) ?? []).filter((m) => (q.after === undefined || m.seq > q.after) && (q.before === undefined || m.seq < q.before));
    const view = (ms: ChatMessage[]): ChatMessage[] => ms.map((m) => this.amends.view(conv, m));
    if (q.from === 'oldest') return { messages: view(all.slice(0, q.limit)), more: all.length > q.limit };
    return { messages: view(all.slice(Math.max(0, all.length - q.limit))), more: all.length > q.limit };
  }

  async message(conv: ConvKey, seq: number): Promise<ChatMessage | undefined> {
    await this.gate();
    const m = this.durable.get(conv)?.find((x) => x.seq === seq);
    return m && this.amends.view(conv, m);
  }

  /** Amendments are durable at once (a microtask). */
  amend(conv: ConvKey, seq: number, change: Change, done: (err: Error | null, state: Amended | undefined) => void): void {
    if (!this.durable.get(conv)?.some((x) => x.seq === seq)) return queueMicrotask(() => done(new NoSuchMessage('no such message'), undefined));
    const state = this.amends.apply(toRecord(conv, seq, change));
    queueMicrotask(() => done(null, state));
  }

  async lastSeq(conv: ConvKey): Promise<number> {
    await this.gate();
    return this.lastDurable(conv);
  }

  async rooms(): Promise<string[]> {
    await this.gate();
    const out: string[] = [];
    for (const [conv, list] of this.durable) if (conv.startsWith('r:') && list[0]?.room) out.push(list[0].room);
    return out;
  }

  rememberUser(name: string, lastSeen: string): void {
    const key = nameKey(name);
    this.known.set(key, { name: this.known.get(key)?.name ?? name, lastSeen });
  }

  async knownUser(userKey: string): Promise<KnownUser | undefined> {
    await this.gate();
    return this.known.get(userKey);
  }

  async users(after: string | undefined, limit: number): Promise<UserPage> {
    await this.gate();
    const keys = [...this.known.keys()].filter((k) => after === undefined || k > after).sort();
    return { users: keys.slice(0, limit).map((k) => this.known.get(k)!), more: keys.length > limit };
  }

  async inbox(userKey: string, limit: number): Promise<InboxItem[]> {
    await this.gate();
    return (this.inboxes.get(userKey) ?? []).slice(0, limit);
  }

  markDelivered(userKey: string, refs: readonly MessageRef[], done: Done): void {
    const inbox = this.inboxes.get(userKey);
    if (inbox) this.inboxes.set(userKey, inbox.filter((i) => !refs.some((r) => r.conv === i.conv && r.seq === i.msg.seq)));
    queueMicrotask(() => done(null));
  }

  private lastDurable(conv: ConvKey): number {
    const list = this.durable.get(conv);
    return list?.[list.length - 1]?.seq ?? 0;
  }

  private gate(): Promise<void> {
    if (this.failReads) return Promise.reject(new Error('disk gone'));
    if (!this.heldReads) return Promise.resolve();
    return new Promise((resolve) => this.heldReads!.push(resolve));
  }
}
