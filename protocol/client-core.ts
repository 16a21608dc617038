// The client half of protocol v1 that both clients share, whatever draws the screen: request ids and
// replies, the rooms to rejoin after a reconnect, the last seq seen per room and per direct
// conversation (resume with `since`, catch up DMs from their history, duplicates dropped), answers to
// the server's pings, and requests typed while offline. Browser-safe: no Node imports.
import type { ChatMessage, HistoryEvent, Request, RequestId, ServerEvent } from './messages.js';
import { nameKey } from './validate.js';

// ---- The core.

/** A request without its id: the core numbers every request so each reply can be matched. */
export type Outbound = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export interface ClientCoreOptions {
  /** Writes one request on the current connection. */
  send(req: Request): void;
  /** Messages asked for on a first join (resumes ask for everything since the last seq seen). */
  historyOnJoin?: number;
  /** Page size of the history requests that catch up a direct conversation after a reconnect. */
  catchUpPage?: number;
  /**
   * Direct messages that were not shown when they arrived: those a reconnect's catch-up found, and
   * live ones held back while it ran so that everything shows in seq order. Oldest first, each new.
   */
  show?(messages: ChatMessage[]): void;
}

export interface Pending {
  id: RequestId;
  req: Outbound;
}

/** A direct conversation, known by the other party. */
interface DmThread {
  /** The other party's spelling, as the server last gave it. */
  name: string;
  /** Highest seq shown (0: none yet). */
  last: number;
  /** While a catch-up runs: every message above `last` gathered so far, from history and live, by seq. */
  gathering?: Map<number, ChatMessage>;
}

export class ClientCore {
  name: string | undefined;
  /** Joined rooms by key -> display name, in join order: rejoined after every reconnect. */
  readonly rooms = new Map<string, string>();
  private readonly lastSeq = new Map<string, number>();
  /** Direct conversations by the other party's key: caught up after every reconnect. */
  private readonly dms = new Map<string, DmThread>();
  /** Catch-up history requests in flight -> the conversation they are for. Kept out of `pending`:
   * the core consumes their replies itself, and the clients never see them. */
  private readonly catchUps = new Map<RequestId, string>();
  private readonly pending = new Map<RequestId, Pending>();
  private queued: Pending[] = [];
  private nextId = 1;
  private ready = false;

  constructor(private readonly opts: ClientCoreOptions) {}

  get isReady(): boolean {
    return this.ready;
  }

  /** Requests sent and not yet answered, plus those waiting for a connection. */
  get outstanding(): number {
    return this.pending.size + this.queued.length;
  }

  /** A connection is open: introduce ourselves. Returns the hello's id. */
  connected(name: string): RequestId {
    this.name = name;
    this.ready = false;
    const id = `h${this.nextId++}`;
    this.opts.send({ type: 'hello', name, protocol: 1, client: 'parley', id });
    return id;
  }

  /**
   * The connection is gone. Returns the requests that were sent but never answered: they may or may
   * not have taken effect, so they are reported rather than silently sent again.
   */
  disconnected(): Pending[] {
    this.ready = false;
    const lost = [...this.pending.values()];
    this.pending.clear();
    // A catch-up cut short starts again from the same seq after the next welcome; what it had
    // gathered is stored on the server and comes back then.
    this.catchUps.clear();
    for (const t of this.dms.values()) t.gathering = undefined;
    return lost;
  }

  /** Sends now when welcomed, otherwise once the next welcome (and rejoin) has happened. */
  request(req: Outbound): RequestId {
    const p: Pending = { id: this.nextId++, req };
    if (this.ready) this.write(p);
    else this.queued.push(p);
    return p.id;
  }

  /** The request a reply answers, if any (and it stops being pending). */
  settle(re: RequestId | undefined): Pending | undefined {
    if (re === undefined) return undefined;
    const p = this.pending.get(re);
    this.pending.delete(re);
    return p;
  }

  /**
   * Feeds an event through the core. Returns false for an event the caller must not act on: a
   * message already seen (a resume overlap, a redelivery), one held back until a catch-up completes
   * (it comes out through `show`), the replies to the core's own requests, and a server ping.
   */
  accept(ev: ServerEvent): boolean {
    switch (ev.type) {
      case 'welcome':
        this.name = ev.name;
        this.ready = true;
        for (const [key, room] of this.rooms) this.write(this.joinRequest(key, room));
        for (const [key, t] of this.dms) this.startCatchUp(key, t);
        for (const p of this.queued.splice(0)) this.write(p);
        return true;
      case 'members':
        this.rooms.set(nameKey(ev.room), ev.room);
        return true;
      case 'message':
        return this.fresh(ev);
      case 'history':
        return ev.re === undefined || !this.catchUps.has(ev.re) || this.caughtUpPage(ev.re, ev);
      case 'error':
        return ev.re === undefined || !this.catchUps.has(ev.re) || this.catchUpFailed(ev.re);
      case 'left':
        if (ev.name === this.name && ev.reason === undefined) this.rooms.delete(nameKey(ev.room));
        return true;
      case 'ping':
        // Written directly: a pong gets no reply, so it must not wait among the pending requests.
        this.opts.send({ type: 'pong' });
        return false;
      default:
        return true;
    }
  }

  /** Keeps the messages of a history event that are new; updates the last seq seen. */
  freshHistory(messages: ChatMessage[]): ChatMessage[] {
    return messages.filter((m) => this.fresh(m));
  }

  /** The oldest seq shown for a room is up to the UI; this is the newest. */
  lastSeen(room: string): number | undefined {
    return this.lastSeq.get(`r:${nameKey(room)}`);
  }

  /** The newest seq shown in the direct conversation with `other`; undefined if it is not followed. */
  lastSeenDm(other: string): number | undefined {
    return this.dms.get(nameKey(other))?.last;
  }

  /**
   * The client shows a direct conversation (opened, restored, or a page of its history arrived):
   * follow it, so it is caught up after every reconnect, and count `shown` as seen.
   */
  followDm(other: string, shown: readonly ChatMessage[] = []): void {
    const t = this.thread(other);
    for (const m of shown) if (m.seq > t.last) t.last = m.seq;
  }

  /** The client closed a direct conversation: stop catching it up. */
  unfollowDm(other: string): void {
    this.dms.delete(nameKey(other));
  }

  /** The other party of a direct message, as this user sees it; undefined for a room message. */
  peerOf(m: ChatMessage): string | undefined {
    if (m.room !== undefined) return undefined;
    const me = this.name === undefined ? undefined : nameKey(this.name);
    return nameKey(m.from) !== me ? m.from : (m.to ?? m.from);
  }

  private fresh(m: ChatMessage): boolean {
    const peer = this.peerOf(m);
    if (peer === undefined) {
      const key = `r:${nameKey(m.room!)}`;
      const last = this.lastSeq.get(key) ?? 0;
      if (m.seq <= last) return false;
      this.lastSeq.set(key, m.seq);
      return true;
    }
    // The offline inbox can deliver a DM twice (its delivery mark was not yet durable when the
    // server crashed): a DM is new only above the highest seq of its conversation seen so far.
    const t = this.thread(peer);
    if (m.seq <= t.last) return false;
    if (t.gathering) {
      t.gathering.set(m.seq, m);
      return false;
    }
    t.last = m.seq;
    return true;
  }

  private thread(other: string): DmThread {
    const key = nameKey(other);
    let t = this.dms.get(key);
    if (!t) {
      t = { name: other, last: 0 };
      this.dms.set(key, t);
    }
    return t;
  }

  /**
   * A DM can pass a client by while it is away in ways the inbox does not cover (sent to a connection
   * the server did not yet know was dead, or read from another device meanwhile), so after every
   * welcome each followed conversation is read back from its newest message to the last one seen.
   */
  private startCatchUp(key: string, t: DmThread): void {
    t.gathering = new Map();
    this.requestCatchUpPage(key, t, undefined);
  }

  private requestCatchUpPage(key: string, t: DmThread, before: number | undefined): void {
    const id = this.nextId++;
    this.catchUps.set(id, key);
    const limit = this.opts.catchUpPage ?? 50;
    this.opts.send(before === undefined ? { type: 'history', with: t.name, limit, id } : { type: 'history', with: t.name, before, limit, id });
  }

  private caughtUpPage(re: RequestId, ev: HistoryEvent): false {
    const key = this.catchUps.get(re)!;
    this.catchUps.delete(re);
    const t = this.dms.get(key);
    if (!t?.gathering) return false; // unfollowed meanwhile
    if (ev.with !== undefined) t.name = ev.with;
    for (const m of ev.messages) if (m.seq > t.last) t.gathering.set(m.seq, m);
    const oldest = ev.messages[0]?.seq;
    if (oldest !== undefined && oldest > t.last + 1 && ev.more === true) this.requestCatchUpPage(key, t, oldest);
    else this.release(t);
    return false;
  }

  /** The conversation cannot be read (e.g. the server's data was reset): show what was held, stop. */
  private catchUpFailed(re: RequestId): false {
    const key = this.catchUps.get(re)!;
    this.catchUps.delete(re);
    const t = this.dms.get(key);
    if (t?.gathering) this.release(t);
    return false;
  }

  private release(t: DmThread): void {
    // The client may have shown some meanwhile (followDm with a page of its own): those stay shown once.
    const msgs = [...(t.gathering ?? new Map<number, ChatMessage>()).values()].filter((m) => m.seq > t.last).sort((a, b) => a.seq - b.seq);
    t.gathering = undefined;
    const last = msgs.at(-1);
    if (!last) return;
    t.last = last.seq;
    this.opts.show?.(msgs);
  }

  private joinRequest(key: string, room: string): Pending {
    const since = this.lastSeq.get(`r:${key}`);
    const req: Outbound = since === undefined ? { type: 'join', room, history: this.opts.historyOnJoin ?? 50 } : { type: 'join', room, since };
    return { id: this.nextId++, req };
  }

  private write(p: Pending): void {
    this.pending.set(p.id, p);
    this.opts.send({ ...p.req, id: p.id });
  }
}
