// Who may use a name: hello (guest, password or token), register, password and logout. A name that
// belongs to an account is refused without credentials (auth_required); a wrong password, and any
// password for a name with no account, get the same answer after the same work (bad_credentials).
// Failed attempts are counted and limited per name and per address before any hashing (login-guard.ts).
import { LIMITS, PROTOCOL_VERSION, type HelloRequest, type LogoutRequest, type PasswordRequest, type RegisterRequest } from '../../protocol/messages.js';
import { nameKey, nameSkeleton } from '../../protocol/names.js';
import type { LoginGuard } from '../accounts/login-guard.js';
import { hashPassword, passwordProblem, verifyPassword, type ScryptParams } from '../accounts/passwords.js';
import { TOKEN_LENGTH, TOKEN_TTL_MS, newToken, tokenId } from '../accounts/tokens.js';
import type { Client, RegisteredClient } from './client.js';
import { RequestError, type HubContext } from './context.js';
import type { Admit, Presence } from './presence.js';

const BAD_CREDENTIALS = 'wrong name, password or token';

/** The address part of a peer's `host:port`, which is what failed logins are counted by. */
export function addressOf(remote: string): string {
  const at = remote.lastIndexOf(':');
  const host = at > 0 ? remote.slice(0, at) : remote;
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}

export class Accounts {
  constructor(
    private readonly ctx: HubContext,
    private readonly presence: Presence,
    private readonly guard: LoginGuard,
    private readonly scrypt: ScryptParams | undefined,
  ) {}

  async hello(client: Client, req: HelloRequest): Promise<RegisteredClient | undefined> {
    if (client.name) throw new RequestError('already_ready', `already connected as ${client.name}`);
    if (req.protocol !== undefined && req.protocol !== PROTOCOL_VERSION) {
      this.ctx.error(client, 'protocol_unsupported', `this server speaks protocol ${PROTOCOL_VERSION}`, req.id, true);
      return undefined;
    }
    const key = nameKey(req.name);
    let admit: Admit;
    if (req.password !== undefined || req.token !== undefined) {
      admit = await this.login(client, key, req);
    } else {
      if (await this.ctx.read('accounts', this.ctx.accounts.get(key))) {
        throw new RequestError('auth_required', `${req.name} is a registered account: log in with its password or token`);
      }
      // A new name may not pass for another: aIice beside alice (docs/protocol.md, names).
      const similar = (await this.ctx.read('accounts', this.ctx.accounts.lookalike(nameSkeleton(req.name))))?.name ?? this.presence.lookalikeOnline(req.name);
      if (similar !== undefined && nameKey(similar) !== key) {
        throw new RequestError('name_taken', `${req.name} looks too much like ${similar}, which is taken; choose another name`);
      }
      admit = { name: req.name, account: false };
    }
    if (client.gone) return undefined;
    // Cluster mode: the name is held across servers first (a local refusal comes before asking).
    this.presence.checkFree(key, admit.name, admit.account);
    await this.presence.claim(client, admit);
    if (client.gone) {
      this.presence.unclaim(client);
      return undefined;
    }
    // Re-checked after the awaits: another connection may have taken the name meanwhile.
    try {
      return this.presence.admit(client, admit, req.id);
    } catch (err) {
      this.presence.unclaim(client);
      throw err;
    }
  }

  async register(client: RegisteredClient, req: RegisterRequest): Promise<void> {
    if (client.account) throw new RequestError('already_registered', `${client.name} is already an account`);
    this.checkRule(req.password);
    const hash = await this.guard.hashing(() => hashPassword(req.password, this.scrypt));
    const created = await this.ctx.read('accounts', this.ctx.accounts.create({ key: client.key, name: client.name, hash, created: new Date().toISOString() }));
    if (!created) throw new RequestError('name_taken', `${client.name} was registered by someone else`);
    const token = await this.grant(client.key);
    // Cluster mode: the name's lease becomes an account's, which other sessions may share.
    await this.presence.claim(client, { name: client.name, account: true });
    client.account = true;
    client.tokenId = token.id;
    // No longer a guest the store may forget.
    this.ctx.store.rememberUser(client.name, new Date().toISOString(), { guest: false, online: true });
    this.ctx.log.info(`account registered: ${client.name}`);
    if (!client.gone && req.id !== undefined) this.ctx.reply(client, { type: 'ack', re: req.id, token: token.value }, undefined);
  }

  async password(client: RegisteredClient, req: PasswordRequest): Promise<void> {
    if (!client.account) throw new RequestError('not_registered', 'guests have no password: register first');
    const address = addressOf(client.peer.remote);
    this.admitAttempt(client.key, address);
    const account = await this.ctx.read('accounts', this.ctx.accounts.get(client.key));
    if (!(await this.guard.hashing(() => verifyPassword(req.old, account?.hash)))) {
      this.guard.failed(client.key, address);
      throw new RequestError('bad_credentials', 'the old password is wrong');
    }
    this.checkRule(req.new);
    const hash = await this.guard.hashing(() => hashPassword(req.new, this.scrypt));
    await this.ctx.read('accounts', this.ctx.accounts.setHash(client.key, hash));
    // Whoever held another token may have known the old password: only this session stays logged in,
    // and the account's other connections are ended, not just their tokens.
    await this.ctx.read('accounts', this.ctx.accounts.revokeAll(client.key, client.tokenId));
    this.endOtherSessions(client, 'the password was changed on another device; log in again');
    if (!client.gone && req.id !== undefined) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  async logout(client: RegisteredClient, req: LogoutRequest): Promise<void> {
    if (!client.account) throw new RequestError('not_registered', 'a guest session has nothing to log out of');
    if (req.all === true) {
      await this.ctx.read('accounts', this.ctx.accounts.revokeAll(client.key));
      this.endOtherSessions(client, 'logged out everywhere from another device');
    } else if (client.tokenId !== undefined) await this.ctx.read('accounts', this.ctx.accounts.revoke(client.tokenId));
    client.tokenId = undefined;
    if (!client.gone && req.id !== undefined) this.ctx.reply(client, { type: 'ack', re: req.id }, undefined);
  }

  private async login(client: Client, key: string, req: HelloRequest): Promise<Admit> {
    const address = addressOf(client.peer.remote);
    if (req.token !== undefined) {
      // A valid token is let in whatever the failure count: 256 random bits cannot be guessed, and
      // checking the limit first would let anyone lock an account's own devices out with ten bad
      // passwords a minute. A wrong token still counts as a failure.
      const account = await this.ctx.read('accounts', this.ctx.accounts.get(key));
      const grant =
        req.token.length === TOKEN_LENGTH ? await this.ctx.read('accounts', this.ctx.accounts.token(tokenId(req.token), Date.now())) : undefined;
      if (account && grant && grant.key === key) return { name: account.name, account: true, token: { value: req.token, id: grant.id } };
      this.admitAttempt(key, address);
    } else {
      this.admitAttempt(key, address);
      const account = await this.ctx.read('accounts', this.ctx.accounts.get(key));
      const ok = await this.guard.hashing(() => verifyPassword(req.password ?? '', account?.hash));
      if (ok && account) return { name: account.name, account: true, token: await this.grant(key) };
    }
    this.guard.failed(key, address);
    this.ctx.log.info(`failed login for ${req.name} from ${address}`);
    throw new RequestError('bad_credentials', BAD_CREDENTIALS);
  }

  /**
   * Every other session of the account hears why and is closed (bad_credentials, fatal), on every
   * server: through the bus, which names this session so that only it is spared.
   */
  private endOtherSessions(client: RegisteredClient, why: string): void {
    this.ctx.bus.publish({ kind: 'end-sessions', user: client.key, why, except: client.id });
  }

  /** The bus says an account's sessions end: those on this server are closed. */
  endSessions(user: string, why: string, except: number | undefined): void {
    for (const s of [...this.presence.sessionsOf(user)]) if (s.id !== except) this.ctx.error(s, 'bad_credentials', why, undefined, true);
  }

  private admitAttempt(key: string, address: string): void {
    const admission = this.guard.admit(key, address);
    if (!admission.ok) throw new RequestError('rate_limited', admission.message, admission.retryAfterMs);
  }

  private checkRule(password: string): void {
    const problem = passwordProblem(password, { minLength: this.ctx.settings.minPasswordLength, maxLength: LIMITS.maxPasswordLength });
    if (problem) throw new RequestError('bad_password', problem);
  }

  private async grant(key: string): Promise<{ value: string; id: string }> {
    const value = newToken();
    const id = tokenId(value);
    await this.ctx.read('accounts', this.ctx.accounts.grant({ id, key, expires: Date.now() + TOKEN_TTL_MS }));
    return { value, id };
  }
}
