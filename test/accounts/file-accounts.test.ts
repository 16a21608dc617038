import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACCOUNTS_FILE, FileAccounts } from '../../server/accounts/file-accounts.js';
import { hashPassword } from '../../server/accounts/passwords.js';
import { tempDir } from '../helpers/server.js';

const FAST = { N: 1024, r: 8, p: 1 };

describe('file accounts', () => {
  it('keeps accounts, tokens, revocations and claims across a reopen', async () => {
    const dir = tempDir();
    const warnings: string[] = [];
    const a = new FileAccounts(dir, (l) => warnings.push(l));
    await a.open();
    const hash = await hashPassword('password1', FAST);
    expect(await a.create({ key: 'bob', name: 'Bob', hash, created: 'now' })).toBe(true);
    expect(await a.create({ key: 'bob', name: 'bob', hash, created: 'now' })).toBe(false);
    await a.grant({ id: 't1', key: 'bob', expires: Date.now() + 60_000 });
    await a.grant({ id: 't2', key: 'bob', expires: Date.now() + 60_000 });
    await a.grant({ id: 'old', key: 'bob', expires: Date.now() - 1 });
    await a.revoke('t1');
    await a.claim('bob');
    await a.close();

    const b = new FileAccounts(dir, (l) => warnings.push(l));
    await b.open();
    expect((await b.get('bob'))?.name).toBe('Bob');
    expect(await b.token('t1', Date.now())).toBeUndefined();
    expect((await b.token('t2', Date.now()))?.key).toBe('bob');
    expect(await b.token('old', Date.now())).toBeUndefined();
    expect(await b.claimed('bob')).toBe(true);
    await b.revokeAll('bob');
    expect(await b.token('t2', Date.now())).toBeUndefined();
    expect(await b.delete('bob')).toBe(true);
    await b.close();
    expect(warnings).toEqual([]);
  });

  it('cuts a torn last line and skips a damaged one, keeping the rest', async () => {
    const dir = tempDir();
    const a = new FileAccounts(dir, () => {});
    await a.open();
    const hash = await hashPassword('password1', FAST);
    await a.create({ key: 'ann', name: 'ann', hash, created: 'now' });
    await a.create({ key: 'cat', name: 'cat', hash, created: 'now' });
    await a.close();
    const path = join(dir, ACCOUNTS_FILE);
    const lines = readFileSync(path, 'utf8').split('\n');
    // Flip a character inside ann's record: its CRC no longer matches.
    lines[0] = lines[0]!.replace('"ann"', '"anm"');
    writeFileSync(path, lines.join('\n'));
    appendFileSync(path, '0badc0de {"t":"acc');
    const warnings: string[] = [];
    const b = new FileAccounts(dir, (l) => warnings.push(l));
    await b.open();
    expect((await b.list()).map((x) => x.key)).toEqual(['cat']);
    expect(warnings.join('\n')).toMatch(/damaged line/);
    expect(warnings.join('\n')).toMatch(/torn last line/);
    await b.create({ key: 'dan', name: 'dan', hash, created: 'now' });
    await b.close();
    const c = new FileAccounts(dir, () => {});
    await c.open();
    expect((await c.list()).map((x) => x.key)).toEqual(['cat', 'dan']);
    await c.close();
  });
});
