// The Bus across nodes. Stored messages (room messages, DMs between accounts) are published by the
// append script itself, atomically with storing them, on one channel in the order Redis ran the
// scripts: every node, this one included, delivers them to its own members from those notices only,
// so one order per conversation reaches everyone. What the hub publishes for them is therefore not
// sent again. Every other event (joined, left, topic, away, typing, read markers, a guest's live DM,
// an account's sessions ending) is delivered here at once and published for the other nodes, which
// skip their own.
//
// Pub/sub can lose what was published while a subscriber was away; the stores cannot. So each time
// the subscription is (re)established the hub is told to resync (rooms refill from the streams,
// inboxes are read again), and a seq gap seen by a room triggers the same refill (rooms.ts).
import { nameKey } from '../../protocol/names.js';
import { parseEvent } from '../../protocol/validate.js';
import type { Bus, BusEvent, Deliver } from '../bus.js';
import type { Logger } from '../log.js';
import { Outgoing } from '../outgoing.js';
import type { RedisClient } from './client.js';
import type { ConvMemory } from './conv-memory.js';
import { channels } from './keys.js';
import { parseNotice } from './message-codec.js';

/** What travels on the events channel: the origin node and the event, its Outgoing as plain JSON. */
interface Wire {
  n: string;
  k: 'room' | 'user' | 'presence' | 'end';
  room?: string;
  conv?: string;
  user?: string;
  name?: string;
  online?: boolean;
  /** Why an account's sessions end. */
  why?: string;
  /** The event as JSON text. */
  e?: string;
}

export class RedisBus implements Bus {
  private deliver: Deliver = () => {};

  constructor(
    private readonly redis: RedisClient,
    private readonly node: string,
    private readonly memory: ConvMemory,
    private readonly log: Logger,
  ) {}

  attach(deliver: Deliver): void {
    this.deliver = deliver;
  }

  publish(event: BusEvent): void {
    // Stored messages: the append script has published them already.
    if ((event.kind === 'room' || event.kind === 'user') && event.seq !== undefined && event.conv !== undefined) return;
    this.deliver(event);
    let wire: Wire;
    switch (event.kind) {
      case 'room':
        wire = { n: this.node, k: 'room', room: event.room, conv: event.conv, e: JSON.stringify(event.out.event) };
        break;
      case 'user':
        wire = { n: this.node, k: 'user', user: event.user, e: JSON.stringify(event.out.event) };
        break;
      case 'presence':
        wire = { n: this.node, k: 'presence', user: event.user, name: event.name, online: event.online };
        break;
      case 'end-sessions':
        // `except` names a session of this server only: the others end every session they have.
        wire = { n: this.node, k: 'end', user: event.user, why: event.why };
        break;
      case 'resync':
        return;
    }
    this.redis.command(['PUBLISH', channels.events, JSON.stringify(wire)]).catch((err: Error) => this.log.debug(`redis: event not published: ${err.message}`));
  }

  /** From the subscriber: one message on one of our channels. */
  message(channel: string, payload: string): void {
    if (channel === channels.notices) return this.notice(payload);
    if (channel === channels.events) return this.event(payload);
  }

  /** From the subscriber: subscribed (again); whatever was published meanwhile must be read back. */
  resubscribed(): void {
    this.deliver({ kind: 'resync' });
  }

  async close(): Promise<void> {}

  private notice(payload: string): void {
    const n = parseNotice(payload);
    if (!n) return this.log.warn('redis: a malformed notice was ignored');
    this.memory.saw(n.conv, n.seq, n.epoch);
    const out = new Outgoing(n.msg);
    if (n.msg.room !== undefined) {
      if (!n.conv.startsWith('r:')) return;
      return this.deliver({ kind: 'room', room: n.conv.slice(2), conv: n.conv, seq: n.seq, out });
    }
    const to = nameKey(n.msg.to ?? '');
    const from = nameKey(n.msg.from);
    this.deliver({ kind: 'user', user: to, conv: n.conv, seq: n.seq, out });
    if (from !== to) this.deliver({ kind: 'user', user: from, conv: n.conv, seq: n.seq, out });
  }

  private event(payload: string): void {
    let w: Wire;
    try {
      w = JSON.parse(payload) as Wire;
    } catch {
      return this.log.warn('redis: a malformed event was ignored');
    }
    if (typeof w !== 'object' || w === null || w.n === this.node) return;
    if (w.k === 'end') {
      if (typeof w.user === 'string' && typeof w.why === 'string') this.deliver({ kind: 'end-sessions', user: w.user, why: w.why });
      return;
    }
    if (w.k === 'presence') {
      if (typeof w.user === 'string' && typeof w.name === 'string' && typeof w.online === 'boolean') this.deliver({ kind: 'presence', user: w.user, name: w.name, online: w.online });
      return;
    }
    const event = typeof w.e === 'string' ? parseEvent(w.e) : null;
    if (!event) return this.log.warn('redis: an event of unknown shape was ignored');
    if (w.k === 'room' && typeof w.room === 'string' && typeof w.conv === 'string') this.deliver({ kind: 'room', room: w.room, conv: w.conv, out: new Outgoing(event) });
    else if (w.k === 'user' && typeof w.user === 'string') this.deliver({ kind: 'user', user: w.user, out: new Outgoing(event) });
  }
}
