// PLACEHOLDER (lead): the store helper replaces this with the append-only log store.
import { MemoryStore } from './memory-store.js';

export interface FileStoreOptions {
  dir: string;
  fsync: 'always' | 'batch' | 'off';
  historyPerRoom: number;
  log: (line: string) => void;
}

export class FileStore extends MemoryStore {
  constructor(opts: FileStoreOptions) {
    super({ historyPerRoom: opts.historyPerRoom });
  }
}
