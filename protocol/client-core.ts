// The client half of protocol v1 that both clients share, whatever draws the screen: request ids and
// replies, the rooms to rejoin after a reconnect, the last seq seen per room and per direct
// conversation (resume with `since`, catch up DMs from their history, duplicates dropped), answers to
// the server's pings, requests typed while offline, and who the session is: a guest, or an account
// that logs in again with its token after every reconnect (the token is kept, never the password).
// Browser-safe: no Node imports.
import type { ChatMessage, ErrorEvent, HistoryEvent, Request, RequestId, ServerEvent } from './messages.js';
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
  /**
   * The token to keep for `name` changed: a new one (a password login's welcome, a register's ack) to
   * store, or undefined (refused, logged out) to delete. The client stores it; never the password.
   */
  tokenChanged?(name: string, token: string | undefined): void;
  /** The server refused a hello; the connection is still open unless the error is fatal. */
  helloRefused?(why: HelloRefused): void;
}

/** What a hello identified the user with. */
export type Credential = 'token' | 'password' | 'none';

/** Why a hello was refused, in terms a client can act on. */
export type HelloRefusal =
  /** auth_required: the name is an account's; hello again with its password. */
  | { kind: 'password_needed' }
  /** bad_credentials for a token (expired, revoked, unknown): the core has forgotten it. */
  | { kind: 'token_refused' }
  /** bad_credentials for a password: wrong, or the name has no account. */
  | { kind: 'wrong_password' }
  /** Too many failed logins: nothing was checked; wait before trying again. */
  | { kind: 'rate_limited'; retryAfterMs: number }
  /** bad_name or name_taken: choose another name. */
  | { kind: 'name' }
  | { kind: 'other' };
export type HelloRefused = HelloRefusal & { name: string; used: Credential; error: ErrorEvent };

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
  /** The token of an account session (or a saved one to try), and whose it is (name key). */
  private saved: { key: string; value: string } | undefined;
  private isAccount: boolean | undefined;
  /** The hello waiting for its welcome or error. */
  private hello: { id: RequestId; name: string; used: Credential } | undefined;
  /** register and logout requests sent or queued: their acks change the token. */
  private readonly authRequests = new Map<RequestId, 'register' | 'logout'>();
  /** Whether each user (by key) is a guest, as the server last said: members, joined, users, welcome. */
  private readonly guests = new Map<string, boolean>();

  constructor(private readonly opts: ClientCoreOptions) {}

  get isReady(): boolean {
    return this.ready;
  }

  /** True for an account session, false for a guest; undefined before the first welcome. */
  get account(): boolean | undefined {
    return this.isAccount;
  }

  /** The token the next hello of `name` will carry (the session's own, once it is an account). */
  tokenFor(name: string): string | undefined {
    return this.saved?.key === nameKey(name) ? this.saved.value : undefined;
  }

  /** A token the client kept from an earlier session of `name`: used by the next hellos as that name. */
  useToken(name: string, token: string | undefined): void {
    this.saved = token === undefined ? undefined : { key: nameKey(name), value: token };
  }

  /** True when the server last described `name` as a guest (no account). */
  isGuest(name: string): boolean {
    return this.guests.get(nameKey(name)) === true;
  }

  /**
   * Whether a message is to be marked as a guest's: it says so (`guest: true`), or it was said in a
   * room by someone known to be a guest now. The second is needed because the server does not carry
   * the flag on room messages (docs/protocol.md says it should); it can only err towards marking an
   * account that registered during this session, never towards passing a guest off as an account
   * that is online in one's rooms.
   */
  sentByGuest(m: ChatMessage): boolean {
    return m.guest === true || (m.room !== undefined && this.isGuest(m.from));
  }

  /** A hello has been sent and not yet answered. */
  get helloPending(): boolean {
    return this.hello !== undefined;
  }

  /** Requests sent and not yet answered, plus those waiting for a connection. */
  get outstanding(): number {
    return this.pending.size + this.queued.length;
  }

  /**
   * A connection is open (or a refused hello is being retried): introduce ourselves, with `password`
   * when given, else with the token kept for this name if there is one, else as a guest would. A
   * password is used for this one hello only; the welcome's token logs in after a reconnect.
   */
  connected(name: string, password?: string): RequestId {
    this.name = name;
    this.ready = false;
    const id = `h${this.nextId++}`;
    const token = password === undefined ? this.tokenFor(name) : undefined;
    const used: Credential = password !== undefined ? 'password' : token !== undefined ? 'token' : 'none';
    this.hello = { id, name, used };
    const base = { type: 'hello', name, protocol: 1, client: 'parley', id } as const;
    this.opts.send(password !== undefined ? { ...base, password } : token !== undefined ? { ...base, token } : base);
    return id;
  }

  /**
   * The connection is gone. Returns the requests that were sent but never answered: they may or may
   * not have taken effect, so they are reported rather than silently sent again.
   */
  disconnected(): Pending[] {
    this.ready = false;
    this.hello = undefined;
    const lost = [...this.pending.values()];
    this.pending.clear();
    for (const p of lost) this.authRequests.delete(p.id);
    // A catch-up cut short starts again from the same seq after the next welcome; what it had
    // gathered is stored on the server and comes back then.
    this.catchUps.clear();
    for (const t of this.dms.values()) t.gathering = undefined;
    return lost;
  }

  /** Sends now when welcomed, otherwise once the next welcome (and rejoin) has happened. */
  request(req: Outbound): RequestId {
    const p: Pending = { id: this.nextId++, req };
    if (req.type === 'register' || req.type === 'logout') this.authRequests.set(p.id, req.type);
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
   * (it comes out through `show`), the replies to the core's own requests, a refused hello (it comes
   * out through `helloRefused`), and a server ping.
   */
  accept(ev: ServerEvent): boolean {
    switch (ev.type) {
      case 'welcome':
        this.name = ev.name;
        this.ready = true;
        this.hello = undefined;
        this.isAccount = ev.account;
        this.guests.set(nameKey(ev.name), !ev.account);
        if (ev.account && ev.token !== undefined) this.keepToken(ev.name, ev.token);
        // A guest has no token; one kept for this name (say, from before the account was deleted) is stale.
        else if (!ev.account && this.tokenFor(ev.name) !== undefined) this.keepToken(ev.name, undefined);
        for (const [key, room] of this.rooms) this.write(this.joinRequest(key, room));
        for (const [key, t] of this.dms) this.startCatchUp(key, t);
        for (const p of this.queued.splice(0)) this.write(p);
        return true;
      case 'members': {
        this.rooms.set(nameKey(ev.room), ev.room);
        const guests = new Set((ev.guests ?? []).map(nameKey));
        for (const u of ev.users) this.guests.set(nameKey(u), guests.has(nameKey(u)));
        return true;
      }
      case 'joined':
        this.guests.set(nameKey(ev.name), ev.guest === true);
        return true;
      case 'users':
        for (const u of ev.users) if (u.online) this.guests.set(nameKey(u.name), u.guest === true);
        return true;
      case 'message':
        return this.fresh(ev);
      case 'history':
        return ev.re === undefined || !this.catchUps.has(ev.re) || this.caughtUpPage(ev.re, ev);
      case 'ack': {
        const what = this.authRequests.get(ev.re);
        this.authRequests.delete(ev.re);
        if (what === 'register' && this.name !== undefined) {
          this.isAccount = true;
          this.guests.set(nameKey(this.name), false);
          if (ev.token !== undefined) this.keepToken(this.name, ev.token);
        }
        // The server revoked the token this session logged in with (or every one): it is no use now.
        if (what === 'logout' && this.name !== undefined) this.keepToken(this.name, undefined);
        return true;
      }
      case 'error':
        if (ev.re !== undefined) this.authRequests.delete(ev.re);
        if (this.hello !== undefined && ev.re === this.hello.id) return this.helloFailed(ev);
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

  private keepToken(name: string, token: string | undefined): void {
    const before = this.tokenFor(name);
    this.useToken(name, token);
    if (before !== token) this.opts.tokenChanged?.(name, token);
  }

  private helloFailed(error: ErrorEvent): false {
    const { name, used } = this.hello!;
    this.hello = undefined;
    let why: HelloRefusal;
    if (error.code === 'auth_required') why = { kind: 'password_needed' };
    else if (error.code === 'bad_credentials') why = used === 'token' ? { kind: 'token_refused' } : { kind: 'wrong_password' };
    else if (error.code === 'rate_limited') why = { kind: 'rate_limited', retryAfterMs: Math.max(0, error.retryAfterMs ?? 1000) };
    else if (error.code === 'bad_name' || error.code === 'name_taken') why = { kind: 'name' };
    else why = { kind: 'other' };
    // A refused token is never sent again: the next hello of this name asks for the password instead.
    if (why.kind === 'token_refused') this.keepToken(name, undefined);
    this.opts.helloRefused?.({ ...why, name, used, error });
    return false;
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
