// Where accounts and their session tokens live: behind an interface, like messages, so a Redis-backed
// cluster can keep them in Redis. The embedded implementations: MemoryAccounts (--memory) and
// FileAccounts (an append-only, fsynced log in the data directory, replayed at start; accounts are
// few and small, so they are held in memory).
import { nameSkeleton } from '../../protocol/names.js';

export interface Account {
  /** Name key (lower case): the identity. */
  key: string;
  /** Spelling chosen at registration. */
  name: string;
  /** scrypt$N$r$p$salt$hash (passwords.ts). */
  hash: string;
  /** ISO time of registration. */
  created: string;
}

export interface TokenGrant {
  /** SHA-256 of the token (tokens.ts); the token itself is never stored. */
  id: string;
  /** Account key. */
  key: string;
  /** Epoch ms after which the token is refused. */
  expires: number;
}

export interface AccountStore {
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: string): Promise<Account | undefined>;
  /** An account whose name looks like one with this skeleton (protocol/names.ts), if any. */
  lookalike(skeleton: string): Promise<Account | undefined>;
  list(): Promise<Account[]>;
  /** False (and nothing written) when the key is taken. */
  create(account: Account): Promise<boolean>;
  setHash(key: string, hash: string): Promise<void>;
  /** Removes the account and every token of it. */
  delete(key: string): Promise<boolean>;
  grant(token: TokenGrant): Promise<void>;
  /** A valid (unexpired) grant, or undefined. */
  token(id: string, now: number): Promise<TokenGrant | undefined>;
  revoke(id: string): Promise<void>;
  /** Revokes every token of the account except `keep` (a token id), if given. */
  revokeAll(key: string, keep?: string): Promise<void>;
  /** Legacy names an operator has vouched for (`accounts claim`): their pre-account data is theirs. */
  claimed(key: string): Promise<boolean>;
  claim(key: string): Promise<void>;
}

/** The state both implementations keep, and the one place its rules live. */
export class AccountState {
  readonly accounts = new Map<string, Account>();
  /** Account keys by name skeleton: look-alike names are refused at registration and as guests. */
  readonly skeletons = new Map<string, string>();
  readonly tokens = new Map<string, TokenGrant>();
  readonly claims = new Set<string>();

  apply(rec: AccountRecord): void {
    switch (rec.t) {
      case 'account':
        this.accounts.set(rec.a.key, rec.a);
        this.skeletons.set(nameSkeleton(rec.a.name), rec.a.key);
        return;
      case 'hash': {
        const a = this.accounts.get(rec.key);
        if (a) this.accounts.set(rec.key, { ...a, hash: rec.hash });
        return;
      }
      case 'delete': {
        const gone = this.accounts.get(rec.key);
        if (gone && this.skeletons.get(nameSkeleton(gone.name)) === rec.key) this.skeletons.delete(nameSkeleton(gone.name));
        this.accounts.delete(rec.key);
        this.claims.delete(rec.key);
        for (const [id, g] of this.tokens) if (g.key === rec.key) this.tokens.delete(id);
        return;
      }
      case 'grant':
        this.tokens.set(rec.g.id, rec.g);
        return;
      case 'revoke':
        this.tokens.delete(rec.id);
        return;
      case 'revokeAll':
        for (const [id, g] of this.tokens) if (g.key === rec.key && id !== rec.keep) this.tokens.delete(id);
        return;
      case 'claim':
        this.claims.add(rec.key);
        return;
    }
  }

  valid(id: string, now: number): TokenGrant | undefined {
    const g = this.tokens.get(id);
    if (!g) return undefined;
    if (g.expires <= now) {
      this.tokens.delete(id);
      return undefined;
    }
    return this.accounts.has(g.key) ? g : undefined;
  }
}

export type AccountRecord =
  | { t: 'account'; a: Account }
  | { t: 'hash'; key: string; hash: string }
  | { t: 'delete'; key: string }
  | { t: 'grant'; g: TokenGrant }
  | { t: 'revoke'; id: string }
  | { t: 'revokeAll'; key: string; keep?: string }
  | { t: 'claim'; key: string };

/** Shared by both implementations: every change is a record, applied to the state once it is kept. */
export abstract class RecordedAccounts implements AccountStore {
  protected readonly state = new AccountState();

  abstract open(): Promise<void>;
  abstract close(): Promise<void>;
  /** Makes the record durable (or not, for memory); the state changes only after it resolves. */
  protected abstract keep(rec: AccountRecord): Promise<void>;

  private async record(rec: AccountRecord): Promise<void> {
    await this.keep(rec);
    this.state.apply(rec);
  }

  async get(key: string): Promise<Account | undefined> {
    return this.state.accounts.get(key);
  }

  async lookalike(skeleton: string): Promise<Account | undefined> {
    const key = this.state.skeletons.get(skeleton);
    return key === undefined ? undefined : this.state.accounts.get(key);
  }

  async list(): Promise<Account[]> {
    return [...this.state.accounts.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async create(account: Account): Promise<boolean> {
    if (this.state.accounts.has(account.key)) return false;
    await this.record({ t: 'account', a: account });
    return true;
  }

  async setHash(key: string, hash: string): Promise<void> {
    await this.record({ t: 'hash', key, hash });
  }

  async delete(key: string): Promise<boolean> {
    if (!this.state.accounts.has(key)) return false;
    await this.record({ t: 'delete', key });
    return true;
  }

  async grant(token: TokenGrant): Promise<void> {
    await this.record({ t: 'grant', g: token });
  }

  async token(id: string, now: number): Promise<TokenGrant | undefined> {
    return this.state.valid(id, now);
  }

  async revoke(id: string): Promise<void> {
    if (this.state.tokens.has(id)) await this.record({ t: 'revoke', id });
  }

  async revokeAll(key: string, keep?: string): Promise<void> {
    await this.record(keep === undefined ? { t: 'revokeAll', key } : { t: 'revokeAll', key, keep });
  }

  async claimed(key: string): Promise<boolean> {
    return this.state.claims.has(key);
  }

  async claim(key: string): Promise<void> {
    await this.record({ t: 'claim', key });
  }
}

export class MemoryAccounts extends RecordedAccounts {
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  protected async keep(): Promise<void> {}
}
