// Chat messages: `say` and `dm` are stored first, published once stored (kept if the process dies) and
// acknowledged once durable (on disk, per --fsync): delivery never waits for the disk, an ack does.
// The bus hands them to whoever should see them here; and the offline inbox, delivered after hello.
//
// Direct messages between two accounts are stored: every one goes through its recipient's inbox and
// leaves it when delivered (deciding "offline" when the record is written instead would lose a DM
// whose recipient disconnects before the record is durable). A DM with a guest on either side is never
// stored, so nothing meant for one guest can reach the next one to take the name: it is delivered to
// whoever is online now, numbered per pair of sessions, and refused (not_reachable) when the other
// side is not online. Conversations and inboxes from before accounts existed are keyed apart (legacy
// `d:` conversations, inboxes under the bare name) and shown only to names an operator has claimed.
import type { ChatMessage, DmRequest, SayRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { BusEvent } from '../bus.js';
import { Outgoing } from '../outgoing.js';
import { accountDmConv, dmConv, InboxFull, type ConvKey, type Draft, type MessageRef } from '../store/store.js';
import { noteAuthored } from './amend.js';
import { isRegistered, type Client, type RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Presence } from './presence.js';
import type { Room, Rooms } from './rooms.js';

/** `@name` where a name may start: at the start or after anything that cannot be part of a name. */
const MENTION = /(?:^|[^A-Za-z0-9_.@-])@[A-Za-z0-9_.-]/;
const MENTIONS = /(?:^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{1,32})(?![A-Za-z0-9_.-])/g;
/** Names one message may mention, and distinct candidates looked up for it. */
export const MAX_MENTIONS = 20;
const MAX_MENTION_LOOKUPS = 40;

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

  say(client: RegisteredClient, req: SayRequest): void | Promise<void> {
    const room = this.rooms.memberRoom(client, nameKey(req.room));
    if (!room) throw new RequestError('not_member', `join ${req.room} first`);
    // Only a text that could mention someone waits for the lookup; the rest is stored at once.
    if (!MENTION.test(req.text)) return this.sayIn(client, req, room, undefined);
    return this.mentionsIn(req.text).then((mentions) => {
      if (client.gone || !room.members.has(client)) return;
      this.sayIn(client, req, room, mentions);
    });
  }

  /**
   * The users `@name` in a text refers to: known users only (online here or ever connected), in the
   * server's spelling, each once, at most MAX_MENTIONS. A trailing `.`, `-` or `_` that makes the
   * name unknown is taken as punctuation (`thanks @bob.`).
   */
  async mentionsIn(text: string): Promise<string[]> {
    const out: string[] = [];
    const seen = new Set<string>();
    for (const m of text.matchAll(MENTIONS)) {
      if (seen.size >= MAX_MENTION_LOOKUPS || out.length >= MAX_MENTIONS) break;
      let candidate = m[1]!;
      for (;;) {
        const key = nameKey(candidate);
        if (seen.has(key)) break;
        seen.add(key);
        const known = await this.presence.knownName(key).catch(() => undefined);
        if (known !== undefined) {
          out.push(known);
          break;
        }
        const trimmed = candidate.replace(/[._-]+$/, '');
        if (trimmed === candidate || trimmed === '') break;
        candidate = trimmed;
      }
    }
    return out;
  }

  private sayIn(client: RegisteredClient, req: SayRequest, room: Room, mentions: string[] | undefined): void {
    const draft: Draft = { room: room.name, from: client.name, text: req.text };
    if (req.action === true) draft.action = true;
    if (!client.account) draft.guest = true;
    if (req.mid !== undefined) draft.mid = req.mid;
    if (mentions && mentions.length > 0) draft.mentions = mentions;
    this.ctx.metrics.messagesIn++;
    this.rooms.writeStarted(room);
    const bytes = req.text.length;
    client.writeStarted(bytes);
    this.ctx.store.append(room.conv, draft, undefined, (err, msg, repeat) => {
      if (err || !msg) {
        client.writeDone(bytes);
        this.refused(client, err, req.id);
      } else {
        noteAuthored(client, room.conv, msg.seq);
        // A repeat (same mid) was delivered the first time: only its ack is owed.
        if (!repeat) this.rooms.publishMessage(room, msg);
        this.ackWhenDurable(client, bytes, req.id, msg.seq);
      }
      this.rooms.writeSettled(room);
    });
  }

  async dm(client: RegisteredClient, req: DmRequest): Promise<void> {
    const toKey = nameKey(req.to);
    const recipient = this.presence.online(toKey);
    const account = recipient?.account ? { name: recipient.name } : await this.ctx.read('accounts', this.ctx.accounts.get(toKey));
    if (client.gone) return;
    if (!client.account || !account) return this.dmLive(client, req, toKey);
    const conv = await this.conversation(client.key, toKey);
    const mentions = MENTION.test(req.text) ? await this.mentionsIn(req.text) : [];
    if (client.gone) return;
    const draft: Draft = { to: account.name, from: client.name, text: req.text };
    if (req.action === true) draft.action = true;
    if (req.mid !== undefined) draft.mid = req.mid;
    if (mentions.length > 0) draft.mentions = mentions;
    this.ctx.metrics.messagesIn++;
    const bytes = req.text.length;
    client.writeStarted(bytes);
    const fromKey = client.key;
    this.ctx.store.append(conv, draft, inboxKey(toKey), (err, msg, repeat) => {
      if (err instanceof InboxFull) {
        client.writeDone(bytes);
        if (!client.gone) this.ctx.error(client, 'inbox_full', `${account.name} has ${err.limit} messages waiting to be read; yours was not sent. Try again once they have logged in`, req.id);
        return;
      }
      if (err || !msg) {
        client.writeDone(bytes);
        return this.refused(client, err, req.id);
      }
      // A repeat (same mid) was delivered the first time: only its ack is owed.
      if (!repeat) {
        const out = new Outgoing(msg);
        this.ctx.bus.publish({ kind: 'user', user: toKey, conv, seq: msg.seq, out });
        if (fromKey !== toKey) this.ctx.bus.publish({ kind: 'user', user: fromKey, conv, seq: msg.seq, out });
      }
      this.ackWhenDurable(client, bytes, req.id, msg.seq);
    });
  }

  /**
   * A DM with a guest on either side: delivered to the sessions online now and never stored. Its seq
   * counts the messages between these two sessions (a guest's identity is its connection).
   */
  private dmLive(client: RegisteredClient, req: DmRequest, toKey: string): void | Promise<void> {
    if (this.ctx.directory.shared) return this.dmLiveCluster(client, req, toKey);
    const recipient = this.presence.online(toKey);
    if (!recipient) throw this.notReachable(client, req);
    this.sendLive(client, req, toKey, recipient.name, bumpLiveSeq(client, recipient));
  }

  /**
   * Cluster mode: the other side may be online on any server (sessions of one account on several).
   * The seq is counted in the directory, per pair of identities as bumpLiveSeq does on one server, so
   * both sides number one conversation alike wherever they are; the bus carries the message.
   */
  private async dmLiveCluster(client: RegisteredClient, req: DmRequest, toKey: string): Promise<void> {
    const remote = (await this.ctx.read('presence', this.ctx.directory.online([toKey]))).get(toKey);
    if (!remote) throw this.notReachable(client, req);
    const seq = await this.ctx.read('presence', this.ctx.directory.nextLiveSeq(client.id, client.key, client.account, remote));
    if (!client.gone) this.sendLive(client, req, toKey, remote.name, seq);
  }

  private notReachable(client: RegisteredClient, req: DmRequest): RequestError {
    const why = client.account ? `${req.to} is not online and has no account` : `${req.to} is not online, and guests can only message people who are`;
    return new RequestError('not_reachable', `${why}: the message was not sent`);
  }

  private sendLive(client: RegisteredClient, req: DmRequest, toKey: string, toName: string, seq: number): void {
    const msg: ChatMessage = { type: 'message', to: toName, from: client.name, text: req.text, seq, ts: new Date().toISOString() };
    if (req.action === true) msg.action = true;
    if (!client.account) msg.guest = true;
    this.ctx.metrics.messagesIn++;
    const out = new Outgoing(msg);
    this.ctx.bus.publish({ kind: 'user', user: toKey, out });
    if (client.key !== toKey) this.ctx.bus.publish({ kind: 'user', user: client.key, out });
    if (req.id !== undefined) this.ctx.reply(client, { type: 'ack', re: req.id, seq }, undefined);
  }

  /** The conversation of two accounts; the legacy one when an operator has claimed both names. */
  async conversation(a: string, b: string): Promise<ConvKey> {
    const [ca, cb] = await Promise.all([this.ctx.read('accounts', this.ctx.accounts.claimed(a)), this.ctx.read('accounts', this.ctx.accounts.claimed(b))]);
    return ca && cb ? dmConv(a, b) : accountDmConv(a, b);
  }

  /** The bus hands a user's event (a DM, or its echo to the sender) to that user's sessions here. */
  deliver(event: UserEvent): void {
    const msg = event.out.event;
    const toThisUser = msg.type === 'message' && msg.to !== undefined && nameKey(msg.to) === event.user;
    let delivered = false;
    for (const client of this.presence.sessionsOf(event.user)) {
      if (client.id === event.except) continue;
      const inbox = client.inbox;
      if (inbox) {
        if (toThisUser && event.seq !== undefined && event.conv !== undefined) inbox.skipped++;
        else {
          if (inbox.held.length >= MAX_HELD_ECHOES) inbox.held.shift();
          inbox.held.push(event.out);
        }
        continue;
      }
      // Only a queued copy counts: a session that is closing drops it, and the DM must stay queued.
      if (client.peer.send(event.out)) {
        this.ctx.metrics.messagesOut++;
        delivered = true;
      }
    }
    if (delivered && toThisUser && event.conv !== undefined && event.seq !== undefined) {
      this.markDelivered(inboxKey(event.user), [{ conv: event.conv, seq: event.seq }]);
    }
  }

  /**
   * Right after welcome: the user's queued DMs, oldest first, a page at a time, each page once the
   * previous one has left. Live DMs to the user meanwhile stay in the inbox and are read from it, so
   * they keep their order; reading stops only when a read found nothing new and nothing arrived.
   */
  async deliverInbox(client: RegisteredClient): Promise<void> {
    if (!client.account) return;
    const state: InboxDelivery = { skipped: 0, held: [], sent: new Set() };
    client.inbox = state;
    try {
      // A claimed name also gets what was queued for it before accounts existed.
      if (await this.ctx.read('accounts', this.ctx.accounts.claimed(client.key))) await this.drainInbox(client, state, client.key);
      await this.drainInbox(client, state, inboxKey(client.key));
    } finally {
      client.inbox = undefined;
      if (!client.gone) for (const out of state.held) client.peer.send(out);
    }
  }

  /**
   * Events may have been missed (bus resync): every account session here not already reading its inbox
   * reads it again, so a DM whose notice was lost reaches it now rather than at its next login.
   */
  redeliverInboxes(clients: Iterable<Client>): void {
    for (const c of clients) {
      if (c.gone || c.inbox || !c.account || !isRegistered(c)) continue;
      this.deliverInbox(c).catch((err: Error) => this.ctx.log.warn(`inbox of ${c.name}: ${err.message}`));
    }
  }

  private async drainInbox(client: RegisteredClient, state: InboxDelivery, inbox: string): Promise<void> {
    for (;;) {
      if (client.gone) return;
      state.skipped = 0;
      const items = await this.ctx.read('the inbox', this.ctx.store.inbox(inbox, INBOX_PAGE));
      if (client.gone) return;
      const refs: MessageRef[] = [];
      let dropped = false;
      for (const { conv, msg } of items) {
        const id = `${conv}#${msg.seq}`;
        if (state.sent.has(id)) continue;
        // Dropped (the connection is closing): it and the rest stay queued for the next login.
        if (!client.peer.send(new Outgoing(msg))) {
          dropped = true;
          break;
        }
        state.sent.add(id);
        refs.push({ conv, seq: msg.seq });
      }
      if (refs.length > 0) {
        this.ctx.metrics.messagesOut += refs.length;
        this.markDelivered(inbox, refs);
        if (dropped) return;
        await client.roomToWrite();
      } else if (state.skipped === 0 || dropped) {
        return;
      }
    }
  }

  /** `inbox` is the store's inbox key: inboxKey(user), or a claimed name's pre-account one. */
  private markDelivered(inbox: string, refs: MessageRef[]): void {
    this.ctx.store.markDelivered(inbox, refs, (e) => e && this.ctx.log.error(`store: marking DMs delivered: ${e.message}`));
  }

  /**
   * The write counts against the sender's bound until it is durable, so a client cannot queue more
   * than the disk takes. A message that was delivered but then could not be made durable (the disk
   * failed under it) is reported to its sender as not stored: it may or may not survive a restart.
   */
  private ackWhenDurable(client: Client, bytes: number, re: SayRequest['id'], seq: number): void {
    this.ctx.store.whenDurable((err) => {
      client.writeDone(bytes);
      if (err) return this.refused(client, err, re);
      if (re !== undefined && !client.gone) this.ctx.reply(client, { type: 'ack', re, seq }, undefined);
    });
  }

  private refused(client: Client, err: Error | null, re: SayRequest['id']): void {
    this.ctx.log.error(`store: ${err?.message ?? 'append failed'}`);
    if (!client.gone) this.ctx.error(client, 'unavailable', 'the message could not be stored; it was not sent', re);
  }
}

/** An account's offline inbox. Inboxes from before accounts are under the bare name and stay hidden. */
export function inboxKey(userKey: string): string {
  return `@${userKey}`;
}

/** The next seq of a live-only conversation, kept on the guest side(s) and forgotten with them. */
function bumpLiveSeq(a: RegisteredClient, b: RegisteredClient): number {
  const idOf = (c: RegisteredClient): string => (c.account ? `@${c.key}` : `~${c.id}`);
  const seq = Math.max(a.liveDmSeq?.get(idOf(b)) ?? 0, b.liveDmSeq?.get(idOf(a)) ?? 0) + 1;
  if (!a.account) (a.liveDmSeq ??= new Map()).set(idOf(b), seq);
  if (!b.account) (b.liveDmSeq ??= new Map()).set(idOf(a), seq);
  return seq;
}
