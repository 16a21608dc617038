import { describe, expect, it } from 'vitest';
import { hashPassword, isPasswordHash, passwordProblem, verifyPassword } from '../../server/accounts/passwords.js';

const FAST = { N: 1024, r: 8, p: 1 };

describe('passwords', () => {
  it('verifies the right password and refuses a wrong one; each hash has its own salt', async () => {
    const a = await hashPassword('correct horse', FAST);
    const b = await hashPassword('correct horse', FAST);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horsf', a)).toBe(false);
  });

  it('keeps the parameters with the hash, so a hash made with other parameters still verifies', async () => {
    const old = await hashPassword('pw-pw-pw-pw', { N: 2048, r: 4, p: 1 });
    expect(await verifyPassword('pw-pw-pw-pw', old)).toBe(true);
  });

  it('an unknown account (no hash) is false after the same work', async () => {
    expect(await verifyPassword('anything', undefined)).toBe(false);
  });

  it.each([
    ['not scrypt', 'bcrypt$1$2$3$abc$def'],
    ['N not a power of two', 'scrypt$1000$8$1$c2FsdHNhbHQ$' + 'A'.repeat(43)],
    ['N huge', 'scrypt$4194304$8$1$c2FsdHNhbHQ$' + 'A'.repeat(43)],
    ['short key', 'scrypt$1024$8$1$c2FsdHNhbHQ$AAAA'],
    ['missing part', 'scrypt$1024$8$1$c2FsdHNhbHQ'],
  ])('refuses a malformed stored hash: %s', async (_label, hash) => {
    expect(isPasswordHash(hash)).toBe(false);
    expect(await verifyPassword('x', hash)).toBe(false);
  });

  it.each([
    ['too short', 'short', 8, false],
    ['exactly the minimum', '12345678', 8, true],
    ['minimum set higher', '12345678', 12, false],
    ['astral characters count once', '😀😀😀😀😀😀😀😀', 8, true],
    ['too long', 'x'.repeat(1025), 8, false],
  ])('password rule: %s', (_label, pw, min, ok) => {
    const problem = passwordProblem(pw, { minLength: min, maxLength: 1024 });
    expect(problem === undefined).toBe(ok);
    if (!ok) expect(problem).toContain(`${min}-1024`);
  });
});
