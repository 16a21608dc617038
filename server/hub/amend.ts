// edit, delete, react, unreact: changes to a stored message, recorded by the store (Store.amend) and
// told to everyone who can see the message: the room's members, or both sides of a direct
// conversation (every session). Only the author may edit or delete; anyone who can see a message may
// react. A guest may change what it wrote on this connection only (its name may be someone else's
// later). Direct messages with a guest are never stored, so they cannot be changed: no_such_message.
import { LIMITS, type ChatMessage, type DeleteRequest, type EditRequest, type ReactRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { Outgoing } from '../outgoing.js';
import { NoSuchMessage, type Amended, type Change, type ConvKey } from '../store/store.js';
import type { RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Messaging } from './messaging.js';
import type { Rooms } from './rooms.js';

interface Target {
  conv: ConvKey;
  msg: ChatMessage;
  about: { room: string } | { to: string; from: string };
  publish: (event: Outgoing['event']) => void;
}

/** Messages a guest connection remembers writing, for edit and delete; the oldest are forgotten. */
const MAX_AUTHORED = 1000;

export function noteAuthored(client: RegisteredClient, conv: ConvKey, seq: number): void {
  if (client.account) return;
  const set = (client.authored ??= new Set());
  if (set.size >= MAX_AUTHORED) set.delete(set.values().next().value!);
  set.add(`${conv}#${seq}`);
}

export class Amend {
  constructor(
    private readonly ctx: HubContext,
    private readonly rooms: Rooms,
    private readonly messaging: Messaging,
  ) {}

  async edit(client: RegisteredClient, req: EditRequest): Promise<void> {
    const t = await this.target(client, req);
    this.mustBeAuthor(client, t);
    const editedTs = new Date().toISOString();
    await this.amend(t, { kind: 'edit', text: req.text, ts: editedTs });
    t.publish({ type: 'edited', ...t.about, seq: t.msg.seq, text: req.text, editedTs });
    this.ack(client, req.id);
  }

  async delete(client: RegisteredClient, req: DeleteRequest): Promise<void> {
    const t = await this.target(client, req);
    this.mustBeAuthor(client, t);
    await this.amend(t, { kind: 'delete', ts: new Date().toISOString() });
    t.publish({ type: 'deleted', ...t.about, seq: t.msg.seq });
    this.ack(client, req.id);
  }

  async react(client: RegisteredClient, req: ReactRequest): Promise<void> {
    const t = await this.target(client, req);
    const on = req.type === 'react';
    const names = t.msg.reactions?.[req.emoji];
    const mine = names?.some((n) => nameKey(n) === client.key) === true;
    if (on === mine) return this.ack(client, req.id); // nothing changes: nobody is told
    if (on && !names && Object.keys(t.msg.reactions ?? {}).length >= LIMITS.maxReactionsPerMessage) {
      throw new RequestError('too_many_reactions', `a message takes at most ${LIMITS.maxReactionsPerMessage} different reactions`);
    }
    const state = await this.amend(t, { kind: 'react', emoji: req.emoji, name: client.name, on });
    t.publish({ type: 'reactions', ...t.about, seq: t.msg.seq, counts: state.reactions ?? {} });
    this.ack(client, req.id);
  }

  private async target(client: RegisteredClient, req: { room?: string; to?: string; seq: number }): Promise<Target> {
    if (req.room !== undefined) {
      const room = this.rooms.memberRoom(client, nameKey(req.room));
      if (!room) throw new RequestError('not_member', `join ${req.room} first`);
      const msg = await this.message(room.conv, req.seq);
      return { conv: room.conv, msg, about: { room: room.name }, publish: (e) => this.rooms.publishAmend(room, e) };
    }
    const toKey = nameKey(req.to!);
    const other = client.account ? await this.ctx.read('accounts', this.ctx.accounts.get(toKey)) : undefined;
    if (!other) throw new RequestError('no_such_message', 'direct messages with a guest are not stored, so they cannot be changed');
    const conv = await this.messaging.conversation(client.key, toKey);
    const msg = await this.message(conv, req.seq);
    const fromKey = client.key;
    const publish = (e: Outgoing['event']): void => {
      const out = new Outgoing(e);
      this.ctx.bus.publish({ kind: 'user', user: toKey, out });
      if (fromKey !== toKey) this.ctx.bus.publish({ kind: 'user', user: fromKey, out });
    };
    return { conv, msg, about: { to: msg.to ?? other.name, from: msg.from }, publish };
  }

  private async message(conv: ConvKey, seq: number): Promise<ChatMessage> {
    const msg = await this.ctx.read('the message', this.ctx.store.message(conv, seq));
    if (!msg || msg.deleted) throw new RequestError('no_such_message', `there is no message ${seq} here (never sent, deleted, or no longer kept)`);
    return msg;
  }

  private mustBeAuthor(client: RegisteredClient, t: Target): void {
    const mine =
      nameKey(t.msg.from) === client.key && (client.account ? t.msg.guest !== true : t.msg.guest === true && client.authored?.has(`${t.conv}#${t.msg.seq}`) === true);
    if (!mine) throw new RequestError('not_author', 'only its author can change a message');
  }

  private amend(t: Target, change: Change): Promise<Amended> {
    return new Promise((resolve, reject) =>
      this.ctx.store.amend(t.conv, t.msg.seq, change, (err, state) => {
        if (err instanceof NoSuchMessage) return reject(new RequestError('no_such_message', `there is no message ${t.msg.seq} here any more`));
        if (err || !state) {
          this.ctx.log.error(`store: amend: ${err?.message ?? 'failed'}`);
          return reject(new RequestError('unavailable', 'the change could not be stored; try again'));
        }
        resolve(state);
      }),
    );
  }

  private ack(client: RegisteredClient, re: EditRequest['id']): void {
    if (re !== undefined && !client.gone) this.ctx.reply(client, { type: 'ack', re }, undefined);
  }
}
