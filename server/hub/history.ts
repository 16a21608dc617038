// `history`: a page back (or forward) through a room the client is in, or through one of its own direct
// conversations, bounded by seq or by time (the IRC listener's CHATHISTORY needs both). The store serves durable messages only, so a message still being written is never
// listed here: it arrives live once stored.
import { LIMITS, type HistoryEvent, type HistoryRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { ConvKey, HistoryQuery } from '../store/store.js';
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
    // A time bound is the seq bound it stands for; given both kinds on one side, the tighter one wins.
    let before = req.before;
    let after = req.after;
    if (req.beforeTs !== undefined) {
      const t = Date.parse(req.beforeTs);
      const first = await this.firstSeqWhere(conv, (ts) => ts >= t);
      before = before === undefined ? first : Math.min(before, first);
    }
    if (req.afterTs !== undefined) {
      const t = Date.parse(req.afterTs);
      const last = (await this.firstSeqWhere(conv, (ts) => ts > t)) - 1;
      after = after === undefined ? last : Math.max(after, last);
    }
    // Paging forward (after) reads from the oldest end of the range, paging back from the newest.
    const query: HistoryQuery = { limit: req.limit ?? LIMITS.defaultHistory, from: after === undefined ? 'newest' : 'oldest' };
    if (before !== undefined) query.before = before;
    if (after !== undefined) query.after = after;
    const page = await this.ctx.read('history', this.ctx.store.history(conv, query));
    const event: HistoryEvent = { type: 'history', ...about, messages: page.messages, more: page.more };
    if (!client.gone) this.ctx.reply(client, event, req.id);
  }

  /**
   * The lowest retained seq whose message time passes `test` (last seq + 1 when none does). The store
   * never gives a message an earlier ts than the one before it, so times grow with seqs and the search
   * is a bisection over seqs: a few reads of one message each, whatever the conversation's length.
   */
  private async firstSeqWhere(conv: ConvKey, test: (ts: number) => boolean): Promise<number> {
    const top = await this.ctx.read('history', this.ctx.store.lastSeq(conv));
    const oldest = (await this.ctx.read('history', this.ctx.store.history(conv, { limit: 1, from: 'oldest' }))).messages[0];
    if (!oldest) return top + 1;
    let lo = oldest.seq;
    let hi = top + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const msg = (await this.ctx.read('history', this.ctx.store.history(conv, { before: mid + 1, limit: 1 }))).messages[0];
      // A message aged out meanwhile counts as older than any bound: it is not served anyway.
      if (msg !== undefined && test(Date.parse(msg.ts))) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
