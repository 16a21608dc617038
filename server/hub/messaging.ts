// Chat messages: `say` and `dm` are stored first and published once durable (acks mean stored), then
// handed by the bus to whoever should see them here; and the offline inbox, delivered after hello.
//
// Every DM goes through its recipient's inbox and leaves it when delivered. Deciding "offline" when the
// record is written instead would lose a DM whose recipient disconnects before the record is durable.
import type { DmRequest, SayRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { BusEvent } from '../bus.js';
import { Outgoing } from '../outgoing.js';
import { dmConv, type Draft, type MessageRef } from '../store/store.js';
import type { Client, RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Presence } from './presence.js';
import type { Rooms } from './rooms.js';

/** Inbox messages read per page; the next page is read once this one has left. */
export const INBOX_PAGE = 100;
/** Echoes of one's own DMs held while the inbox is delivered; beyond this the oldest are dropped. */
const MAX_HELD_ECHOES = 256;

/** While a user's inbox is being delivered: live DMs for them are left in the inbox and counted. */
export interface InboxDelivery {
  /** Live DMs to this user left to the inbox since the last read: another read is needed. */
  skipped: number;
  /** Live events that are not in the inbox (echoes of one's own DMs), sent after it. */
  held: Outgoing[];
  /** Refs sent by this delivery, so a message read twice is sent once. */
  sent: Set<string>;
}

type UserEvent = Extract<BusEvent, { kind: 'user' }>;

export class Messaging {
  constructor(
    private readonly ctx: HubContext,
    private readonly rooms: Rooms,
    private readonly presence: Presence,
  ) {}

  say(client: RegisteredClient, req: SayRequest): void {
    const room = this.rooms.memberRoom(client, nameKey(req.room));
    if (!room) throw new RequestError('not_member', `join ${req.room} first`);
    const draft: Draft = { room: room.name, from: client.name, text: req.text };
    if (req.action === true) draft.action = true;
    this.ctx.metrics.messagesIn++;
    this.rooms.writeStarted(room);
    client.writeStarted();
    this.ctx.store.append(room.conv, draft, undefined, (err, msg) => {
      client.writeDone();
      if (err || !msg) {
        this.refused(client, err, req.id);
      } else {
        this.rooms.publishMessage(room, msg);
        if (req.id !== undefined && !client.gone) this.ctx.reply(client, { type: 'ack', re: req.id, seq: msg.seq }, undefined);
      }
      this.rooms.writeSettled(room);
    });
  }

  async dm(client: RegisteredClient, req: DmRequest): Promise<void> {
    const toKey = nameKey(req.to);
    const known = await this.presence.knownName(toKey);
    if (known === undefined) throw this.presence.noSuchUser(req.to);
    if (client.gone) return;
    const conv = dmConv(client.key, toKey);
    const draft: Draft = { to: known, from: client.name, text: req.text };
    if (req.action === true) draft.action = true;
    this.ctx.metrics.messagesIn++;
    client.writeStarted();
    const fromKey = client.key;
    this.ctx.store.append(conv, draft, toKey, (err, msg) => {
      client.writeDone();
      if (err || !msg) return this.refused(client, err, req.id);
      const out = new Outgoing(msg);
      this.ctx.bus.publish({ kind: 'user', user: toKey, conv, seq: msg.seq, out });
      if (fromKey !== toKey) this.ctx.bus.publish({ kind: 'user', user: fromKey, conv, seq: msg.seq, out });
      if (req.id !== undefined && !client.gone) this.ctx.reply(client, { type: 'ack', re: req.id, seq: msg.seq }, undefined);
    });
  }

  /** The bus hands a user's event (a DM, or its echo to the sender) to that user's connection here. */
  deliver(event: UserEvent): void {
    const client = this.presence.online(event.user);
    if (!client) return;
    const msg = event.out.event;
    const toThisUser = msg.type === 'message' && msg.to !== undefined && nameKey(msg.to) === event.user;
    const inbox = client.inbox;
    if (inbox) {
      if (toThisUser) inbox.skipped++;
      else {
        if (inbox.held.length >= MAX_HELD_ECHOES) inbox.held.shift();
        inbox.held.push(event.out);
      }
      return;
    }
    client.peer.send(event.out);
    this.ctx.metrics.messagesOut++;
    if (toThisUser && event.conv !== undefined && event.seq !== undefined) this.markDelivered(client, [{ conv: event.conv, seq: event.seq }]);
  }

  /**
   * Right after welcome: the user's queued DMs, oldest first, a page at a time, each page once the
   * previous one has left. Live DMs to the user meanwhile stay in the inbox and are read from it, so
   * they keep their order; reading stops only when a read found nothing new and nothing arrived.
   */
  async deliverInbox(client: RegisteredClient): Promise<void> {
    const state: InboxDelivery = { skipped: 0, held: [], sent: new Set() };
    client.inbox = state;
    try {
      for (;;) {
        state.skipped = 0;
        const items = await this.ctx.read('the inbox', this.ctx.store.inbox(client.key, INBOX_PAGE));
        if (client.gone) return;
        const refs: MessageRef[] = [];
        for (const { conv, msg } of items) {
          const id = `${conv}#${msg.seq}`;
          if (state.sent.has(id)) continue;
          state.sent.add(id);
          client.peer.send(new Outgoing(msg));
          refs.push({ conv, seq: msg.seq });
        }
        if (refs.length > 0) {
          this.ctx.metrics.messagesOut += refs.length;
          this.markDelivered(client, refs);
          await client.roomToWrite();
          if (client.gone) return;
        } else if (state.skipped === 0) {
          return;
        }
      }
    } finally {
      client.inbox = undefined;
      if (!client.gone) for (const out of state.held) client.peer.send(out);
    }
  }

  private markDelivered(client: RegisteredClient, refs: MessageRef[]): void {
    this.ctx.store.markDelivered(client.key, refs, (e) => e && this.ctx.log.error(`store: marking DMs delivered: ${e.message}`));
  }

  private refused(client: Client, err: Error | null, re: SayRequest['id']): void {
    this.ctx.log.error(`store: ${err?.message ?? 'append failed'}`);
    if (!client.gone) this.ctx.error(client, 'unavailable', 'the message could not be stored; it was not sent', re);
  }
}
