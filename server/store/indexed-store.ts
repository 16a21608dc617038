// The read side both stores share. Every retained message, known user and undelivered direct message
// lives in the in-memory index, so reads are answered from it alone; what differs between the stores
// is only how (and whether) a write reaches the disk before its `done`.
import type { ChatMessage } from '../../protocol/messages.js';
import { ConversationIndex } from './conversations.js';
import type { ConvKey, Done, HistoryPage, HistoryQuery, KnownUser, Store } from './store.js';

export abstract class IndexedStore implements Store {
  protected readonly index: ConversationIndex;

  constructor(historyPerRoom: number) {
    this.index = new ConversationIndex(historyPerRoom);
  }

  abstract open(): Promise<void>;
  abstract close(): Promise<void>;
  abstract appendMessage(conv: ConvKey, msg: ChatMessage, offlineRecipient: string | undefined, done: Done): void;
  abstract rememberUser(name: string, lastSeen: string): void;
  abstract markDelivered(userKey: string, count: number, done: Done): void;

  lastSeq(conv: ConvKey): number {
    return this.index.lastSeq(conv);
  }

  history(conv: ConvKey, query: HistoryQuery): HistoryPage {
    return this.index.history(conv, query);
  }

  rooms(): Iterable<string> {
    return this.index.rooms();
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
}
