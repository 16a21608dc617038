// Room topics: a stored room property (shown to Parley clients on join, and by the IRC listener), kept
// apart from the message log because it is tiny and changes rarely. Behind an interface so a cluster
// can keep it in Redis; here in memory (--memory) or in `topics.log` beside the log (a RecordFile).
import { RecordFile } from './record-file.js';

export interface Topic {
  text: string;
  /** Who set it. */
  by: string;
  /** ISO time it was set. */
  ts: string;
}

export interface TopicStore {
  open(): Promise<void>;
  close(): Promise<void>;
  get(roomKey: string): Promise<Topic | undefined>;
  /** An empty text clears the topic. */
  set(roomKey: string, topic: Topic): Promise<void>;
}

export class MemoryTopics implements TopicStore {
  protected readonly topics = new Map<string, Topic>();
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async get(roomKey: string): Promise<Topic | undefined> {
    return this.topics.get(roomKey);
  }
  async set(roomKey: string, topic: Topic): Promise<void> {
    this.apply({ room: roomKey, ...topic });
  }
  protected apply(rec: TopicRecord): void {
    if (rec.text === '') this.topics.delete(rec.room);
    else this.topics.set(rec.room, { text: rec.text, by: rec.by, ts: rec.ts });
  }
}

interface TopicRecord extends Topic {
  room: string;
}

function asTopicRecord(v: unknown): TopicRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  return typeof r.room === 'string' && typeof r.text === 'string' && typeof r.by === 'string' && typeof r.ts === 'string'
    ? { room: r.room, text: r.text, by: r.by, ts: r.ts }
    : undefined;
}

export const TOPICS_FILE = 'topics.log';

export class FileTopics extends MemoryTopics {
  private readonly file: RecordFile<TopicRecord>;

  constructor(dir: string, warn: (line: string) => void) {
    super();
    this.file = new RecordFile(dir, TOPICS_FILE, asTopicRecord, warn);
  }

  override async open(): Promise<void> {
    const lines = this.file.replay((rec) => this.apply(rec));
    if (lines > 2 * this.topics.size + 100) this.file.rewrite([...this.topics].map(([room, t]) => ({ room, ...t })));
    await this.file.open();
  }

  override async close(): Promise<void> {
    await this.file.close();
  }

  override async set(roomKey: string, topic: Topic): Promise<void> {
    const rec = { room: roomKey, ...topic };
    await this.file.append(rec);
    this.apply(rec);
  }
}
