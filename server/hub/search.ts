// `search`: the stored messages holding every word of a query, over what the searcher may read and no
// more. That is exactly what `history` would show it: the rooms this connection is in (rooms are
// public, but like their history they are searched once joined) and its own direct conversations
// between two accounts. A guest's DMs are never stored, so a guest finds nothing of them. The store
// answers from its index (store.ts SearchQuery); this part only decides the scope and shapes the reply.
import { LIMITS, type ResultsEvent, type SearchRequest, type SearchResult } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { searchTerms } from '../../protocol/search-terms.js';
import type { ConvKey, SearchHit, SearchQuery } from '../store/store.js';
import type { RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Messaging } from './messaging.js';
import type { Presence } from './presence.js';
import type { Rooms } from './rooms.js';

export class Search {
  constructor(
    private readonly ctx: HubContext,
    private readonly rooms: Rooms,
    private readonly presence: Presence,
    private readonly messaging: Messaging,
  ) {}

  async search(client: RegisteredClient, req: SearchRequest): Promise<void> {
    // Validation already refused a query without words or with too many (validate.ts).
    const terms = searchTerms(req.query);
    const scope = await this.scope(client, req);
    if (client.gone) return;
    const reply = (messages: SearchResult[], more: boolean, next: number | undefined): void => {
      const event: ResultsEvent = { type: 'results', messages, terms, more };
      if (next !== undefined) event.next = next;
      if (!client.gone) this.ctx.reply(client, event, req.id);
    };
    if (!scope) return reply([], false, undefined);
    const query: SearchQuery = { terms, ...scope, limit: req.limit ?? LIMITS.defaultSearchPage };
    if (req.before !== undefined) query.before = req.before;
    const page = await this.ctx.read('search results', this.ctx.store.search(query));
    reply(
      page.hits.map((h) => this.result(client, h)),
      page.more,
      page.more ? page.next : undefined,
    );
  }

  /** What the searcher may read of what it asked for; undefined when that is nothing at all. */
  private async scope(client: RegisteredClient, req: SearchRequest): Promise<Pick<SearchQuery, 'convs' | 'dmsOf'> | undefined> {
    if (req.room !== undefined) {
      const room = this.rooms.memberRoom(client, nameKey(req.room));
      if (!room) throw new RequestError('not_member', `join ${req.room} first`);
      return { convs: [room.conv] };
    }
    if (req.with !== undefined) {
      // As for history: a name never seen is no_such_user; a conversation with a guest is never stored.
      const otherKey = nameKey(req.with);
      const other = await this.ctx.read('accounts', this.ctx.accounts.get(otherKey));
      if (!other && (await this.presence.knownName(otherKey)) === undefined) throw this.presence.noSuchUser(req.with);
      if (!client.account || !other) return undefined;
      return { convs: [await this.messaging.conversation(client.key, otherKey)] };
    }
    const convs: ConvKey[] = client.rooms.map((r) => r.conv);
    if (!client.account) return convs.length > 0 ? { convs } : undefined;
    return { convs, dmsOf: client.key };
  }

  /** A hit as the searcher sees it: a direct message also says who the conversation is with. */
  private result(client: RegisteredClient, hit: SearchHit): SearchResult {
    if (hit.msg.room !== undefined || hit.msg.to === undefined) return hit.msg;
    // The searcher is one side (the scope says so): the other side is whichever name is not its own.
    const other = nameKey(hit.msg.from) === client.key ? hit.msg.to : hit.msg.from;
    return { ...hit.msg, with: other };
  }
}
