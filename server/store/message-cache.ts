// Recently read messages, least recently used dropped first, bounded by an estimate of their heap size:
// a page asked for again (the latest messages of a room people keep joining, an inbox page retried) is
// served without the disk. Appended messages do not enter: in steady traffic nobody reads them back
// soon, and holding each one until it is evicted made every append cost old-generation garbage
// (11 us of CPU per append instead of 6, most of it GC). Keyed by identity (conversation + seq): a message keeps its identity when compaction moves it, and
// only durable messages ever enter, so a number handed back after a failure can never hit a stale entry.
import type { ChatMessage } from '../../protocol/messages.js';
import type { ConvKey } from './store.js';

interface Node {
  conv: ConvKey;
  seq: number;
  msg: ChatMessage;
  bytes: number;
  prev: Node | undefined;
  next: Node | undefined;
}

/** Rough heap cost of a message: the object, its strings (two bytes a character at worst), the map entry. */
export function messageBytes(m: ChatMessage): number {
  return 200 + 2 * (m.text.length + m.from.length + (m.room ?? m.to ?? '').length);
}

export class MessageCache {
  private readonly byConv = new Map<ConvKey, Map<number, Node>>();
  /** Most recently used at the head. */
  private head: Node | undefined;
  private tail: Node | undefined;
  private used = 0;

  constructor(private readonly limitBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  get(conv: ConvKey, seq: number): ChatMessage | undefined {
    const node = this.byConv.get(conv)?.get(seq);
    if (!node) return undefined;
    this.unlink(node);
    this.linkFront(node);
    return node.msg;
  }

  put(conv: ConvKey, msg: ChatMessage): void {
    if (this.limitBytes <= 0) return;
    let m = this.byConv.get(conv);
    if (!m) this.byConv.set(conv, (m = new Map()));
    const old = m.get(msg.seq);
    if (old) this.drop(old);
    const node: Node = { conv, seq: msg.seq, msg, bytes: messageBytes(msg), prev: undefined, next: undefined };
    m.set(msg.seq, node);
    this.linkFront(node);
    this.used += node.bytes;
    while (this.used > this.limitBytes && this.tail) this.drop(this.tail);
  }

  private drop(node: Node): void {
    this.unlink(node);
    this.used -= node.bytes;
    const m = this.byConv.get(node.conv);
    if (m?.get(node.seq) === node) {
      m.delete(node.seq);
      if (m.size === 0) this.byConv.delete(node.conv);
    }
  }

  private unlink(node: Node): void {
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = undefined;
  }

  private linkFront(node: Node): void {
    node.next = this.head;
    if (this.head) this.head.prev = node;
    this.head = node;
    this.tail ??= node;
  }
}
