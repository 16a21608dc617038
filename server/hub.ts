// The transport-agnostic middle of the server: users, rooms, direct messages and fan-out. It sees
// connections only as Peers (peer.ts), persistence only as a Store, other servers only as a Bus.
//
// Ordering rule that makes "no gap, no duplicate" hold: a chat message is delivered to anyone only
// once the store has made it durable, and durability callbacks arrive in append order. A room's
// `durableSeq` is therefore the last message its members have been sent, so a join sends history up
// to durableSeq and every later message reaches the joiner live, exactly once.
import { randomUUID } from 'node:crypto';
import type { ErrorCode } from '../protocol/errors.js';
import {
  LIMITS,
  PROTOCOL_VERSION,
  type ChatMessage,
  type DmRequest,
  type HistoryRequest,
  type HelloRequest,
  type JoinRequest,
  type LeaveRequest,
  type Request,
  type RequestId,
  type RequestType,
  type SayRequest,
  type ServerEvent,
  type UserInfo,
  type WhoRequest,
} from '../protocol/messages.js';
import { nameKey, parseRequest } from '../protocol/validate.js';
import { LocalBus, type Bus } from './bus.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { Outgoing } from './outgoing.js';
import type { Peer, Session } from './peer.js';
import { dmConv, roomConv, type ConvKey, type Store } from './store/store.js';

export interface HubOptions {
  store: Store;
  metrics: Metrics;
  log: Logger;
  bus?: Bus;
  /** Sent in welcome.server. */
  serverName: string;
  /** A connection that has not said hello by then is closed with idle_timeout. */
  helloTimeoutMs: number;
}

/** Messages per `history` event when a resume sends a long backlog. */
const RESUME_PAGE = 500;

interface Room {
  key: string;
  name: string;
  conv: string;
  members: Set<Client>;
  /** Highest seq already sent to members; see the ordering rule above. */
  durableSeq: number;
  /** Messages appended but not yet durable: the room object must outlive its members until 0. */
  pending: number;
}

const NO_ROOMS: readonly Room[] = [];

class Client implements Session {
  name: string | undefined;
  key: string | undefined;
  /**
   * The rooms this client is in, replaced (never grown) on join and leave so it is always exactly sized.
   * Not a Map: most clients sit in one or two rooms, and a Map's table cost every idle connection
   * ~260 bytes. Membership is asked of the room (`members`), so nothing searches this list.
   */
  rooms: readonly Room[] = NO_ROOMS;
  helloTimer: NodeJS.Timeout | undefined;
  gone = false;

  constructor(
    private readonly hub: Hub,
    readonly peer: Peer,
  ) {}

  receive(json: string): void {
    if (!this.gone) this.hub.receive(this, json);
  }

  reject(code: ErrorCode, message: string, fatal = false): void {
    if (!this.gone) this.hub.error(this, code, message, undefined, fatal);
  }

  disconnected(): void {
    if (this.gone) return;
    this.gone = true;
    this.hub.disconnected(this);
  }

  /** Forgets the timer as well: a cleared Timeout still held here would cost every client for its whole session. */
  stopHelloTimer(): void {
    clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
  }
}

type Handler<T extends Request> = (hub: Hub, client: Client, req: T) => void;
type CommandTable = { [K in RequestType]: { beforeHello: boolean; handle: Handler<Extract<Request, { type: K }>> } };

/** The declarative command table: which requests need a hello first, and who handles each. */
const COMMANDS: CommandTable = {
  hello: { beforeHello: true, handle: (h, c, r) => h.hello(c, r) },
  ping: { beforeHello: true, handle: (h, c, r) => h.reply(c, { type: 'pong' }, r.id) },
  time: { beforeHello: true, handle: (h, c, r) => h.reply(c, { type: 'time', time: new Date().toISOString() }, r.id) },
  bye: { beforeHello: true, handle: (h, c, r) => h.bye(c, r.id) },
  join: { beforeHello: false, handle: (h, c, r) => h.join(c, r) },
  leave: { beforeHello: false, handle: (h, c, r) => h.leave(c, r) },
  say: { beforeHello: false, handle: (h, c, r) => h.say(c, r) },
  dm: { beforeHello: false, handle: (h, c, r) => h.dm(c, r) },
  who: { beforeHello: false, handle: (h, c, r) => h.who(c, r) },
  rooms: { beforeHello: false, handle: (h, c, r) => h.rooms(c, r.id) },
  history: { beforeHello: false, handle: (h, c, r) => h.history(c, r) },
};

export class Hub {
  private readonly clients = new Set<Client>();
  /** Online users by name key. */
  private readonly users = new Map<string, Client>();
  /** Rooms that have members or pending messages, by room key. */
  private readonly roomsByKey = new Map<string, Room>();
  /** Display spelling of rooms the store remembers, so a restart keeps "Lobby" rather than "lobby". */
  private readonly roomNames = new Map<string, string>();
  /** DMs appended but not yet durable, per conversation: they are the newest seqs of it. */
  private readonly dmInFlight = new Map<string, number>();
  private readonly bus: Bus;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly metrics: Metrics;

  constructor(private readonly opts: HubOptions) {
    this.store = opts.store;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.bus = opts.bus ?? new LocalBus();
    this.bus.attach((topic, event) => this.deliverToRoom(topic, event));
    for (const name of this.store.rooms()) this.roomNames.set(nameKey(name), name);
    opts.metrics.gauges = () => ({ rooms: this.roomsByKey.size, users: this.users.size });
  }

  /** A transport accepted a connection. */
  connect(peer: Peer): Session {
    const client = new Client(this, peer);
    this.clients.add(client);
    client.helloTimer = setTimeout(() => {
      if (!client.name) this.error(client, 'idle_timeout', `no hello within ${this.opts.helloTimeoutMs} ms`, undefined, true);
    }, this.opts.helloTimeoutMs);
    client.helloTimer.unref();
    this.log.info(`connect ${peer.transport} ${peer.remote}`);
    return client;
  }

  /** Graceful shutdown: everyone hears why, then every connection closes. */
  shutdown(): void {
    const bye = new Outgoing({ type: 'bye', reason: 'shutdown' });
    for (const client of this.clients) {
      client.peer.send(bye);
      client.peer.close('shutdown');
    }
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  // ---- called by Client ----

  receive(client: Client, json: string): void {
    const parsed = parseRequest(json);
    if (!parsed.ok) {
      this.error(client, parsed.code, parsed.message, parsed.re);
      return;
    }
    const req = parsed.request;
    const command = COMMANDS[req.type] as { beforeHello: boolean; handle: Handler<Request> };
    if (!command.beforeHello && !client.name) {
      this.error(client, 'not_ready', 'say hello first', req.id);
      return;
    }
    command.handle(this, client, req);
  }

  disconnected(client: Client): void {
    client.stopHelloTimer();
    this.clients.delete(client);
    if (client.key !== undefined && client.name !== undefined) {
      const ts = new Date().toISOString();
      for (const room of client.rooms) {
        room.members.delete(client);
        this.broadcast(room, { type: 'left', room: room.name, name: client.name, ts, reason: 'disconnect' });
        this.maybeDrop(room);
      }
      client.rooms = NO_ROOMS;
      if (this.users.get(client.key) === client) this.users.delete(client.key);
      this.store.rememberUser(client.name, ts);
    }
    this.log.info(`disconnect ${client.peer.transport} ${client.peer.remote}${client.name ? ` ${client.name}` : ''}`);
  }

  error(client: Client, code: ErrorCode, message: string, re?: RequestId, fatal = false): void {
    this.metrics.error(code);
    const event: ServerEvent = { type: 'error', code, message };
    if (re !== undefined) event.re = re;
    if (fatal) event.fatal = true;
    client.peer.send(new Outgoing(event));
    this.log.info(`error ${code} ${client.peer.transport} ${client.peer.remote}${client.name ? ` ${client.name}` : ''}: ${message}`);
    if (fatal) client.peer.close(code);
  }

  reply(client: Client, event: ServerEvent, re: RequestId | undefined): void {
    if (re !== undefined) (event as { re?: RequestId }).re = re;
    client.peer.send(new Outgoing(event));
  }

  // ---- command handlers ----

  hello(client: Client, req: HelloRequest): void {
    if (client.name) return this.error(client, 'already_ready', `already connected as ${client.name}`, req.id);
    if (req.protocol !== undefined && req.protocol !== PROTOCOL_VERSION) {
      return this.error(client, 'protocol_unsupported', `this server speaks protocol ${PROTOCOL_VERSION}`, req.id, true);
    }
    const key = nameKey(req.name);
    if (this.users.has(key)) return this.error(client, 'name_taken', `${req.name} is already online`, req.id);
    client.stopHelloTimer();
    client.name = req.name;
    client.key = key;
    this.users.set(key, client);
    const time = new Date().toISOString();
    this.store.rememberUser(req.name, time);
    this.reply(
      client,
      { type: 'welcome', protocol: PROTOCOL_VERSION, name: req.name, session: randomUUID(), server: this.opts.serverName, time },
      req.id,
    );
    this.deliverInbox(client, key);
  }

  join(client: Client, req: JoinRequest): void {
    const key = nameKey(req.room);
    let room = this.memberRoom(client, key);
    const rejoin = room !== undefined;
    if (!room) {
      if (client.rooms.length >= LIMITS.maxRoomsPerConnection) {
        return this.error(client, 'too_many_rooms', `at most ${LIMITS.maxRoomsPerConnection} rooms per connection`, req.id);
      }
      room = this.roomFor(key, req.room);
      room.members.add(client);
      // concat sizes the copy exactly; a spread would reserve 17 slots.
      client.rooms = client.rooms.concat(room);
    }
    const users: string[] = [];
    for (const m of room.members) users.push(m.name!);
    this.reply(client, { type: 'members', room: room.name, users }, req.id);
    this.sendJoinHistory(client, room, req);
    if (!rejoin) this.broadcast(room, { type: 'joined', room: room.name, name: client.name!, ts: new Date().toISOString() });
  }

  leave(client: Client, req: LeaveRequest): void {
    const room = this.memberRoom(client, nameKey(req.room));
    if (!room) return this.error(client, 'not_member', `not in ${req.room}`, req.id);
    this.broadcast(room, { type: 'left', room: room.name, name: client.name!, ts: new Date().toISOString() });
    room.members.delete(client);
    const at = client.rooms.indexOf(room);
    client.rooms = client.rooms.slice(0, at).concat(client.rooms.slice(at + 1));
    this.maybeDrop(room);
    if (req.id !== undefined) this.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  say(client: Client, req: SayRequest): void {
    const room = this.memberRoom(client, nameKey(req.room));
    if (!room) return this.error(client, 'not_member', `join ${req.room} first`, req.id);
    const msg: ChatMessage = {
      type: 'message',
      room: room.name,
      from: client.name!,
      text: req.text,
      seq: this.store.lastSeq(room.conv) + 1,
      ts: new Date().toISOString(),
    };
    if (req.action === true) msg.action = true;
    this.metrics.messagesIn++;
    room.pending++;
    this.store.appendMessage(room.conv, msg, undefined, (err) => {
      room.pending--;
      if (err) {
        this.log.error(`store: ${err.message}`);
        this.error(client, 'unavailable', 'the message could not be stored; it was not sent', req.id);
      } else {
        room.durableSeq = msg.seq;
        this.broadcast(room, msg);
        this.metrics.messagesOut += room.members.size;
        if (req.id !== undefined && !client.gone) this.reply(client, { type: 'ack', re: req.id, seq: msg.seq }, undefined);
      }
      this.maybeDrop(room);
    });
  }

  dm(client: Client, req: DmRequest): void {
    const toKey = nameKey(req.to);
    const known = this.knownName(toKey);
    if (known === undefined) return this.noSuchUser(client, req.to, req.id);
    const conv = dmConv(client.key!, toKey);
    const msg: ChatMessage = {
      type: 'message',
      to: known,
      from: client.name!,
      text: req.text,
      seq: this.store.lastSeq(conv) + 1,
      ts: new Date().toISOString(),
    };
    if (req.action === true) msg.action = true;
    this.metrics.messagesIn++;
    this.dmInFlight.set(conv, (this.dmInFlight.get(conv) ?? 0) + 1);
    // Every DM goes through the recipient's inbox and leaves it when delivered. Deciding "offline"
    // when the record is written instead would lose a DM whose recipient disconnects before the
    // record is durable.
    this.store.appendMessage(conv, msg, toKey, (err) => {
      const left = this.dmInFlight.get(conv)! - 1;
      if (left === 0) this.dmInFlight.delete(conv);
      else this.dmInFlight.set(conv, left);
      if (err) {
        this.log.error(`store: ${err.message}`);
        return this.error(client, 'unavailable', 'the message could not be stored; it was not sent', req.id);
      }
      const out = new Outgoing(msg);
      const recipient = this.users.get(toKey);
      if (recipient) {
        recipient.peer.send(out);
        this.metrics.messagesOut++;
        this.store.markDelivered(toKey, 1, (e) => e && this.log.error(`store: ${e.message}`));
      }
      if (recipient !== client && !client.gone) {
        client.peer.send(out);
        this.metrics.messagesOut++;
      }
      if (req.id !== undefined && !client.gone) this.reply(client, { type: 'ack', re: req.id, seq: msg.seq }, undefined);
    });
  }

  who(client: Client, req: WhoRequest): void {
    let users: UserInfo[];
    if (req.room !== undefined) {
      const room = this.roomsByKey.get(nameKey(req.room));
      users = room ? [...room.members].map((m) => ({ name: m.name!, online: true })) : [];
      this.reply(client, { type: 'users', room: room?.name ?? req.room, users: users.sort(byName) }, req.id);
      return;
    }
    const seen = new Map<string, UserInfo>();
    for (const u of this.store.knownUsers()) seen.set(nameKey(u.name), { name: u.name, online: false, lastSeen: u.lastSeen });
    for (const [key, c] of this.users) seen.set(key, { name: c.name!, online: true });
    this.reply(client, { type: 'users', users: [...seen.values()].sort(byName) }, req.id);
  }

  rooms(client: Client, re: RequestId | undefined): void {
    const list = new Map<string, { name: string; members: number }>();
    for (const [key, name] of this.roomNames) list.set(key, { name, members: 0 });
    for (const room of this.roomsByKey.values()) list.set(room.key, { name: room.name, members: room.members.size });
    this.reply(client, { type: 'rooms', rooms: [...list.values()].sort(byName) }, re);
  }

  history(client: Client, req: HistoryRequest): void {
    if (req.with !== undefined) {
      // A direct conversation: the requester is one side of it by construction.
      const otherKey = nameKey(req.with);
      const known = this.knownName(otherKey);
      if (known === undefined) return this.noSuchUser(client, req.with, req.id);
      const conv = dmConv(client.key!, otherKey);
      // DMs not yet durable are the newest seqs and are delivered live once stored: page below them.
      return this.historyPage(client, req, conv, this.store.lastSeq(conv) - (this.dmInFlight.get(conv) ?? 0), { with: known });
    }
    const room = this.memberRoom(client, nameKey(req.room!));
    if (!room) return this.error(client, 'not_member', `join ${req.room} first`, req.id);
    this.historyPage(client, req, room.conv, room.durableSeq, { room: room.name });
  }

  /** One page of a conversation's stored messages, never past `durableLast` (newer ones come live). */
  private historyPage(client: Client, req: HistoryRequest, conv: ConvKey, durableLast: number, about: { room: string } | { with: string }): void {
    const before = Math.min(req.before ?? Number.MAX_SAFE_INTEGER, durableLast + 1);
    const page = this.store.history(conv, { before, limit: req.limit ?? LIMITS.defaultHistory });
    this.reply(client, { type: 'history', ...about, messages: page.messages, more: page.more }, req.id);
  }

  bye(client: Client, re: RequestId | undefined): void {
    this.reply(client, { type: 'bye', reason: 'client' }, re);
    client.peer.close('bye');
  }

  // ---- internals ----

  /** The spelling of a user who is online now or has ever connected; undefined for a stranger. */
  private knownName(key: string): string | undefined {
    return this.users.get(key)?.name ?? this.store.knownUser(key)?.name;
  }

  private noSuchUser(client: Client, name: string, re: RequestId | undefined): void {
    this.error(client, 'no_such_user', `nobody called ${name} has ever connected`, re);
  }

  /** The room `key` if the client is in it. */
  private memberRoom(client: Client, key: string): Room | undefined {
    const room = this.roomsByKey.get(key);
    return room !== undefined && room.members.has(client) ? room : undefined;
  }

  private roomFor(key: string, spelling: string): Room {
    let room = this.roomsByKey.get(key);
    if (!room) {
      const name = this.roomNames.get(key) ?? spelling;
      const conv = roomConv(key);
      room = { key, name, conv, members: new Set(), durableSeq: this.store.lastSeq(conv), pending: 0 };
      this.roomsByKey.set(key, room);
      this.roomNames.set(key, name);
    }
    return room;
  }

  private maybeDrop(room: Room): void {
    if (room.members.size === 0 && room.pending === 0) this.roomsByKey.delete(room.key);
  }

  private sendJoinHistory(client: Client, room: Room, req: JoinRequest): void {
    const before = room.durableSeq + 1;
    if (req.since === undefined) {
      const limit = req.history ?? LIMITS.defaultHistory;
      const page = limit === 0 ? { messages: [], more: room.durableSeq > 0 } : this.store.history(room.conv, { before, limit });
      this.reply(client, { type: 'history', room: room.name, messages: page.messages, more: page.more }, undefined);
      return;
    }
    // Resume: everything retained after `since`, oldest first, one seq window per event so that each
    // page costs only its own messages (asking for "everything after" per page would be quadratic).
    let after = Math.min(req.since, room.durableSeq);
    let sent = false;
    while (after < before - 1) {
      const end = Math.min(before, after + RESUME_PAGE + 1);
      const page = this.store.history(room.conv, { after, before: end, limit: RESUME_PAGE });
      if (page.messages.length > 0) {
        this.reply(client, { type: 'history', room: room.name, messages: page.messages, more: false }, undefined);
        sent = true;
      }
      after = end - 1;
    }
    if (!sent) this.reply(client, { type: 'history', room: room.name, messages: [], more: false }, undefined);
  }

  private deliverInbox(client: Client, key: string): void {
    const inbox = this.store.inbox(key);
    let delivered = 0;
    for (const msg of inbox) {
      // Only durable messages: the rest arrive through their own append callback, in order.
      const conv = dmConv(nameKey(msg.from), key);
      if (msg.seq > this.durableDmSeq(conv)) break;
      client.peer.send(new Outgoing(msg));
      delivered++;
    }
    if (delivered > 0) {
      this.metrics.messagesOut += delivered;
      this.store.markDelivered(key, delivered, (e) => e && this.log.error(`store: ${e.message}`));
    }
  }

  /** Highest durable seq of a DM conversation: appended minus those still in flight. */
  private durableDmSeq(conv: string): number {
    return this.store.lastSeq(conv) - (this.dmInFlight.get(conv) ?? 0);
  }

  private broadcast(room: Room, event: ServerEvent): void {
    this.bus.publish(room.key, new Outgoing(event));
  }

  private deliverToRoom(topic: string, event: Outgoing): void {
    const room = this.roomsByKey.get(topic);
    if (!room) return;
    for (const m of room.members) m.peer.send(event);
  }
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0;
}
