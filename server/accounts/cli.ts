// `parley-server accounts list|delete NAME|reset-password NAME|claim NAME [--data-dir DIR]`: the
// operator's tools, run on a data directory no server holds (the directory lock says so otherwise).
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isValidName, nameKey } from '../../protocol/names.js';
import { lockDir } from '../store/dir-lock.js';
import { FileAccounts } from './file-accounts.js';
import { hashPassword } from './passwords.js';

export const ACCOUNTS_USAGE = `usage: parley-server accounts COMMAND [--data-dir DIR]
  list                  every account, with when it was registered and whether it is claimed
  delete NAME           remove the account and every token of it (its stored DMs stay, unreadable)
  reset-password NAME   set a new random password (printed) and revoke every token
  claim NAME            vouch that account NAME is whoever used that name before accounts existed:
                        its older queued DMs are delivered at its next login, and its older direct
                        conversations with another claimed account become visible to both
`;

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

/** Runs one accounts command; returns the process exit code. */
export async function accountsCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliOutput): Promise<number> {
  let dataDir = env.PARLEY_DATA_DIR || './data';
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--data-dir') {
      const v = argv[++i];
      if (v === undefined || v === '') return usage(io, '--data-dir needs a value');
      dataDir = v;
    } else if (a.startsWith('--data-dir=')) dataDir = a.slice('--data-dir='.length);
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
  } finally {
    await accounts.close();
    lock.release();
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
