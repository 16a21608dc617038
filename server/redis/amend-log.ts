// A message's changes as Redis keeps them: its change records (store/amendments.ts's AmendRecord, the
// file store's amends.jsonl lines) joined by newlines in one hash field, appended by the AMEND script.
// Replaying them through Amendments gives the same state the embedded stores compute, so an edit,
// delete or reaction means the same thing on every store.
import type { ChatMessage } from '../../protocol/messages.js';
import { Amendments, fromRecord, toRecord } from '../store/amendments.js';
import type { Change, ConvKey } from '../store/store.js';

/** More records than this in one field are rewritten as the fewest that give the same state. */
export const COMPACT_OVER = 32;

export function encodeChange(conv: ConvKey, seq: number, change: Change): string {
  return JSON.stringify(toRecord(conv, seq, change));
}

/** The changes of messages of one conversation, from their fields; malformed lines are skipped. */
export function replay(fields: readonly (string | null | undefined)[]): { amendments: Amendments; lines: number } {
  const amendments = new Amendments();
  let lines = 0;
  for (const field of fields) {
    if (typeof field !== 'string') continue;
    for (const line of field.split('\n')) {
      lines++;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        continue;
      }
      const rec = fromRecord(v);
      if (rec) amendments.apply(rec);
    }
  }
  return { amendments, lines };
}

/** The same state in the fewest records (one field's worth). */
export function compacted(amendments: Amendments): string {
  return [...amendments.records()].map((r) => JSON.stringify(r)).join('\n');
}

/** Messages as readers see them, given their fields (in the same order; null when never amended). */
export function applyAmends(conv: ConvKey, msgs: ChatMessage[], fields: readonly (string | null | undefined)[]): ChatMessage[] {
  if (!fields.some((f) => typeof f === 'string')) return msgs;
  const { amendments } = replay(fields);
  return msgs.map((m) => amendments.view(conv, m));
}
