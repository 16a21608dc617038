// The known-user table's forget policy (issue 13, quotas): offline guests go after a while and beyond a
// cap, accounts and online guests never, and paging never shows a forgotten or doubled name.
import { describe, expect, it } from 'vitest';
import { KnownUsers } from '../../server/store/known-users.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

function table(forgetAfterMs: number, maxGuests: number) {
  const clock = { now: T0 };
  const forgotten: string[] = [];
  const known = new KnownUsers({ forgetAfterMs, maxGuests }, (k) => forgotten.push(k), () => clock.now);
  return { known, clock, forgotten };
}

const names = (k: KnownUsers): string[] => k.page(undefined, 1000).users.map((u) => u.name);

describe('KnownUsers forget policy', () => {
  it('forgets an offline guest once it has been gone longer than forgetAfterMs, and tells the owner', () => {
    const { known, clock, forgotten } = table(1000, 0);
    known.remember('Gus', at(0), { guest: true, online: false });
    clock.now = T0 + 1000;
    expect(known.get('gus')).toEqual({ name: 'Gus', lastSeen: at(0) });
    clock.now = T0 + 1001;
    expect(known.get('gus')).toBeUndefined();
    expect(forgotten).toEqual(['gus']);
    expect(known.size).toBe(0);
  });

  it('never forgets an account, a user recorded without saying which (older data), or a guest online now', () => {
    const { known, clock } = table(1000, 1);
    known.remember('Ann', at(0), { guest: false });
    known.remember('Old', at(0));
    known.remember('Gil', at(0), { guest: true, online: true });
    for (let i = 0; i < 5; i++) known.remember(`g${i}`, at(0), { guest: true });
    clock.now = T0 + 10_000;
    expect(names(known)).toEqual(['Ann', 'Gil', 'Old']);
  });

  it('a guest that comes back is kept: online again, then timed from when it left last', () => {
    const { known, clock } = table(1000, 0);
    known.remember('Gus', at(0), { guest: true });
    clock.now = T0 + 900;
    known.remember('Gus', at(900), { guest: true, online: true });
    clock.now = T0 + 5000;
    expect(known.get('gus')?.lastSeen).toBe(at(900));
    known.remember('Gus', at(5000), { guest: true, online: false });
    clock.now = T0 + 5900;
    expect(known.get('gus')?.lastSeen).toBe(at(5000));
    clock.now = T0 + 6001;
    expect(known.get('gus')).toBeUndefined();
  });

  it('a guest that registers is an account from then on', () => {
    const { known, clock } = table(1000, 0);
    known.remember('Reg', at(0), { guest: true, online: true });
    known.remember('Reg', at(1), { guest: false, online: true });
    known.remember('Reg', at(2), { guest: false, online: false });
    clock.now = T0 + 60_000;
    expect(known.get('reg')).toBeDefined();
  });

  it('keeps at most maxGuests offline guests, forgetting the longest gone first', () => {
    const { known } = table(0, 3);
    for (let i = 0; i < 10; i++) known.remember(`g${i}`, at(i), { guest: true });
    known.remember('Acc', at(0));
    expect(names(known)).toEqual(['Acc', 'g7', 'g8', 'g9']);
    expect(known.size).toBe(4);
  });

  it('20,000 guest names through a cap of 100 leave 100 entries, and the sorted list does not keep the rest', () => {
    const { known } = table(0, 100);
    for (let i = 0; i < 20_000; i++) known.remember(`guest${i}`, at(i), { guest: true });
    expect(known.size).toBe(100);
    const page = known.page(undefined, 500);
    expect(page.users).toHaveLength(100);
    expect(page.more).toBe(false);
    // The list behind paging was compacted as names went, not only when someone paged.
    const sorted = (known as unknown as { sorted: string[] }).sorted;
    expect(sorted.length).toBeLessThan(100 + 1024 + 2);
  });

  it('a name forgotten and then seen again is listed once, in order', () => {
    const { known, clock } = table(1000, 0);
    known.remember('bob', at(0), { guest: true });
    known.remember('amy', at(0), { guest: false });
    expect(names(known)).toEqual(['amy', 'bob']);
    clock.now = T0 + 2000;
    expect(names(known)).toEqual(['amy']);
    known.remember('Bob', at(2000), { guest: true, online: true });
    known.remember('cy', at(2000), { guest: true, online: true });
    expect(names(known)).toEqual(['amy', 'Bob', 'cy']);
    expect(known.page('amy', 1)).toEqual({ users: [{ name: 'Bob', lastSeen: at(2000) }], more: true });
  });

  it('while a log is replayed nothing is forgotten; at the end the policy applies in lastSeen order, not log order', () => {
    const { known, clock } = table(0, 2);
    clock.now = T0 + 100;
    known.beginLoad();
    // Compaction copies put old records after newer ones.
    known.remember('new1', at(50), { guest: true });
    known.remember('new2', at(60), { guest: true });
    known.remember('old', at(1), { guest: true });
    expect(known.size).toBe(3);
    known.endLoad();
    expect(names(known)).toEqual(['new1', 'new2']);
  });
});
