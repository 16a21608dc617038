// Undelivered direct messages per user, by identity (conversation + seq), oldest first. Only the
// reference is kept: the message itself is read from its conversation, so one that has aged out of
// the conversation's retention has nothing to read and leaves the inbox.
import type { ConvKey, MessageRef } from './store.js';

export interface InboxEntry {
  conv: ConvKey;
  seq: number;
  /** Sort key: log position of the record that queued it (segment * 2^32 + offset). */
  order: number;
  /** Segment holding the record that keeps this entry alive across a restart (the file store's). */
  seg: number;
}

export function entryKey(conv: ConvKey, seq: number): string {
  return `${conv}#${seq}`;
}

export class Inboxes {
  /** Map iteration order is insertion order: each inbox is oldest first. */
  private readonly byUser = new Map<string, Map<string, InboxEntry>>();

  /** Queues an entry unless one with the same identity is queued (replays see copies). */
  add(user: string, e: InboxEntry): boolean {
    let inbox = this.byUser.get(user);
    if (!inbox) this.byUser.set(user, (inbox = new Map()));
    const key = entryKey(e.conv, e.seq);
    if (inbox.has(key)) return false;
    inbox.set(key, e);
    return true;
  }

  clear(): void {
    this.byUser.clear();
  }

  get(user: string, conv: ConvKey, seq: number): InboxEntry | undefined {
    return this.byUser.get(user)?.get(entryKey(conv, seq));
  }

  /** Entries oldest first, `keep` deciding for each whether it still counts; dropped ones are removed. */
  list(user: string, limit: number, keep: (e: InboxEntry) => boolean): InboxEntry[] {
    const inbox = this.byUser.get(user);
    const out: InboxEntry[] = [];
    if (!inbox) return out;
    for (const [key, e] of inbox) {
      if (out.length >= limit) break;
      if (keep(e)) out.push(e);
      else inbox.delete(key);
    }
    if (inbox.size === 0) this.byUser.delete(user);
    return out;
  }

  /** Removes those entries; returns the refs that were queued. */
  remove(user: string, refs: readonly MessageRef[]): MessageRef[] {
    const inbox = this.byUser.get(user);
    const removed: MessageRef[] = [];
    if (!inbox) return removed;
    for (const r of refs) if (inbox.delete(entryKey(r.conv, r.seq))) removed.push({ conv: r.conv, seq: r.seq });
    if (inbox.size === 0) this.byUser.delete(user);
    return removed;
  }

  /** Drops every entry for which `keep` is false (retention sweep). */
  prune(keep: (e: InboxEntry) => boolean): void {
    for (const [user, inbox] of this.byUser) {
      for (const [key, e] of inbox) if (!keep(e)) inbox.delete(key);
      if (inbox.size === 0) this.byUser.delete(user);
    }
  }

  *entries(): Iterable<[string, InboxEntry]> {
    for (const [user, inbox] of this.byUser) for (const e of inbox.values()) yield [user, e];
  }

  /** Puts every inbox in `order` order; needed only when a replay met compaction copies. */
  sort(): void {
    for (const [user, inbox] of this.byUser) {
      const sorted = [...inbox].sort((a, b) => a[1].order - b[1].order);
      this.byUser.set(user, new Map(sorted));
    }
  }
}
