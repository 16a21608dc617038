// --memory: the shared index with nothing behind it. `done` runs as a microtask so callers see the
// same asynchronous contract as the file store, in append order.
import type { ChatMessage } from '../../protocol/messages.js';
import { ConversationIndex, inboxKey } from './conversations.js';
import type { ConvKey, Done, HistoryPage, HistoryQuery, KnownUser, Store } from './store.js';

export interface MemoryStoreOptions {
  historyPerRoom: number;
}

export class MemoryStore implements Store {
  private readonly index: ConversationIndex;
  private order = 0;

  constructor(opts: MemoryStoreOptions) {
    this.index = new ConversationIndex(opts.historyPerRoom);
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  lastSeq(conv: ConvKey): number {
    return this.index.lastSeq(conv);
  }

  appendMessage(conv: ConvKey, msg: ChatMessage, offlineRecipient: string | undefined, done: Done): void {
    this.index.add(conv, msg);
    if (offlineRecipient !== undefined) {
      this.index.inboxAdd(offlineRecipient, { key: inboxKey(conv, msg.seq), conv, msg, order: this.order++, seg: 0 });
    }
    queueMicrotask(() => done(null));
  }

  history(conv: ConvKey, query: HistoryQuery): HistoryPage {
    return this.index.history(conv, query);
  }

  rooms(): Iterable<string> {
    return this.index.rooms();
  }

  rememberUser(name: string, lastSeen: string): void {
    this.index.rememberUser(name, lastSeen);
  }

  knownUser(userKey: string): KnownUser | undefined {
    return this.index.knownUser(userKey);
  }

  knownUsers(): Iterable<KnownUser> {
    return this.index.knownUsers();
  }

  inbox(userKey: string): ChatMessage[] {
    return this.index.inbox(userKey);
  }

  markDelivered(userKey: string, count: number, done: Done): void {
    this.index.inboxShift(userKey, count);
    queueMicrotask(() => done(null));
  }
}
