// What happened to stored messages after they were written: edits, deletions, reactions. Kept per
// conversation and seq for the amended messages only (most are never amended), applied to every
// message the store hands out (history, inbox), so readers always see the latest state. FileStore
// makes them durable in `amends.jsonl` (a RecordFile beside the segments); MemoryStore keeps them here.
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { Amended, Change, ConvKey } from './store.js';

interface State {
  text?: string;
  editedTs?: string;
  deleted?: true;
  /** Emoji to the display names of who reacted with it, in order of first reaction. */
  reactions?: Map<string, string[]>;
}

/** One line of amends.jsonl. */
export interface AmendRecord {
  c: ConvKey;
  s: number;
  /** e edit, d delete, r react, u unreact. */
  k: 'e' | 'd' | 'r' | 'u';
  x?: string;
  ts?: string;
  e?: string;
  n?: string;
}

export function toRecord(conv: ConvKey, seq: number, ch: Change): AmendRecord {
  switch (ch.kind) {
    case 'edit':
      return { c: conv, s: seq, k: 'e', x: ch.text, ts: ch.ts };
    case 'delete':
      return { c: conv, s: seq, k: 'd', ts: ch.ts };
    case 'react':
      return { c: conv, s: seq, k: ch.on ? 'r' : 'u', e: ch.emoji, n: ch.name };
  }
}

export function fromRecord(v: unknown): AmendRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.c !== 'string' || !Number.isSafeInteger(r.s) || (r.s as number) < 1) return undefined;
  const base = { c: r.c, s: r.s as number };
  if (r.k === 'e' && typeof r.x === 'string' && typeof r.ts === 'string') return { ...base, k: 'e', x: r.x, ts: r.ts };
  if (r.k === 'd' && typeof r.ts === 'string') return { ...base, k: 'd', ts: r.ts };
  if ((r.k === 'r' || r.k === 'u') && typeof r.e === 'string' && typeof r.n === 'string') return { ...base, k: r.k, e: r.e, n: r.n };
  return undefined;
}

export class Amendments {
  private readonly byConv = new Map<ConvKey, Map<number, State>>();

  get size(): number {
    let n = 0;
    for (const m of this.byConv.values()) n += m.size;
    return n;
  }

  /** Applies one change; returns the message's amended state. */
  apply(rec: AmendRecord): Amended {
    let m = this.byConv.get(rec.c);
    if (!m) this.byConv.set(rec.c, (m = new Map()));
    let st = m.get(rec.s);
    if (!st) m.set(rec.s, (st = {}));
    switch (rec.k) {
      case 'e':
        if (!st.deleted) {
          st.text = rec.x!;
          st.editedTs = rec.ts!;
        }
        break;
      case 'd':
        st.deleted = true;
        st.text = undefined;
        st.reactions = undefined;
        break;
      case 'r':
      case 'u': {
        if (st.deleted) break;
        const key = nameKey(rec.n!);
        const names = st.reactions?.get(rec.e!);
        const at = names ? names.findIndex((n) => nameKey(n) === key) : -1;
        if (rec.k === 'r' && at < 0) {
          st.reactions ??= new Map();
          if (names) names.push(rec.n!);
          else st.reactions.set(rec.e!, [rec.n!]);
        } else if (rec.k === 'u' && names && at >= 0) {
          names.splice(at, 1);
          if (names.length === 0) st.reactions!.delete(rec.e!);
        }
        break;
      }
    }
    return amended(st);
  }

  get(conv: ConvKey, seq: number): Amended | undefined {
    const st = this.byConv.get(conv)?.get(seq);
    return st ? amended(st) : undefined;
  }

  /** The message as readers see it now: a copy when amended, else the message itself. */
  view(conv: ConvKey, msg: ChatMessage): ChatMessage {
    const st = this.byConv.get(conv)?.get(msg.seq);
    if (!st) return msg;
    const out: ChatMessage = { ...msg };
    if (st.deleted) {
      out.text = '';
      out.deleted = true;
      delete out.mentions;
      return out;
    }
    if (st.text !== undefined) {
      out.text = st.text;
      out.editedTs = st.editedTs!;
    }
    if (st.reactions && st.reactions.size > 0) out.reactions = counts(st.reactions);
    return out;
  }

  /** Forgets the amendments of messages that are no longer retained. */
  prune(conv: ConvKey, retained: (seq: number) => boolean): void {
    const m = this.byConv.get(conv);
    if (!m) return;
    for (const seq of m.keys()) if (!retained(seq)) m.delete(seq);
    if (m.size === 0) this.byConv.delete(conv);
  }

  has(conv: ConvKey): boolean {
    return this.byConv.has(conv);
  }

  convs(): ConvKey[] {
    return [...this.byConv.keys()];
  }

  /** The live state as records, for rewriting the file. */
  *records(): Iterable<AmendRecord> {
    for (const [c, m] of this.byConv) {
      for (const [s, st] of m) {
        if (st.deleted) yield { c, s, k: 'd', ts: st.editedTs ?? '' };
        else {
          if (st.text !== undefined) yield { c, s, k: 'e', x: st.text, ts: st.editedTs! };
          for (const [e, names] of st.reactions ?? []) for (const n of names) yield { c, s, k: 'r', e, n };
        }
      }
    }
  }
}

function counts(r: Map<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [e, names] of r) out[e] = [...names];
  return out;
}

function amended(st: State): Amended {
  if (st.deleted) return { deleted: true };
  const a: Amended = { reactions: st.reactions ? counts(st.reactions) : {} };
  if (st.text !== undefined) {
    a.text = st.text;
    a.editedTs = st.editedTs!;
  }
  return a;
}
