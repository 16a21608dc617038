// --memory: the shared index with nothing behind it. `done` runs as a microtask so callers see the
// same asynchronous contract as the file store, in append order.
import type { ChatMessage } from '../../protocol/messages.js';
import { inboxKey } from './conversations.js';
import { IndexedStore } from './indexed-store.js';
import type { ConvKey, Done } from './store.js';

export interface MemoryStoreOptions {
  historyPerRoom: number;
}

export class MemoryStore extends IndexedStore {
  private order = 0;

  constructor(opts: MemoryStoreOptions) {
    super(opts.historyPerRoom);
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  appendMessage(conv: ConvKey, msg: ChatMessage, offlineRecipient: string | undefined, done: Done): void {
    this.index.add(conv, msg);
    if (offlineRecipient !== undefined) {
      this.index.inboxAdd(offlineRecipient, { key: inboxKey(conv, msg.seq), conv, msg, order: this.order++, seg: 0 });
    }
    queueMicrotask(() => done(null));
  }

  rememberUser(name: string, lastSeen: string): void {
    this.index.rememberUser(name, lastSeen);
  }

  markDelivered(userKey: string, count: number, done: Done): void {
    this.index.inboxShift(userKey, count);
    queueMicrotask(() => done(null));
  }
}
