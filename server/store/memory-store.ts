// PLACEHOLDER (lead): a minimal in-memory Store so the hub runs; the store helper replaces it.
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/validate.js';
import type { ConvKey, Done, HistoryPage, HistoryQuery, KnownUser, Store } from './store.js';

export interface MemoryStoreOptions {
  historyPerRoom: number;
}

export class MemoryStore implements Store {
  private readonly convs = new Map<ConvKey, { last: number; messages: ChatMessage[] }>();
  private readonly users = new Map<string, KnownUser>();
  private readonly inboxes = new Map<string, ChatMessage[]>();

  constructor(private readonly opts: MemoryStoreOptions) {}

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  lastSeq(conv: ConvKey): number {
    return this.convs.get(conv)?.last ?? 0;
  }

  appendMessage(conv: ConvKey, msg: ChatMessage, offlineRecipient: string | undefined, done: Done): void {
    let c = this.convs.get(conv);
    if (!c) this.convs.set(conv, (c = { last: 0, messages: [] }));
    c.last = msg.seq;
    c.messages.push(msg);
    if (c.messages.length > this.opts.historyPerRoom) c.messages.shift();
    if (offlineRecipient !== undefined) {
      let inbox = this.inboxes.get(offlineRecipient);
      if (!inbox) this.inboxes.set(offlineRecipient, (inbox = []));
      inbox.push(msg);
    }
    queueMicrotask(() => done(null));
  }

  history(conv: ConvKey, q: HistoryQuery): HistoryPage {
    const all = (this.convs.get(conv)?.messages ?? []).filter(
      (m) => (q.after === undefined || m.seq > q.after) && (q.before === undefined || m.seq < q.before),
    );
    const messages = all.slice(Math.max(0, all.length - q.limit));
    return { messages, more: all.length > messages.length };
  }

  *rooms(): Iterable<string> {
    for (const c of this.convs.values()) {
      const room = c.messages[0]?.room;
      if (room !== undefined) yield room;
    }
  }

  rememberUser(name: string, lastSeen: string): void {
    const key = nameKey(name);
    const prev = this.users.get(key);
    this.users.set(key, { name: prev?.name ?? name, lastSeen });
  }

  knownUser(userKey: string): KnownUser | undefined {
    return this.users.get(userKey);
  }

  knownUsers(): Iterable<KnownUser> {
    return this.users.values();
  }

  inbox(userKey: string): ChatMessage[] {
    return [...(this.inboxes.get(userKey) ?? [])];
  }

  markDelivered(userKey: string, count: number, done: Done): void {
    this.inboxes.get(userKey)?.splice(0, count);
    queueMicrotask(() => done(null));
  }
}
