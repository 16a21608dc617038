// Accounts kept in `accounts.log` in the data directory (a RecordFile: one fsynced, CRC-checked line
// per change, so a registration acknowledged is a registration kept). When dead lines (revoked tokens,
// old hashes) outnumber live state, the file is rewritten from the state at start.
import { RecordFile } from '../kv/record-file.js';
import { isPasswordHash } from './passwords.js';
import { RecordedAccounts, type AccountRecord } from './account-store.js';

export const ACCOUNTS_FILE = 'accounts.log';
const isStr = (v: unknown): v is string => typeof v === 'string';

/** A parsed line checked field by field; anything else counts as damage. */
function asRecord(v: unknown): AccountRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const o = (x: unknown): Record<string, unknown> | undefined => (typeof x === 'object' && x !== null ? (x as Record<string, unknown>) : undefined);
  switch (r.t) {
    case 'account': {
      const a = o(r.a);
      return a && isStr(a.key) && isStr(a.name) && isStr(a.hash) && isPasswordHash(a.hash) && isStr(a.created)
        ? { t: 'account', a: { key: a.key, name: a.name, hash: a.hash, created: a.created } }
        : undefined;
    }
    case 'hash':
      return isStr(r.key) && isStr(r.hash) && isPasswordHash(r.hash) ? { t: 'hash', key: r.key, hash: r.hash } : undefined;
    case 'delete':
    case 'claim':
      return isStr(r.key) ? { t: r.t, key: r.key } : undefined;
    case 'grant': {
      const g = o(r.g);
      return g && isStr(g.id) && isStr(g.key) && typeof g.expires === 'number' ? { t: 'grant', g: { id: g.id, key: g.key, expires: g.expires } } : undefined;
    }
    case 'revoke':
      return isStr(r.id) ? { t: 'revoke', id: r.id } : undefined;
    case 'revokeAll':
      return isStr(r.key) && (r.keep === undefined || isStr(r.keep)) ? (isStr(r.keep) ? { t: 'revokeAll', key: r.key, keep: r.keep } : { t: 'revokeAll', key: r.key }) : undefined;
    default:
      return undefined;
  }
}

export class FileAccounts extends RecordedAccounts {
  private readonly file: RecordFile<AccountRecord>;

  constructor(dir: string, warn: (line: string) => void) {
    super();
    this.file = new RecordFile(dir, ACCOUNTS_FILE, asRecord, warn);
  }

  async open(): Promise<void> {
    const lines = this.file.replay((rec) => this.state.apply(rec));
    const live = this.state.accounts.size + this.state.tokens.size + this.state.claims.size;
    if (lines > 2 * live + 100) this.file.rewrite(this.liveRecords());
    await this.file.open();
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  protected keep(rec: AccountRecord): Promise<void> {
    return this.file.append(rec);
  }

  private *liveRecords(): Iterable<AccountRecord> {
    for (const a of this.state.accounts.values()) yield { t: 'account', a };
    for (const g of this.state.tokens.values()) if (g.expires > Date.now()) yield { t: 'grant', g };
    for (const key of this.state.claims) yield { t: 'claim', key };
  }
}
