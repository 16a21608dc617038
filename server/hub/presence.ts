// Who is online here, under which name: hello, the end of a session, `who`, and the lookup of a name
// for DMs. A second server would keep the same view of other servers' users from presence events on
// the bus; this one publishes them.
import { LIMITS, PROTOCOL_VERSION, type HelloRequest, type UserInfo, type WhoRequest } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import { randomUUID } from 'node:crypto';
import { isRegistered, type Client, type RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';

export class Presence {
  /** Online users by name key. */
  private readonly users = new Map<string, RegisteredClient>();

  constructor(private readonly ctx: HubContext) {}

  get count(): number {
    return this.users.size;
  }

  online(key: string): RegisteredClient | undefined {
    return this.users.get(key);
  }

  /** Takes the name for this connection and says welcome. Returns the registered client. */
  hello(client: Client, req: HelloRequest): RegisteredClient | undefined {
    if (client.name) throw new RequestError('already_ready', `already connected as ${client.name}`);
    if (req.protocol !== undefined && req.protocol !== PROTOCOL_VERSION) {
      this.ctx.error(client, 'protocol_unsupported', `this server speaks protocol ${PROTOCOL_VERSION}`, req.id, true);
      return undefined;
    }
    const key = nameKey(req.name);
    if (this.users.has(key)) throw new RequestError('name_taken', `${req.name} is already online`);
    client.stopHelloTimer();
    client.name = req.name;
    client.key = key;
    if (!isRegistered(client)) return undefined;
    this.users.set(key, client);
    const time = new Date().toISOString();
    this.ctx.store.rememberUser(req.name, time);
    this.ctx.bus.publish({ kind: 'presence', user: key, name: req.name, online: true });
    this.ctx.reply(
      client,
      { type: 'welcome', protocol: PROTOCOL_VERSION, name: req.name, session: randomUUID(), server: this.ctx.settings.serverName, time },
      req.id,
    );
    return client;
  }

  /** The connection of a registered user is gone. */
  left(client: RegisteredClient): void {
    if (this.users.get(client.key) !== client) return;
    this.users.delete(client.key);
    this.ctx.store.rememberUser(client.name, new Date().toISOString());
    this.ctx.bus.publish({ kind: 'presence', user: client.key, name: client.name, online: false });
  }

  /**
   * `who` without a room: known users in name order, a page at a time (`after`, `limit`), so the
   * answer never grows with everyone who ever connected.
   */
  async who(req: WhoRequest): Promise<{ users: UserInfo[]; more: boolean }> {
    const limit = req.limit ?? LIMITS.defaultWhoPage;
    const page = await this.ctx.read('the user list', this.ctx.store.users(req.after === undefined ? undefined : nameKey(req.after), limit));
    const users = page.users.map((u): UserInfo => {
      const here = this.users.get(nameKey(u.name));
      return here ? { name: here.name, online: true } : { name: u.name, online: false, lastSeen: u.lastSeen };
    });
    return { users, more: page.more };
  }

  /** The spelling of a user who is online now or has ever connected; undefined for a stranger. */
  async knownName(key: string): Promise<string | undefined> {
    const here = this.users.get(key)?.name;
    if (here !== undefined) return here;
    return (await this.ctx.read('the user', this.ctx.store.knownUser(key)))?.name;
  }

  noSuchUser(name: string): RequestError {
    return new RequestError('no_such_user', `nobody called ${name} has ever connected`);
  }
}
