// `history`: a page back through a room the client is in, or through one of its own direct
// conversations. The store serves durable messages only, so a message still being written is never
// listed here: it arrives live once stored.
import { LIMITS, type HistoryEvent, type HistoryRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { ConvKey } from '../store/store.js';
import type { RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Messaging } from './messaging.js';
import type { Presence } from './presence.js';
import type { Rooms } from './rooms.js';

export class History {
  constructor(
    private readonly ctx: HubContext,
    private readonly rooms: Rooms,
    private readonly presence: Presence,
    private readonly messaging: Messaging,
  ) {}

  async page(client: RegisteredClient, req: HistoryRequest): Promise<void> {
    if (req.with !== undefined) {
      // A direct conversation: the requester is one side of it by construction. Only conversations of
      // two accounts are stored; a guest's, or one with a guest, has no history.
      const otherKey = nameKey(req.with);
      const other = await this.ctx.read('accounts', this.ctx.accounts.get(otherKey));
      const known = other?.name ?? (await this.presence.knownName(otherKey));
      if (known === undefined) throw this.presence.noSuchUser(req.with);
      if (!client.account || !other) {
        if (!client.gone) this.ctx.reply(client, { type: 'history', with: known, messages: [], more: false }, req.id);
        return;
      }
      return this.send(client, req, await this.messaging.conversation(client.key, otherKey), { with: known });
    }
    const room = req.room === undefined ? undefined : this.rooms.memberRoom(client, nameKey(req.room));
    if (!room) throw new RequestError('not_member', `join ${req.room ?? 'the room'} first`);
    return this.send(client, req, room.conv, { room: room.name });
  }

  private async send(client: RegisteredClient, req: HistoryRequest, conv: ConvKey, about: { room: string } | { with: string }): Promise<void> {
    const query = { limit: req.limit ?? LIMITS.defaultHistory, ...(req.before === undefined ? {} : { before: req.before }) };
    const page = await this.ctx.read('history', this.ctx.store.history(conv, query));
    const event: HistoryEvent = { type: 'history', ...about, messages: page.messages, more: page.more };
    if (!client.gone) this.ctx.reply(client, event, req.id);
  }
}
