// How a message is kept in a stream entry and carried in a notice. The node that sends a message
// encodes its draft; Redis adds the seq and the ts (ms) in the append script; every reader rebuilds
// the same ChatMessage from the three. What comes back from Redis is checked, never trusted: an entry
// of the wrong shape is skipped (and logged by the caller) rather than sent to clients.
import type { ChatMessage } from '../../protocol/messages.js';
import type { ConvKey, Draft } from '../store/store.js';

/** The draft as kept in the entry: the mid is the script's business (its own key), not the message's. */
type StoredDraft = Omit<Draft, 'mid'>;

export function encodeDraft(d: Draft): string {
  const s: StoredDraft = d.room !== undefined ? { room: d.room, from: d.from, text: d.text } : { to: d.to, from: d.from, text: d.text };
  if (d.action === true) s.action = true;
  if (d.guest === true) s.guest = true;
  if (d.mentions !== undefined && d.mentions.length > 0) s.mentions = d.mentions;
  return JSON.stringify(s);
}

export function decodeMessage(draftJson: string, seq: number, tsMs: number): ChatMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(draftJson);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || !Number.isSafeInteger(seq) || seq < 1 || !Number.isFinite(tsMs)) return undefined;
  const d = v as Record<string, unknown>;
  if (typeof d.from !== 'string' || typeof d.text !== 'string') return undefined;
  const ts = new Date(tsMs).toISOString();
  let m: ChatMessage;
  if (typeof d.room === 'string') m = { type: 'message', room: d.room, from: d.from, text: d.text, seq, ts };
  else if (typeof d.to === 'string') m = { type: 'message', to: d.to, from: d.from, text: d.text, seq, ts };
  else return undefined;
  if (d.action === true) m.action = true;
  if (d.guest === true) m.guest = true;
  if (Array.isArray(d.mentions)) {
    const names: unknown[] = d.mentions;
    if (names.length > 0 && names.every((n): n is string => typeof n === 'string')) m.mentions = names;
  }
  return m;
}

export interface Notice {
  conv: ConvKey;
  seq: number;
  epoch: string;
  msg: ChatMessage;
}

/** `conv \n seq \n epoch \n ts \n draft`, as the append script publishes it. */
export function parseNotice(payload: string): Notice | undefined {
  const parts: string[] = [];
  let pos = 0;
  for (let i = 0; i < 4; i++) {
    const nl = payload.indexOf('\n', pos);
    if (nl < 0) return undefined;
    parts.push(payload.slice(pos, nl));
    pos = nl + 1;
  }
  const [conv = '', seqText = '', epoch = '', tsText = ''] = parts;
  const seq = Number(seqText);
  const msg = decodeMessage(payload.slice(pos), seq, Number(tsText));
  return msg && conv !== '' ? { conv, seq, epoch, msg } : undefined;
}

/** A stream entry `[id, [field, value, ...]]` as a message; undefined when malformed. */
export function entryMessage(entry: unknown): ChatMessage | undefined {
  if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) return undefined;
  const seq = Number(entry[0].slice(0, entry[0].indexOf('-')));
  const fields = entry[1];
  let draft: string | undefined;
  let ts: number | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1];
    if (fields[i] === 'd' && typeof value === 'string') draft = value;
    else if (fields[i] === 't') ts = Number(value);
  }
  return draft === undefined || ts === undefined ? undefined : decodeMessage(draft, seq, ts);
}
