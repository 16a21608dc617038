// Who is online here, under which name, and how many sessions each has: an account may be connected
// from several devices at once; a guest name is one connection. Presence is "online" while any session
// is; `joined`/`left` are said once per user (rooms.ts asks sessionsOf). A second server would keep
// the same view of other servers' users from the presence events this part publishes.
import { randomUUID } from 'node:crypto';
import { LIMITS, PROTOCOL_VERSION, type UserEvent, type UserInfo, type WhoisRequest, type WhoRequest } from '../../protocol/messages.js';
import { nameKey, nameSkeleton } from '../../protocol/names.js';
import type { Client, RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';

/** One session, or several: a Set only when a user has more than one, so an idle guest costs no Set. */
type Sessions = RegisteredClient | Set<RegisteredClient>;

const NONE: readonly RegisteredClient[] = [];

export interface Admit {
  name: string;
  account: boolean;
  /** For an account login: the token to hand back in welcome, and its id for logout. */
  token?: { value: string; id: string };
}

export class Presence {
  private readonly users = new Map<string, Sessions>();
  /** Away messages of online users, by name key: forgotten when the last session leaves. */
  private readonly away = new Map<string, string>();
  /** Online name keys by skeleton, to refuse a new name that looks like one in use. */
  private readonly skeletons = new Map<string, string>();

  constructor(private readonly ctx: HubContext) {}

  get count(): number {
    return this.users.size;
  }

  /** Any session of the user, or undefined when offline here. */
  online(key: string): RegisteredClient | undefined {
    const s = this.users.get(key);
    return s === undefined || !(s instanceof Set) ? s : s.values().next().value;
  }

  sessionsOf(key: string): Iterable<RegisteredClient> {
    const s = this.users.get(key);
    return s === undefined ? NONE : s instanceof Set ? s : [s];
  }

  /** The online user whose name looks like `name` but is another name, if any. */
  lookalikeOnline(name: string): string | undefined {
    const key = this.skeletons.get(nameSkeleton(name));
    return key !== undefined && key !== nameKey(name) ? this.online(key)?.name : undefined;
  }

  /** Throws name_taken when `key` cannot take another session of this kind. */
  checkFree(key: string, name: string, account: boolean): void {
    const s = this.users.get(key);
    if (s === undefined) return;
    const other = s instanceof Set ? s.values().next().value! : s;
    // A guest name is one connection; an account may add sessions, but never beside a guest of its name.
    if (!account || !other.account) throw new RequestError('name_taken', `${name} is already online`);
  }

  /**
   * Cluster mode: holds the name across servers before admit (throws name_taken when another server's
   * user has it). Nothing to do on a single server, where admit's own check is the whole truth.
   */
  async claim(client: Client, admit: Admit): Promise<void> {
    if (!this.ctx.directory.shared) return;
    const refused = await this.ctx.read('presence', this.ctx.directory.claim(client.id, nameKey(admit.name), admit.name, admit.account));
    if (refused) throw refused;
  }

  /** A claim that did not end in admit (the client left, or admit refused). */
  unclaim(client: Client): void {
    this.ctx.directory.release(client.id);
  }

  /** Admits a connection under a name (credentials already checked) and says welcome. */
  admit(client: Client, admit: Admit, re: WhoRequest['id']): RegisteredClient {
    const key = nameKey(admit.name);
    this.checkFree(key, admit.name, admit.account);
    client.stopHelloTimer();
    client.name = admit.name;
    client.key = key;
    client.account = admit.account;
    client.tokenId = admit.token?.id;
    // The one place a Client becomes registered: name and key were just set.
    const registered = client as RegisteredClient;
    const s = this.users.get(key);
    if (s === undefined) {
      this.users.set(key, registered);
      this.skeletons.set(nameSkeleton(admit.name), key);
    }
    else if (s instanceof Set) s.add(registered);
    else this.users.set(key, new Set([s, registered]));
    const time = new Date().toISOString();
    this.ctx.store.rememberUser(admit.name, time, { guest: !admit.account, online: true });
    if (s === undefined) this.ctx.bus.publish({ kind: 'presence', user: key, name: admit.name, online: true });
    const welcome = {
      type: 'welcome' as const,
      protocol: PROTOCOL_VERSION,
      name: admit.name,
      session: randomUUID(),
      server: this.ctx.settings.serverName,
      time,
      account: admit.account,
      ...(admit.token ? { token: admit.token.value } : {}),
    };
    this.ctx.reply(client, welcome, re);
    return registered;
  }

  /** A session of a registered user is gone. */
  left(client: RegisteredClient): void {
    this.ctx.directory.release(client.id);
    const s = this.users.get(client.key);
    if (s === client) {
      this.users.delete(client.key);
      this.away.delete(client.key);
      const skeleton = nameSkeleton(client.name);
      if (this.skeletons.get(skeleton) === client.key) this.skeletons.delete(skeleton);
    }
    else if (s instanceof Set && s.delete(client)) {
      if (s.size === 1) this.users.set(client.key, s.values().next().value!);
      return;
    } else return;
    // Offline from now: a guest may be forgotten after --forget-guests-after.
    this.ctx.store.rememberUser(client.name, new Date().toISOString(), { guest: !client.account, online: false });
    this.ctx.bus.publish({ kind: 'presence', user: client.key, name: client.name, online: false });
  }

  awayOf(key: string): string | undefined {
    return this.away.get(key);
  }

  /** Sets (text) or clears the user's away message; returns whether it changed. */
  setAway(client: RegisteredClient, text: string | undefined): boolean {
    const before = this.away.get(client.key);
    const next = text === undefined || text === '' ? undefined : text;
    if (next === undefined) this.away.delete(client.key);
    else this.away.set(client.key, next);
    if (before !== next) this.ctx.directory.setAway(client.key, next);
    return before !== next;
  }

  /** `whois`: what is known of one user, online or not. */
  async whois(req: WhoisRequest): Promise<UserEvent> {
    const key = nameKey(req.name);
    const account = await this.ctx.read('accounts', this.ctx.accounts.get(key));
    const here = this.online(key);
    if (here) {
      const rooms = new Set<string>();
      for (const s of this.sessionsOf(key)) for (const r of s.rooms) rooms.add(r.name);
      const event: UserEvent = { type: 'user', name: here.name, online: true, account: here.account, rooms: [...rooms].sort() };
      const away = this.away.get(key);
      if (away !== undefined) event.away = away;
      return event;
    }
    if (this.ctx.directory.shared) {
      const elsewhere = (await this.ctx.read('presence', this.ctx.directory.online([key]))).get(key);
      if (elsewhere) {
        const event: UserEvent = { type: 'user', name: elsewhere.name, online: true, account: elsewhere.account };
        if (elsewhere.away !== undefined) event.away = elsewhere.away;
        return event;
      }
    }
    const known = await this.ctx.read('the user', this.ctx.store.knownUser(key));
    if (!known && !account) throw this.noSuchUser(req.name);
    const event: UserEvent = { type: 'user', name: account?.name ?? known!.name, online: false, account: account !== undefined };
    if (known) event.lastSeen = known.lastSeen;
    return event;
  }

  /**
   * `who` without a room: known users in name order, a page at a time (`after`, `limit`), so the
   * answer never grows with everyone who ever connected.
   */
  async who(req: WhoRequest): Promise<{ users: UserInfo[]; more: boolean }> {
    const limit = req.limit ?? LIMITS.defaultWhoPage;
    const page = await this.ctx.read('the user list', this.ctx.store.users(req.after === undefined ? undefined : nameKey(req.after), limit));
    const elsewhere = this.ctx.directory.shared
      ? await this.ctx.read('presence', this.ctx.directory.online(page.users.map((u) => nameKey(u.name)).filter((k) => !this.users.has(k))))
      : undefined;
    const users = page.users.map((u): UserInfo => {
      const here = this.online(nameKey(u.name));
      const remote = here ? undefined : elsewhere?.get(nameKey(u.name));
      if (remote) {
        const info: UserInfo = remote.account ? { name: remote.name, online: true } : { name: remote.name, online: true, guest: true };
        if (remote.away !== undefined) info.away = remote.away;
        return info;
      }
      if (!here) return { name: u.name, online: false, lastSeen: u.lastSeen };
      const info: UserInfo = here.account ? { name: here.name, online: true } : { name: here.name, online: true, guest: true };
      const away = this.away.get(nameKey(u.name));
      if (away !== undefined) info.away = away;
      return info;
    });
    return { users, more: page.more };
  }

  /** The spelling of a user who is online now or has ever connected; undefined for a stranger. */
  async knownName(key: string): Promise<string | undefined> {
    const here = this.online(key)?.name;
    if (here !== undefined) return here;
    return (await this.ctx.read('the user', this.ctx.store.knownUser(key)))?.name;
  }

  noSuchUser(name: string): RequestError {
    return new RequestError('no_such_user', `nobody called ${name} has ever connected`);
  }
}
