// The command table: for every request type, whether it is allowed before hello, what it costs (the
// class a rate limit will count it in), and who handles it. Validation happened at the edge (the codec
// built the request from checked fields); here a request meets the rules of the session it arrived on.
//
// A handler either finishes at once or returns a promise; while a promise runs, the connection is
// paused (client.ts), so requests are served in order and one at a time. A handler that fails with a
// RequestError is answered with that error; any other exception is a bug, answered `internal` and
// logged, and never allowed to end the process.
import type { Request, RequestType } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { isRegistered, type Client, type RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Accounts } from './accounts.js';
import type { History } from './history.js';
import type { Messaging } from './messaging.js';
import type { Presence } from './presence.js';
import type { Rooms } from './rooms.js';
import type { Typing } from './typing.js';
import type { Reads } from './reads.js';
import type { Amend } from './amend.js';
import type { Search } from './search.js';
import { byName } from './rooms.js';
import { MAX_REFUSALS_IN_A_ROW, type RateLimiter } from './rate-limits.js';

/** What a request costs, for the rate limits to come: each class will have its own bucket. */
/**
 * `typing` is its own class, throttled by its handler (typing.ts: one per second per sender and
 * conversation, extras dropped silently) rather than by a bucket, so it is never refused.
 */
export type Cost = 'free' | 'message' | 'join' | 'read' | 'login' | 'typing';

export interface Parts {
  ctx: HubContext;
  presence: Presence;
  rooms: Rooms;
  messaging: Messaging;
  history: History;
  accounts: Accounts;
  typing: Typing;
  reads: Reads;
  amend: Amend;
  search: Search;
  /** Undefined with --no-rate-limit. */
  limits: RateLimiter | undefined;
}

type Result = void | Promise<void>;
type Command<R extends Request> =
  | { beforeHello: true; cost: Cost; handle: (p: Parts, c: Client, r: R) => Result }
  | { beforeHello: false; cost: Cost; handle: (p: Parts, c: RegisteredClient, r: R) => Result };
type CommandTable = { [K in RequestType]: Command<Extract<Request, { type: K }>> };

const COMMANDS: CommandTable = {
  hello: {
    beforeHello: true,
    cost: 'login',
    handle: async (p, c, r) => {
      const registered = await p.accounts.hello(c, r);
      if (!registered) return;
      p.limits?.joined(registered);
      await p.messaging.deliverInbox(registered);
    },
  },
  register: {
    beforeHello: false,
    cost: 'login',
    handle: async (p, c, r) => {
      await p.accounts.register(c, r);
      p.limits?.joined(c);
    },
  },
  password: { beforeHello: false, cost: 'login', handle: (p, c, r) => p.accounts.password(c, r) },
  logout: { beforeHello: false, cost: 'free', handle: (p, c, r) => p.accounts.logout(c, r) },
  ping: { beforeHello: true, cost: 'free', handle: (p, c, r) => p.ctx.reply(c, { type: 'pong' }, r.id) },
  // The answer to our own ping (TCP liveness): receiving it was the point.
  pong: { beforeHello: true, cost: 'free', handle: () => undefined },
  time: { beforeHello: true, cost: 'free', handle: (p, c, r) => p.ctx.reply(c, { type: 'time', time: new Date().toISOString() }, r.id) },
  bye: {
    beforeHello: true,
    cost: 'free',
    handle: (p, c, r) => {
      p.ctx.reply(c, { type: 'bye', reason: 'client' }, r.id);
      c.end('bye');
    },
  },
  join: { beforeHello: false, cost: 'join', handle: (p, c, r) => p.rooms.join(c, r, () => p.limits?.allowance(c).take('create') ?? 0) },
  leave: { beforeHello: false, cost: 'free', handle: (p, c, r) => p.rooms.leave(c, r) },
  say: { beforeHello: false, cost: 'message', handle: (p, c, r) => p.messaging.say(c, r) },
  dm: { beforeHello: false, cost: 'message', handle: (p, c, r) => p.messaging.dm(c, r) },
  who: {
    beforeHello: false,
    cost: 'read',
    handle: async (p, c, r) => {
      if (r.room !== undefined) {
        const room = p.ctx.directory.shared ? await p.rooms.membersEverywhere(nameKey(r.room)) : p.rooms.members(nameKey(r.room));
        const users = (room?.users ?? []).sort(byName);
        if (!c.gone) p.ctx.reply(c, { type: 'users', room: room?.name ?? r.room, users }, r.id);
        return;
      }
      const page = await p.presence.who(r);
      if (!c.gone) p.ctx.reply(c, { type: 'users', users: page.users, more: page.more }, r.id);
    },
  },
  rooms: {
    beforeHello: false,
    cost: 'read',
    handle: async (p, c, r) => {
      const rooms = await p.rooms.list();
      if (!c.gone) p.ctx.reply(c, { type: 'rooms', rooms }, r.id);
    },
  },
  typing: { beforeHello: false, cost: 'typing', handle: (p, c, r) => p.typing.typing(c, r) },
  read: { beforeHello: false, cost: 'join', handle: (p, c, r) => p.reads.read(c, r) },
  reads: { beforeHello: false, cost: 'read', handle: (p, c, r) => p.reads.list(c, r) },
  edit: { beforeHello: false, cost: 'message', handle: (p, c, r) => p.amend.edit(c, r) },
  delete: { beforeHello: false, cost: 'message', handle: (p, c, r) => p.amend.delete(c, r) },
  react: { beforeHello: false, cost: 'message', handle: (p, c, r) => p.amend.react(c, r) },
  unreact: { beforeHello: false, cost: 'message', handle: (p, c, r) => p.amend.react(c, r) },
  history: { beforeHello: false, cost: 'read', handle: (p, c, r) => p.history.page(c, r) },
  // A search page costs what a history page does: one read of at most a page of messages.
  search: { beforeHello: false, cost: 'read', handle: (p, c, r) => p.search.search(c, r) },
  topic: { beforeHello: false, cost: 'join', handle: (p, c, r) => p.rooms.topic(c, r) },
  away: {
    beforeHello: false,
    cost: 'join',
    handle: (p, c, r) => {
      if (p.presence.setAway(c, r.text)) p.rooms.publishAway(c.key, c.name, p.presence.awayOf(c.key));
      if (r.id !== undefined) p.ctx.reply(c, { type: 'ack', re: r.id }, undefined);
    },
  },
  whois: {
    beforeHello: false,
    cost: 'read',
    handle: async (p, c, r) => {
      const user = await p.presence.whois(r);
      if (!c.gone) p.ctx.reply(c, user, r.id);
    },
  },
};

export function dispatch(parts: Parts, client: Client, req: Request): void {
  // One cast, where the table's per-type handler meets the union: COMMANDS[req.type] handles req.type.
  const command = COMMANDS[req.type] as Command<Request>;
  const fail = (err: unknown): void => {
    if (client.gone) return;
    if (err instanceof RequestError) return parts.ctx.error(client, err.code, err.message, req.id, false, err.retryAfterMs);
    parts.ctx.log.error(`internal error in ${req.type}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    parts.ctx.error(client, 'internal', 'the server failed to handle this request; it has been logged', req.id);
  };
  if (!command.beforeHello && !isRegistered(client)) return parts.ctx.error(client, 'not_ready', 'say hello first', req.id);
  if (parts.limits && command.cost !== 'free' && command.cost !== 'login' && command.cost !== 'typing') {
    const allowance = parts.limits.allowance(client);
    const wait = allowance.take(command.cost);
    if (wait > 0) {
      // A client that keeps pushing past its refusals is not reading them: it is cut off.
      const fatal = allowance.refusedInARow > MAX_REFUSALS_IN_A_ROW;
      return parts.ctx.error(client, 'rate_limited', `too many ${command.cost} requests; wait ${wait} ms`, req.id, fatal, wait);
    }
  }
  let result: Result;
  try {
    if (command.beforeHello) result = command.handle(parts, client, req);
    else if (isRegistered(client)) result = command.handle(parts, client, req);
    else return;
  } catch (err) {
    return fail(err);
  }
  if (result) client.runExclusive(result.catch(fail));
  else client.flow();
}
