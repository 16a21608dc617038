// The file store's memory of client message ids (`mid`): which seq a sender's mid got in a
// conversation, so a message resent after a lost ack is answered with the first one's seq instead of
// being stored twice. Bounded: the oldest ids are forgotten beyond `cap` (a client resends within
// seconds or minutes, not after tens of thousands of other messages). The log records themselves do
// not carry the mid, so a restart keeps the table only through the snapshot written at a clean close
// (mids.jsonl); after a crash it starts empty.
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { RecordFile } from '../kv/record-file.js';
import type { Appended, ConvKey } from './store.js';

export const MIDS_FILE = 'mids.jsonl';
export const DEFAULT_MIDS_REMEMBERED = 65_536;

interface Entry {
  seq: number;
  ts: string;
  /** Repeats that arrived while the first was still being written: answered when it settles. */
  waiting?: { done: Appended; repeat: ChatMessage }[];
  /** The first one is stored (its done has run); until then repeats wait. */
  stored: boolean;
}

/** One line of mids.jsonl: key, seq, ts. */
interface MidRecord {
  k: string;
  s: number;
  ts: string;
}

function asMidRecord(v: unknown): MidRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  return typeof r.k === 'string' && Number.isSafeInteger(r.s) && (r.s as number) >= 1 && typeof r.ts === 'string' ? { k: r.k, s: r.s as number, ts: r.ts } : undefined;
}

export function midKey(conv: ConvKey, from: string, mid: string): string {
  return `${conv}\n${nameKey(from)}\n${mid}`;
}

export class MidTable {
  private readonly entries = new Map<string, Entry>();
  private file: RecordFile<MidRecord> | undefined;

  constructor(private readonly cap: number = DEFAULT_MIDS_REMEMBERED) {}

  /** Reads the snapshot of the last clean close, if any. */
  load(dir: string, warn: (line: string) => void): void {
    this.file = new RecordFile(dir, MIDS_FILE, asMidRecord, warn);
    this.file.replay((r) => this.remember(r.k, { seq: r.s, ts: r.ts, stored: true }));
  }

  /** Writes the stored entries for the next start (only after every append has settled). */
  save(): void {
    this.file?.rewrite(this.records());
  }

  /**
   * A repeat of a known mid: `answer` builds the reply from the first message's seq and ts. Returns
   * false when the mid is new.
   */
  repeat(key: string, answer: (seq: number, ts: string) => ChatMessage, done: Appended): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    const msg = answer(e.seq, e.ts);
    if (e.stored) queueMicrotask(() => done(null, msg, true));
    else (e.waiting ??= []).push({ done, repeat: msg });
    return true;
  }

  /** A message with this mid was numbered and is being written. */
  started(key: string, seq: number, ts: string): void {
    this.remember(key, { seq, ts, stored: false });
  }

  /** It is stored: repeats waiting for it get its seq (their acks still wait for whenDurable). */
  stored(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.stored = true;
    const waiting = e.waiting;
    e.waiting = undefined;
    for (const w of waiting ?? []) w.done(null, w.repeat, true);
  }

  /** It was not stored: the mid is free again, and repeats waiting for it fail as it did. */
  failed(key: string, err: Error): void {
    const e = this.entries.get(key);
    if (!e || e.stored) return;
    this.entries.delete(key);
    for (const w of e.waiting ?? []) w.done(err, undefined);
  }

  private remember(key: string, e: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.cap) {
      // Never forget one still being written: its repeats wait on it.
      for (const [k, old] of this.entries) {
        if (this.entries.size <= this.cap) break;
        if (old.stored) this.entries.delete(k);
      }
    }
  }

  private *records(): Iterable<MidRecord> {
    for (const [k, e] of this.entries) if (e.stored) yield { k, s: e.seq, ts: e.ts };
  }
}
