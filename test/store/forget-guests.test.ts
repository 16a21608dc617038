// The file store forgets guests by the same policy as the table (known-users.test.ts), and keeps them
// forgotten: a restart does not bring them back from old records, and compaction drops those records
// instead of copying them, so the log does not keep growing with names nobody uses.
import { describe, expect, it } from 'vitest';
import { logBytes } from '../../server/store/file-store.js';
import { newDir, open } from './store-helpers.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

async function names(store: { users(after: string | undefined, limit: number): Promise<{ users: { name: string }[] }> }): Promise<string[]> {
  return (await store.users(undefined, 1000)).users.map((u) => u.name);
}

describe('file store: forgotten guests', () => {
  it('keeps the cap across a restart, forgets by time at the next start, never an account, and compacts the old records away', async () => {
    const dir = newDir();
    const clock = { now: T0 };
    const opts = { forget: { forgetAfterMs: 60_000, maxGuests: 50 }, now: () => clock.now, segmentBytes: 4096 };
    const a = await open(dir, opts);
    a.store.rememberUser('Acc', at(0), { guest: false, online: false });
    a.store.rememberUser('Legacy', at(0));
    for (let i = 0; i < 2000; i++) a.store.rememberUser(`g${i}`, at(i), { guest: true, online: false });
    // A guest online now is kept whatever its age.
    a.store.rememberUser('Here', at(0), { guest: true, online: true });
    expect(a.store.usage().knownUsers).toBe(53);
    // Compaction runs as segments fill; poll until the old guests' segments are gone.
    const deadline = Date.now() + 10_000;
    while (logBytes(dir) > 16 * 1024 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(logBytes(dir)).toBeLessThanOrEqual(16 * 1024);
    await a.store.close();

    const b = await open(dir, opts);
    const kept = await names(b.store);
    // After a restart nobody is online: Here is an offline guest now, the oldest of them, so the cap
    // of 50 leaves it out along with g0-g1950.
    expect(kept).toEqual(['Acc', ...Array.from({ length: 50 }, (_, i) => `g${1950 + i}`).sort(), 'Legacy'].sort((x, y) => (x.toLowerCase() < y.toLowerCase() ? -1 : 1)));
    expect(await b.store.knownUser('g0')).toBeUndefined();
    await b.store.close();

    clock.now = T0 + 2000 + 60_001;
    const c = await open(dir, opts);
    expect(await names(c.store)).toEqual(['Acc', 'Legacy']);
    expect(c.store.usage().knownUsers).toBe(2);
    await c.store.close();
  });
});
