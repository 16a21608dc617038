// The AccountStore on Redis, so every node sees the same accounts and tokens. An account is a hash
// under its own tag; tokens are keys that expire by themselves (PEXPIREAT), listed per account so
// revokeAll can find them. Steps that must not half-happen (create: the name and its look-alike
// skeleton; delete: the account and all its tokens) are scripts.
import { nameSkeleton } from '../../protocol/names.js';
import type { Account, AccountStore, TokenGrant } from '../accounts/account-store.js';
import { asArray, asInt, asString, Script, type RedisClient } from './client.js';
import { keys } from './keys.js';

/** KEYS: account, list, skeletons. ARGV: key, name, hash, created, skeleton. 1 created, 0 taken. */
const CREATE = new Script(
  'account-create',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'hash', ARGV[3], 'created', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSETNX', KEYS[3], ARGV[5], ARGV[1])
return 1
`,
);

/** KEYS: account, tokens, list, skeletons, claims. ARGV: key, token key prefix. 1 deleted, 0 none. */
const DELETE = new Script(
  'account-delete',
  `
local name = redis.call('HGET', KEYS[1], 'name')
if not name then return 0 end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('DEL', ARGV[2] .. id) end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
local skel = ARGV[3]
if redis.call('HGET', KEYS[4], skel) == ARGV[1] then redis.call('HDEL', KEYS[4], skel) end
return 1
`,
);

/** KEYS: tokens. ARGV: token key prefix, keep ('' for none). */
const REVOKE_ALL = new Script(
  'account-revoke-all',
  `
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] then
    redis.call('DEL', ARGV[1] .. id)
    redis.call('SREM', KEYS[1], id)
  end
end
return 1
`,
);

const TOKEN_PREFIX = keys.token('');

export const ACCOUNT_SCRIPTS = [CREATE, DELETE, REVOKE_ALL];

export class RedisAccounts implements AccountStore {
  constructor(private readonly redis: RedisClient) {}

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async get(key: string): Promise<Account | undefined> {
    const [name, hash, created] = asArray(await this.redis.command(['HMGET', keys.account(key), 'name', 'hash', 'created']));
    if (typeof name !== 'string' || typeof hash !== 'string') return undefined;
    return { key, name, hash, created: typeof created === 'string' ? created : '' };
  }

  async lookalike(skeleton: string): Promise<Account | undefined> {
    const key = asString(await this.redis.command(['HGET', keys.accountSkeletons, skeleton]));
    return key === null ? undefined : this.get(key);
  }

  async list(): Promise<Account[]> {
    const ks = asArray(await this.redis.command(['SMEMBERS', keys.accountList])).filter((k): k is string => typeof k === 'string');
    const all = await Promise.all(ks.sort().map((k) => this.get(k)));
    return all.filter((a): a is Account => a !== undefined);
  }

  async create(a: Account): Promise<boolean> {
    const r = await this.redis.eval(CREATE, [keys.account(a.key), keys.accountList, keys.accountSkeletons], [a.key, a.name, a.hash, a.created, nameSkeleton(a.name)]);
    return asInt(r) === 1;
  }

  async setHash(key: string, hash: string): Promise<void> {
    await this.redis.command(['HSET', keys.account(key), 'hash', hash]);
  }

  async delete(key: string): Promise<boolean> {
    const a = await this.get(key);
    if (!a) return false;
    const r = await this.redis.eval(
      DELETE,
      [keys.account(key), keys.accountTokens(key), keys.accountList, keys.accountSkeletons, keys.claims],
      [key, TOKEN_PREFIX, nameSkeleton(a.name)],
    );
    return asInt(r) === 1;
  }

  async grant(t: TokenGrant): Promise<void> {
    const k = keys.token(t.id);
    await Promise.all([
      this.redis.command(['HSET', k, 'key', t.key, 'expires', t.expires]),
      this.redis.command(['PEXPIREAT', k, t.expires]),
      this.redis.command(['SADD', keys.accountTokens(t.key), t.id]),
    ]);
  }

  async token(id: string, now: number): Promise<TokenGrant | undefined> {
    const [key, expires] = asArray(await this.redis.command(['HMGET', keys.token(id), 'key', 'expires']));
    if (typeof key !== 'string') return undefined;
    const exp = Number(expires);
    if (!(exp > now)) return undefined;
    return (await this.get(key)) ? { id, key, expires: exp } : undefined;
  }

  async revoke(id: string): Promise<void> {
    const key = asString(await this.redis.command(['HGET', keys.token(id), 'key']));
    await this.redis.command(['DEL', keys.token(id)]);
    if (key !== null) await this.redis.command(['SREM', keys.accountTokens(key), id]);
  }

  async revokeAll(key: string, keep?: string): Promise<void> {
    await this.redis.eval(REVOKE_ALL, [keys.accountTokens(key)], [TOKEN_PREFIX, keep ?? '']);
  }

  async claimed(key: string): Promise<boolean> {
    return asInt(await this.redis.command(['SISMEMBER', keys.claims, key])) === 1;
  }

  async claim(key: string): Promise<void> {
    await this.redis.command(['SADD', keys.claims, key]);
  }
}
