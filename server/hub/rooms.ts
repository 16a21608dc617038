// Room membership: who is in which room, joining (with its history and resume), leaving, and handing
// room events from the bus to local members.
//
// The rule that makes "history, then live, no gap, no duplicate" hold with a store read that takes
// time: a joiner becomes a member first (subscribe), then reads what it needs from the store (read),
// and live messages published meanwhile are not sent to it but read from the store too, because a
// message is published only once durable (drop duplicates by seq: nothing is sent twice because
// nothing is sent from two places at once). Only when the reads have caught up with the room's last
// published seq, within one synchronous step, does the joiner start receiving live messages.
// Other room events that arrive during the catch-up (joined, left) are held and sent after it.
//
// The same rule covers a bus that can lose or repeat events (Redis pub/sub across nodes): a message at
// or below lastSeq was already delivered and is dropped; one above lastSeq + 1 reveals a gap, and the
// room refills from the store (oldest first, bumping lastSeq as it sends) until it has caught up,
// delivering nothing newer meanwhile, so members see each seq once and in order. A bus that has just
// (re)subscribed asks every room to refill (refillAll). With the local bus neither ever happens.
import {
  LIMITS,
  type ChatMessage,
  type JoinRequest,
  type LeaveRequest,
  type MembersEvent,
  type RoomInfo,
  type TopicRequest,
  type UserInfo,
} from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { BusEvent } from '../bus.js';
import { Outgoing } from '../outgoing.js';
import { roomConv, type ConvKey } from '../store/store.js';
import type { RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Presence } from './presence.js';

/** Messages per `history` event when a resume sends a long backlog (docs/protocol.md). */
export const RESUME_PAGE = 500;
/** Room events held for one joiner while it catches up; beyond this the oldest are dropped. */
const MAX_HELD_EVENTS = 256;

export interface Room {
  readonly key: string;
  readonly name: string;
  readonly conv: ConvKey;
  readonly members: Set<RegisteredClient>;
  /** Members still catching up, with the non-message events held for them. Usually absent. */
  catchingUp: Map<RegisteredClient, Outgoing[]> | undefined;
  /** Highest seq published for this room: every message up to it is durable. */
  lastSeq: number;
  /** Settles once lastSeq has been read from the store. */
  ready: Promise<void>;
  /** Messages appended but not yet durable: the room object must outlive its members until 0. */
  pending: number;
  /** lastSeq has been read from the store: from then on a seq above lastSeq + 1 is a gap. */
  loaded: boolean;
  /** A refill is reading the store up to refillTo; live messages wait for it (they are read by it). */
  refilling: boolean;
  refillTo: number;
}

type RoomEvent = Extract<BusEvent, { kind: 'room' }>;

export class Rooms {
  /** Rooms that have members or pending messages, by room key. */
  private readonly byKey = new Map<string, Room>();
  /** Display spelling of rooms the store remembers, so a restart keeps "Lobby" rather than "lobby". */
  private readonly names = new Map<string, string>();

  constructor(
    private readonly ctx: HubContext,
    private readonly presence: Presence,
    /** Rooms this server may hold in all (--max-rooms); 0 = no cap. */
    private readonly maxRooms: number,
  ) {}

  async load(): Promise<void> {
    for (const name of await this.ctx.store.rooms()) this.names.set(nameKey(name), name);
  }

  get count(): number {
    return this.byKey.size;
  }

  /** The room `key` if the client is in it. */
  memberRoom(client: RegisteredClient, key: string): Room | undefined {
    const room = this.byKey.get(key);
    return room !== undefined && room.members.has(client) ? room : undefined;
  }

  /** Members of a room as `who {room}` lists them: each user once, guests and away marked. */
  members(key: string): { name: string; users: UserInfo[] } | undefined {
    const room = this.byKey.get(key);
    if (!room) return undefined;
    return { name: room.name, users: memberList(room).map((m) => this.userInfo(m)) };
  }

  /** `who {room}`: members here, and in cluster mode those on other servers too. */
  async membersEverywhere(key: string): Promise<{ name: string; users: UserInfo[] } | undefined> {
    const here = this.members(key);
    if (!this.ctx.directory.shared) return here;
    const remote = await this.ctx.read('the members', this.ctx.directory.roomMembers(key));
    if (!here && remote.length === 0) return undefined;
    const users = here?.users ?? [];
    const listed = new Set(users.map((u) => nameKey(u.name)));
    for (const m of remote) {
      if (listed.has(nameKey(m.name))) continue;
      const info: UserInfo = m.guest ? { name: m.name, online: true, guest: true } : { name: m.name, online: true };
      if (m.away !== undefined) info.away = m.away;
      users.push(info);
    }
    return { name: here?.name ?? this.names.get(key) ?? key, users };
  }

  /** `topic {room}` asks; `topic {room, text}` sets (members only; empty clears) and every member hears it. */
  async topic(client: RegisteredClient, req: TopicRequest): Promise<void> {
    const key = nameKey(req.room);
    if (req.text === undefined) {
      const t = await this.ctx.read('the topic', this.ctx.topics.get(key));
      const name = this.byKey.get(key)?.name ?? this.names.get(key) ?? req.room;
      this.ctx.reply(client, t ? { type: 'topic', room: name, text: t.text, by: t.by, ts: t.ts } : { type: 'topic', room: name, text: '' }, req.id);
      return;
    }
    const room = this.memberRoom(client, key);
    if (!room) throw new RequestError('not_member', `join ${req.room} first`);
    const topic = { text: req.text, by: client.name, ts: new Date().toISOString() };
    await this.ctx.read('the topic', this.ctx.topics.set(key, topic));
    this.publish(room, { type: 'topic', room: room.name, ...topic });
    if (req.id !== undefined && !client.gone) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  /** Tells every room the user is in (once per room, whichever sessions are in it) that its away changed. */
  publishAway(key: string, name: string, text: string | undefined): void {
    const told = new Set<Room>();
    for (const s of this.presence.sessionsOf(key)) {
      for (const room of s.rooms) {
        if (told.has(room)) continue;
        told.add(room);
        this.publish(room, text === undefined ? { type: 'away', name } : { type: 'away', name, text });
      }
    }
  }

  private membersEvent(room: Room, elsewhere: readonly { name: string; guest: boolean; away?: string }[] = []): MembersEvent {
    const list: { name: string; guest: boolean; away?: string }[] = memberList(room);
    const listed = new Set(list.map((m) => nameKey(m.name)));
    for (const m of elsewhere) if (!listed.has(nameKey(m.name))) list.push(m);
    const event: MembersEvent = { type: 'members', room: room.name, users: list.map((m) => m.name) };
    const guests = list.filter((m) => m.guest).map((m) => m.name);
    if (guests.length > 0) event.guests = guests;
    let away: Record<string, string> | undefined;
    for (const m of list) {
      const text = this.presence.awayOf(nameKey(m.name)) ?? m.away;
      if (text !== undefined) (away ??= {})[m.name] = text;
    }
    if (away) event.away = away;
    return event;
  }

  private userInfo(m: { name: string; guest: boolean }): UserInfo {
    const info: UserInfo = { name: m.name, online: true };
    if (m.guest) info.guest = true;
    const away = this.presence.awayOf(nameKey(m.name));
    if (away !== undefined) info.away = away;
    return info;
  }

  /**
   * `mayCreate` is asked before a room that does not exist yet is created: 0 to go ahead, or the
   * milliseconds until this sender may create another.
   */
  async join(client: RegisteredClient, req: JoinRequest, mayCreate: () => number = () => 0): Promise<void> {
    const key = nameKey(req.room);
    let room = this.memberRoom(client, key);
    const rejoin = room !== undefined;
    if (!room) {
      if (client.rooms.length >= LIMITS.maxRoomsPerConnection) {
        throw new RequestError('too_many_rooms', `at most ${LIMITS.maxRoomsPerConnection} rooms per connection`);
      }
      if (!this.byKey.has(key) && !this.names.has(key)) {
        if (this.maxRooms > 0 && this.names.size >= this.maxRooms) {
          throw new RequestError('too_many_rooms', `this server holds its maximum of ${this.maxRooms} rooms; join an existing one`);
        }
        const wait = mayCreate();
        if (wait > 0) throw new RequestError('rate_limited', `you have created rooms too fast; try again in ${Math.ceil(wait / 1000)} s`, wait);
      }
      room = this.roomFor(key, req.room);
      await this.ctx.read('the room', room.ready);
      if (client.gone) return this.maybeDrop(room);
      room.members.add(client);
      // concat sizes the copy exactly; a spread would reserve 17 slots.
      client.setRooms(client.rooms.concat(room));
      this.ctx.directory.joinedRoom(client.id, room.key, room.name, client.name, !client.account);
    }
    const held: Outgoing[] = [];
    (room.catchingUp ??= new Map()).set(client, held);
    try {
      const elsewhere = this.ctx.directory.shared ? await this.ctx.read('the members', this.ctx.directory.roomMembers(room.key)) : [];
      // Said once per user: a second session of an account joining (here or on another server in
      // cluster mode) tells the room nothing new.
      const announce = !rejoin && !this.otherSessionIn(room, client) && !elsewhere.some((m) => nameKey(m.name) === client.key);
      this.ctx.reply(client, this.membersEvent(room, elsewhere), req.id);
      const topic = await this.ctx.read('the topic', this.ctx.topics.get(room.key));
      if (topic) this.ctx.reply(client, { type: 'topic', room: room.name, text: topic.text, by: topic.by, ts: topic.ts }, undefined);
      // The joiner's read marker (reads.ts), so a new device starts with the right unread count.
      const conv = `r:${room.key}`;
      const mark = client.account ? await this.ctx.read('read markers', this.ctx.reads.get(client.key, conv)) : client.reads?.get(conv);
      if (mark) this.ctx.reply(client, { type: 'read', room: room.name, seq: mark.seq }, undefined);
      if (announce) {
        const ts = new Date().toISOString();
        this.publish(room, client.account ? { type: 'joined', room: room.name, name: client.name, ts } : { type: 'joined', room: room.name, name: client.name, ts, guest: true });
      }
      const top = room.lastSeq;
      const sent = req.since === undefined ? await this.sendLatest(client, room, top, req.history ?? LIMITS.defaultHistory) : await this.sendSince(client, room, Math.min(req.since, top), top);
      await this.catchUp(client, room, Math.max(sent, top));
    } finally {
      // Live from here on: no await between the last check of lastSeq and this.
      room.catchingUp?.delete(client);
      if (room.catchingUp?.size === 0) room.catchingUp = undefined;
      if (!client.gone && room.members.has(client)) for (const out of held) client.peer.send(out);
    }
  }

  leave(client: RegisteredClient, req: LeaveRequest): void | Promise<void> {
    const room = this.memberRoom(client, nameKey(req.room));
    if (!room) throw new RequestError('not_member', `not in ${req.room}`);
    if (this.ctx.directory.shared && !this.otherSessionIn(room, client)) return this.leaveCluster(client, room, req);
    if (this.otherSessionIn(room, client)) {
      // The user is still in the room through another session: only this one hears it left.
      this.ctx.reply(client, { type: 'left', room: room.name, name: client.name, ts: new Date().toISOString() }, undefined);
    } else {
      this.publish(room, { type: 'left', room: room.name, name: client.name, ts: new Date().toISOString() });
    }
    this.remove(client, room);
    if (req.id !== undefined) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  /**
   * The connection is gone: every room it was in hears so. After a `bye` the user left on purpose, so
   * the `left` carries no `reason` (clients show it as leaving, not as a lost connection).
   */
  leaveAll(client: RegisteredClient): void {
    const ts = new Date().toISOString();
    const saidBye = client.endedBy === 'bye';
    for (const room of client.rooms) {
      this.remove(client, room);
      if (this.otherSessionIn(room, client)) continue;
      const left = (): void =>
        this.publish(room, saidBye ? { type: 'left', room: room.name, name: client.name, ts } : { type: 'left', room: room.name, name: client.name, ts, reason: 'disconnect' });
      if (!this.ctx.directory.shared) left();
      else void this.inRoomElsewhere(room, client.key).then((still) => still || left());
    }
  }

  /**
   * Cluster mode: the user's last session here leaves; the room hears `left` only if no session on
   * another server is still in it. This server's membership is withdrawn before asking, so of two
   * sessions leaving on two servers at once at least one sees the other gone.
   */
  private async leaveCluster(client: RegisteredClient, room: Room, req: LeaveRequest): Promise<void> {
    this.ctx.directory.leftRoom(client.id, room.key);
    const still = await this.inRoomElsewhere(room, client.key);
    if (!room.members.has(client)) return;
    const ts = new Date().toISOString();
    if (still) this.ctx.reply(client, { type: 'left', room: room.name, name: client.name, ts }, undefined);
    else this.publish(room, { type: 'left', room: room.name, name: client.name, ts });
    this.remove(client, room);
    if (req.id !== undefined) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  /** Whether the user is in the room through another server (false when that cannot be asked). */
  private async inRoomElsewhere(room: Room, userKey: string): Promise<boolean> {
    try {
      return (await this.ctx.directory.roomMembers(room.key)).some((m) => nameKey(m.name) === userKey);
    } catch {
      return false;
    }
  }

  /** `rooms`: those with members here and those the store has history for. */
  async list(): Promise<RoomInfo[]> {
    const list = new Map<string, RoomInfo>();
    for (const name of await this.ctx.read('the room list', this.ctx.store.rooms())) {
      const key = nameKey(name);
      if (!this.names.has(key)) this.names.set(key, name);
      list.set(key, { name: this.names.get(key)!, members: 0 });
    }
    for (const room of this.byKey.values()) list.set(room.key, { name: room.name, members: room.members.size });
    // Cluster mode: members are users, counted once whichever servers their sessions are on.
    if (this.ctx.directory.shared) {
      for (const r of await this.ctx.read('the room list', this.ctx.directory.activeRooms())) {
        const here = this.byKey.get(r.key);
        const users = new Set(r.users);
        if (here) for (const m of here.members) users.add(m.key);
        list.set(r.key, { name: here?.name ?? this.names.get(r.key) ?? r.name, members: users.size });
      }
    }
    return [...list.values()].sort(byName);
  }

  /** A message of `room` is about to be stored / has been stored or refused. */
  writeStarted(room: Room): void {
    room.pending++;
  }

  writeSettled(room: Room): void {
    room.pending--;
    this.maybeDrop(room);
  }

  /** A chat message is durable: every member hears it. */
  publishMessage(room: Room, msg: ChatMessage): void {
    this.ctx.bus.publish({ kind: 'room', room: room.key, conv: room.conv, seq: msg.seq, out: new Outgoing(msg) });
  }

  /**
   * An ephemeral room event (typing): never stored, not held for a joiner catching up, and not sent to
   * the sessions of the user it names.
   */
  publishEphemeral(room: Room, event: Outgoing['event'] & { type: 'typing' }): void {
    this.ctx.bus.publish({ kind: 'room', room: room.key, conv: room.conv, out: new Outgoing(event) });
  }

  /** An event about a stored message (edited, deleted, reactions): every member hears it. */
  publishAmend(room: Room, event: Outgoing['event']): void {
    this.publish(room, event);
  }

  /** The bus hands a room event to this server's members. */
  deliver(event: RoomEvent): void {
    const room = this.byKey.get(event.room);
    if (!room) return;
    const ev = event.out.event;
    if (ev.type === 'typing') {
      const except = nameKey(ev.name);
      for (const m of room.members) if (m.key !== except && !catchingUpHas(room, m)) m.peer.send(event.out);
      return;
    }
    if (event.seq !== undefined) {
      if (!room.loaded) {
        // No member yet (members join once lastSeq is read); the read and this agree on the maximum.
        if (event.seq > room.lastSeq) room.lastSeq = event.seq;
        return;
      }
      if (event.seq <= room.lastSeq) return;
      if (room.refilling || event.seq > room.lastSeq + 1) return this.refill(room, event.seq);
      room.lastSeq = event.seq;
    }
    this.send(room, event.out, event.seq !== undefined);
  }

  /** Events may have been missed: every loaded room reads the store up to its last seq there. */
  refillAll(): void {
    for (const room of this.byKey.values()) {
      if (!room.loaded) continue;
      this.ctx.store.lastSeq(room.conv).then(
        (top) => {
          if (top > room.lastSeq) this.refill(room, top);
        },
        (err: Error) => this.ctx.log.warn(`room ${room.name}: cannot refill: ${err.message}`),
      );
    }
  }

  private refill(room: Room, target: number): void {
    if (target > room.refillTo) room.refillTo = target;
    if (room.refilling) return;
    room.refilling = true;
    this.runRefill(room).catch((err: unknown) => this.ctx.log.error(`room ${room.name}: refill: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  }

  private async runRefill(room: Room): Promise<void> {
    try {
      await this.refillLoop(room);
    } finally {
      // In the same step as the loop's last check: a notice cannot slip in between and wait unread.
      room.refilling = false;
    }
  }

  private async refillLoop(room: Room): Promise<void> {
    for (let failures = 0; this.byKey.get(room.key) === room && room.lastSeq < room.refillTo; ) {
      let page;
      try {
        page = await this.ctx.store.history(room.conv, { after: room.lastSeq, limit: RESUME_PAGE, from: 'oldest' });
      } catch (err) {
        this.ctx.log.warn(`room ${room.name}: refill after ${room.lastSeq} failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** failures++)));
        continue;
      }
      failures = 0;
      if (page.messages.length === 0) {
        // Published but gone from the store: history was lost (or trimmed) there; do not wait for it.
        this.ctx.log.warn(`room ${room.name}: messages ${room.lastSeq + 1}-${room.refillTo} are not in the store; skipped`);
        room.lastSeq = room.refillTo;
        return;
      }
      for (const msg of page.messages) {
        if (msg.seq <= room.lastSeq) continue;
        room.lastSeq = msg.seq;
        this.send(room, new Outgoing(msg), true);
      }
    }
  }

  /** Hands one room event to the members here; members still catching up read messages from the store. */
  private send(room: Room, out: Outgoing, isMessage: boolean): void {
    const catchingUp = room.catchingUp;
    let delivered = 0;
    for (const m of room.members) {
      const held = catchingUp?.get(m);
      if (held === undefined) {
        m.peer.send(out);
        delivered++;
      } else if (!isMessage) {
        // A message is read from the store by the catch-up instead; anything else waits for it.
        if (held.length >= MAX_HELD_EVENTS) held.shift();
        held.push(out);
      }
    }
    if (isMessage) this.ctx.metrics.messagesOut += delivered;
  }

  // ---- internals ----

  private publish(room: Room, event: Outgoing['event']): void {
    this.ctx.bus.publish({ kind: 'room', room: room.key, conv: room.conv, out: new Outgoing(event) });
  }

  /** join without `since`: one event with the latest `limit` messages up to `top`. Returns the last seq covered. */
  private async sendLatest(client: RegisteredClient, room: Room, top: number, limit: number): Promise<number> {
    const page =
      limit === 0 || top === 0
        ? { messages: [], more: top > 0 }
        : await this.ctx.read('history', this.ctx.store.history(room.conv, { before: top + 1, limit }));
    this.ctx.reply(client, { type: 'history', room: room.name, messages: page.messages, more: page.more }, undefined);
    return top;
  }

  /**
   * join with `since`: every retained message after it, oldest first, a page per event, each page read
   * only once the previous one has left (a resume from 0 over a long history costs one page of memory).
   */
  private async sendSince(client: RegisteredClient, room: Room, since: number, top: number): Promise<number> {
    let after = since;
    let sent = false;
    while (after < top && !client.gone) {
      const page = await this.ctx.read('history', this.ctx.store.history(room.conv, { after, before: top + 1, limit: RESUME_PAGE, from: 'oldest' }));
      const last = page.messages[page.messages.length - 1];
      if (!last) break;
      this.ctx.reply(client, { type: 'history', room: room.name, messages: page.messages, more: false }, undefined);
      sent = true;
      after = last.seq;
      if (!page.more) break;
      await client.roomToWrite();
    }
    if (!sent) this.ctx.reply(client, { type: 'history', room: room.name, messages: [], more: false }, undefined);
    return top;
  }

  /**
   * Messages published while the joiner read its history: read them too, until none is left. Whatever
   * was sent last (the history, a page of this catch-up) leaves before more is sent, so a reader that
   * keeps up never holds a long reply and a burst of room events at once; the last check of lastSeq
   * and going live (the caller's finally) happen in one synchronous step.
   */
  private async catchUp(client: RegisteredClient, room: Room, after: number): Promise<void> {
    for (;;) {
      await client.roomToWrite();
      if (client.gone || room.lastSeq <= after) return;
      const page = await this.ctx.read('history', this.ctx.store.history(room.conv, { after, limit: RESUME_PAGE, from: 'oldest' }));
      // Only up to what this server has delivered live: a shared store (cluster mode) may already hold
      // messages whose notices have not reached this node; those come live, once, after the catch-up.
      const upTo = room.lastSeq;
      const msgs = page.messages.filter((m) => m.seq <= upTo);
      const last = msgs[msgs.length - 1];
      if (!last) {
        // Published means stored, so the store has them; if it says otherwise, do not spin.
        this.ctx.log.warn(`room ${room.name}: store has nothing after ${after} though ${room.lastSeq} was published`);
        return;
      }
      for (const msg of msgs) client.peer.send(new Outgoing(msg));
      this.ctx.metrics.messagesOut += msgs.length;
      after = last.seq;
    }
  }

  /** Whether another session of the client's user is in the room. */
  private otherSessionIn(room: Room, client: RegisteredClient): boolean {
    for (const s of this.presence.sessionsOf(client.key)) if (s !== client && room.members.has(s)) return true;
    return false;
  }

  private roomFor(key: string, spelling: string): Room {
    let room = this.byKey.get(key);
    if (!room) {
      const name = this.names.get(key) ?? spelling;
      const conv = roomConv(key);
      const created: Room = {
        key,
        name,
        conv,
        members: new Set(),
        catchingUp: undefined,
        lastSeq: 0,
        ready: Promise.resolve(),
        pending: 0,
        loaded: false,
        refilling: false,
        refillTo: 0,
      };
      created.ready = this.ctx.store.lastSeq(conv).then(
        (seq) => {
          if (seq > created.lastSeq) created.lastSeq = seq;
          created.loaded = true;
        },
        (err: unknown) => {
          // Forget the room so that the next join asks the store again.
          if (this.byKey.get(key) === created && created.members.size === 0) this.byKey.delete(key);
          throw err;
        },
      );
      room = created;
      this.byKey.set(key, room);
      this.names.set(key, name);
    }
    return room;
  }

  private remove(client: RegisteredClient, room: Room): void {
    if (room.members.has(client)) this.ctx.directory.leftRoom(client.id, room.key);
    room.members.delete(client);
    room.catchingUp?.delete(client);
    const at = client.rooms.indexOf(room);
    if (at >= 0) client.setRooms(client.rooms.slice(0, at).concat(client.rooms.slice(at + 1)));
    this.maybeDrop(room);
  }

  private maybeDrop(room: Room): void {
    if (room.members.size === 0 && room.pending === 0 && this.byKey.get(room.key) === room) this.byKey.delete(room.key);
  }
}

function catchingUpHas(room: Room, m: RegisteredClient): boolean {
  return room.catchingUp?.has(m) === true;
}

/** Each user once (an account may be in a room from several sessions), guests marked. */
function memberList(room: Room): { name: string; guest: boolean }[] {
  const seen = new Map<string, { name: string; guest: boolean }>();
  for (const m of room.members) if (!seen.has(m.key)) seen.set(m.key, { name: m.name, guest: !m.account });
  return [...seen.values()];
}

export function byName(a: { name: string }, b: { name: string }): number {
  const x = nameKey(a.name);
  const y = nameKey(b.name);
  return x < y ? -1 : x > y ? 1 : 0;
}
