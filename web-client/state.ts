// What the page knows, independent of how it is drawn: one conversation per room or DM partner, each
// with its messages in seq order, so render.ts can redraw any of them from scratch after a switch.
import type { ChatMessage } from '../protocol/messages.js';
import { nameKey } from '../protocol/validate.js';

/** A local line in a conversation: joins, leaves, command output, errors. Never from the wire as HTML. */
export interface Notice {
  kind: 'notice';
  text: string;
  ts: string;
  tone: 'info' | 'error' | 'presence';
}

export type Entry = { kind: 'message'; msg: ChatMessage } | Notice;

export interface Conversation {
  /** `r:<room key>` or `d:<user key>`: case-insensitive like the server's names. */
  key: string;
  kind: 'room' | 'dm';
  /** Display spelling (the server keeps the first one used). */
  name: string;
  entries: Entry[];
  /** Seqs already shown: history pages and live delivery can overlap, a message must appear once. */
  seen: Set<number>;
  unread: number;
  /** Older messages exist on the server before the oldest shown. */
  more: boolean;
  loadingOlder: boolean;
  /** The first history of this room arrived: later ones (resumes) carry news, not backlog. */
  loaded: boolean;
  /** Room members by key -> display name (rooms only). */
  members: Map<string, string>;
  joined: boolean;
}

export function roomKey(room: string): string {
  return `r:${nameKey(room)}`;
}
export function dmKey(user: string): string {
  return `d:${nameKey(user)}`;
}

export class ChatState {
  readonly conversations = new Map<string, Conversation>();
  /** Every user the server told us about (`who` without room), for online dots beside DMs. */
  readonly online = new Map<string, boolean>();
  active: string | undefined;
  me: string | undefined;

  conversation(kind: 'room' | 'dm', name: string): Conversation {
    const key = kind === 'room' ? roomKey(name) : dmKey(name);
    let c = this.conversations.get(key);
    if (!c) {
      c = { key, kind, name, entries: [], seen: new Set(), unread: 0, more: false, loadingOlder: false, loaded: false, members: new Map(), joined: false };
      this.conversations.set(key, c);
    }
    return c;
  }

  /** The conversation a message belongs to, from this user's point of view. */
  conversationFor(msg: ChatMessage): Conversation {
    if (msg.room !== undefined) return this.conversation('room', msg.room);
    const me = this.me === undefined ? '' : nameKey(this.me);
    const other = nameKey(msg.from) === me ? (msg.to ?? msg.from) : msg.from;
    return this.conversation('dm', other);
  }

  /** Adds live or resumed messages at the end; returns those that were new. */
  append(c: Conversation, msgs: ChatMessage[]): ChatMessage[] {
    const added: ChatMessage[] = [];
    for (const m of msgs) {
      if (c.seen.has(m.seq)) continue;
      c.seen.add(m.seq);
      c.entries.push({ kind: 'message', msg: m });
      added.push(m);
    }
    return added;
  }

  /** Adds an older page at the top; returns those that were new, oldest first. */
  prepend(c: Conversation, msgs: ChatMessage[]): ChatMessage[] {
    const added = msgs.filter((m) => !c.seen.has(m.seq));
    for (const m of added) c.seen.add(m.seq);
    c.entries.unshift(...added.map((msg): Entry => ({ kind: 'message', msg })));
    return added;
  }

  /** The smallest seq shown, where the next older page starts. */
  oldestSeq(c: Conversation): number | undefined {
    let min: number | undefined;
    for (const s of c.seen) if (min === undefined || s < min) min = s;
    return min;
  }

  totalUnread(): number {
    let n = 0;
    for (const c of this.conversations.values()) n += c.unread;
    return n;
  }
}
