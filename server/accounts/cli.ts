// `parley-server accounts list|delete NAME|reset-password NAME|claim NAME [--data-dir DIR | --redis URL]`:
// the operator's tools, run on a data directory no server holds (the directory lock says so
// otherwise), or on a cluster's Redis, which its servers share while they run.
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isValidName, nameKey } from '../../protocol/names.js';
import { lockDir } from '../store/dir-lock.js';
import { silentLogger } from '../log.js';
import { RedisClient } from '../redis/client.js';
import { ACCOUNT_SCRIPTS, RedisAccounts } from '../redis/redis-accounts.js';
import { describeTarget, parseRedisUrl } from '../redis/url.js';
import type { AccountStore } from './account-store.js';
import { FileAccounts } from './file-accounts.js';
import { hashPassword } from './passwords.js';

export const ACCOUNTS_USAGE = `usage: parley-server accounts COMMAND [--data-dir DIR | --redis URL]
  list                  every account, with when it was registered and whether it is claimed
  delete NAME           remove the account and every token of it (its stored DMs stay, unreadable)
  reset-password NAME   set a new random password (printed) and revoke every token
  claim NAME            vouch that account NAME is whoever used that name before accounts existed:
                        its older queued DMs are delivered at its next login, and its older direct
                        conversations with another claimed account become visible to both
  --redis URL           a cluster's accounts (redis://[user:password@]host:port[/db]; env PARLEY_REDIS)
`;

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

/** Runs one accounts command; returns the process exit code. */
export async function accountsCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliOutput): Promise<number> {
  let dataDir = env.PARLEY_DATA_DIR || './data';
  let redisUrl = env.PARLEY_REDIS || undefined;
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--data-dir') {
      const v = argv[++i];
      if (v === undefined || v === '') return usage(io, '--data-dir needs a value');
      dataDir = v;
    } else if (a.startsWith('--data-dir=')) dataDir = a.slice('--data-dir='.length);
    else if (a === '--redis') {
      const v = argv[++i];
      if (v === undefined || v === '') return usage(io, '--redis needs a URL');
      redisUrl = v;
    } else if (a.startsWith('--redis=')) redisUrl = a.slice('--redis='.length);
    else if (a === '-h' || a === '--help') {
      io.out(ACCOUNTS_USAGE);
      return 0;
    } else if (a.startsWith('--')) return usage(io, `unknown flag ${a}`);
    else words.push(a);
  }
  const [command, name, ...extra] = words;
  if (command === undefined) return usage(io, 'which command?');
  const needsName = command !== 'list';
  if (!['list', 'delete', 'reset-password', 'claim'].includes(command)) return usage(io, `unknown command "${command}"`);
  if (needsName && (name === undefined || !isValidName(name))) return usage(io, `${command} needs a valid NAME`);
  if (extra.length > 0 || (!needsName && name !== undefined)) return usage(io, `unexpected "${[name, ...extra].filter(Boolean).join(' ')}"`);
  if (redisUrl !== undefined) return onRedis(redisUrl, command, name, io);
  if (!existsSync(dataDir)) {
    io.err(`parley-server accounts: no data dir at ${dataDir}`);
    return 1;
  }
  let lock;
  try {
    lock = lockDir(dataDir);
  } catch (err) {
    io.err(`parley-server accounts: ${(err as Error).message}`);
    return 1;
  }
  const accounts = new FileAccounts(dataDir, (line) => io.err(line));
  try {
    await accounts.open();
    return await run(accounts, command, name, io);
  } finally {
    await accounts.close();
    lock.release();
  }
}

/** One command on an open account store. */
async function run(accounts: AccountStore, command: string, name: string | undefined, io: CliOutput): Promise<number> {
  const key = name === undefined ? '' : nameKey(name);
  switch (command) {
    case 'list': {
      const all = await accounts.list();
      for (const a of all) io.out(`${a.name}\tregistered ${a.created}${(await accounts.claimed(a.key)) ? '\tclaimed' : ''}`);
      io.out(`${all.length} account(s)`);
      return 0;
    }
    case 'delete':
      if (!(await accounts.delete(key))) return missing(io, name!);
      io.out(`deleted ${name}`);
      return 0;
    case 'reset-password': {
      if (!(await accounts.get(key))) return missing(io, name!);
      const password = randomBytes(12).toString('base64url');
      await accounts.setHash(key, await hashPassword(password));
      await accounts.revokeAll(key);
      io.out(`new password for ${name}: ${password}`);
      return 0;
    }
    case 'claim':
      if (!(await accounts.get(key))) return missing(io, name!);
      await accounts.claim(key);
      io.out(`${name} now owns what was stored for that name before accounts`);
      return 0;
  }
  return 2;
}

/** Cluster mode: the accounts every node shares, in Redis; no lock, since the servers keep running. */
async function onRedis(url: string, command: string, name: string | undefined, io: CliOutput): Promise<number> {
  let target;
  try {
    target = parseRedisUrl(url);
  } catch (err) {
    return usage(io, `--redis: ${(err as Error).message}`);
  }
  const redis = new RedisClient({ target, name: 'parley-accounts-cli', log: silentLogger, scripts: ACCOUNT_SCRIPTS });
  try {
    await redis.ready(5000);
  } catch {
    redis.close();
    io.err(`parley-server accounts: cannot reach Redis at ${describeTarget(target)}`);
    return 1;
  }
  try {
    return await run(new RedisAccounts(redis), command, name, io);
  } finally {
    redis.close();
  }
}

function usage(io: CliOutput, problem: string): number {
  io.err(`parley-server accounts: ${problem}\n${ACCOUNTS_USAGE}`);
  return 2;
}

function missing(io: CliOutput, name: string): number {
  io.err(`parley-server accounts: no account called ${name}`);
  return 1;
}
