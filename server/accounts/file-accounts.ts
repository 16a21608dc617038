// Accounts kept in `accounts.log` in the data directory: one line per change, `<crc32 hex> <json>\n`,
// fsynced before the change takes effect (a registration acknowledged is a registration kept). The
// file is replayed at start; a torn last line (a crash mid-write) is cut off, a damaged line elsewhere
// is skipped with a warning. When dead lines (revoked tokens, old hashes) outnumber live state, the file
// is rewritten from the state at start: written aside, fsynced, renamed over, directory fsynced.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, existsSync, truncateSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from '../store/crc32.js';
import { isPasswordHash } from './passwords.js';
import { RecordedAccounts, type AccountRecord } from './account-store.js';

export const ACCOUNTS_FILE = 'accounts.log';
/** A line longer than this is damage, not a record: accounts and grants are a few hundred bytes. */
const MAX_LINE = 16 * 1024;

function encode(rec: AccountRecord): string {
  const json = JSON.stringify(rec);
  const bytes = Buffer.from(json, 'utf8');
  return `${crc32(bytes, 0, bytes.length).toString(16).padStart(8, '0')} ${json}\n`;
}

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
  private file: FileHandle | undefined;
  /** Writes go one after another: each line is whole and fsynced before the next starts. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly warn: (line: string) => void,
  ) {
    super();
  }

  private get path(): string {
    return join(this.dir, ACCOUNTS_FILE);
  }

  async open(): Promise<void> {
    const lines = this.replay();
    const live = this.state.accounts.size + this.state.tokens.size + this.state.claims.size;
    if (lines > 2 * live + 100) this.rewrite();
    this.file = await open(this.path, 'a');
  }

  async close(): Promise<void> {
    await this.chain;
    await this.file?.close();
    this.file = undefined;
  }

  protected keep(rec: AccountRecord): Promise<void> {
    const line = encode(rec);
    const next = this.chain.then(async () => {
      const file = this.file;
      if (!file) throw new Error('account store is not open');
      await file.write(line);
      await file.datasync();
    });
    // A failed write fails its own change only; the next one tries again.
    this.chain = next.catch(() => {});
    return next;
  }

  /** Applies every good line; returns how many there were. */
  private replay(): number {
    if (!existsSync(this.path)) return 0;
    const buf = readFileSync(this.path);
    let pos = 0;
    let count = 0;
    let goodEnd = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break; // a torn last line: cut below
      const line = buf.subarray(pos, nl);
      pos = nl + 1;
      const rec = line.length <= MAX_LINE ? this.decode(line) : undefined;
      if (rec) {
        this.state.apply(rec);
        count++;
      } else {
        this.warn(`accounts: damaged line at byte ${pos - line.length - 1} of ${this.path} skipped`);
      }
      goodEnd = pos;
    }
    if (goodEnd < buf.length) {
      this.warn(`accounts: torn last line of ${this.path} (${buf.length - goodEnd} bytes) cut off`);
      truncateSync(this.path, goodEnd);
    }
    return count;
  }

  private decode(line: Buffer): AccountRecord | undefined {
    if (line.length < 10 || line[8] !== 0x20) return undefined;
    const crc = Number.parseInt(line.toString('latin1', 0, 8), 16);
    if (!Number.isInteger(crc) || crc32(line, 9, line.length) !== crc) return undefined;
    try {
      return asRecord(JSON.parse(line.toString('utf8', 9)));
    } catch {
      return undefined;
    }
  }

  private rewrite(): void {
    const lines: string[] = [];
    for (const a of this.state.accounts.values()) lines.push(encode({ t: 'account', a }));
    for (const g of this.state.tokens.values()) if (g.expires > Date.now()) lines.push(encode({ t: 'grant', g }));
    for (const key of this.state.claims) lines.push(encode({ t: 'claim', key }));
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, lines.join(''));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    const dirFd = openSync(this.dir, 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
  }
}
