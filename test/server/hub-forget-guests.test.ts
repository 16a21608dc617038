// Issue 13, quotas: guests never seen again are forgotten, so 20,000 distinct guest names connecting
// and leaving do not leave 20,000 entries behind. Driven through the hub (fake transports, the real
// MemoryStore) so the count is the server's own, read where /metrics reads it.
import { describe, expect, it } from 'vitest';
import { MemoryAccounts } from '../../server/accounts/account-store.js';
import { Hub } from '../../server/hub/hub.js';
import { silentLogger } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import { MemoryStore } from '../../server/store/memory-store.js';
import type { ServerEvent } from '../../protocol/messages.js';
import { FakePeer, settle, waitFor } from '../helpers/hub-harness.js';

function hubWith(forgetAfterMs: number, maxGuests: number, clock: { now: number }) {
  const store = new MemoryStore({ historyPerRoom: 100, forget: { forgetAfterMs, maxGuests }, now: () => clock.now });
  const metrics = new Metrics();
  const hub = new Hub({ store, accounts: new MemoryAccounts(), metrics, log: silentLogger, serverName: 'test', helloTimeoutMs: 60_000, scrypt: { N: 1024, r: 8, p: 1 }, rateLimits: null });
  const connect = (name: string) => {
    const peer = new FakePeer('127.0.0.1:1');
    peer.session = hub.connect(peer);
    peer.request({ type: 'hello', name });
    return peer;
  };
  const knownGauge = (): number => Number(/^parley_known_users (\d+)$/m.exec(metrics.render())?.[1]);
  return { store, hub, connect, knownGauge };
}

describe('forgetting guests (hub and store together)', () => {
  it('20,000 distinct guests connecting and leaving leave at most --max-known-guests behind; an account stays', async () => {
    const clock = { now: Date.now() };
    const { store, connect, knownGauge } = hubWith(3_600_000, 500, clock);
    const ann = connect('ann');
    await waitFor(() => ann.events.some((e) => e.type === 'welcome'));
    ann.request({ type: 'register', password: 'a-long-password', id: 'r' });
    await waitFor(() => ann.events.some((e) => e.type === 'ack'));
    ann.session.disconnected();

    const started = Date.now();
    const welcomed = (p: FakePeer): boolean => p.events.some((e) => e.type === 'welcome');
    for (let i = 0; i < 20_000; i += 500) {
      const batch = Array.from({ length: 500 }, (_, k) => connect(`guest${i + k}`));
      await waitFor(() => batch.every(welcomed));
      expect(batch.every(welcomed)).toBe(true);
      for (const peer of batch) peer.session.disconnected();
      // Bounded in time as well as in count, so a stalled machine fails here rather than hanging.
      if (Date.now() - started > 30_000) throw new Error(`only ${i} guests in 30 s`);
    }
    await settle();
    // The cap, plus ann: not 20,001.
    expect(store.usage().knownUsers).toBe(501);
    expect(knownGauge()).toBe(501);
    expect(await store.knownUser('ann')).toBeDefined();
    expect(await store.knownUser('guest0')).toBeUndefined();
    expect(await store.knownUser('guest19999')).toBeDefined();

    // After --forget-guests-after even the newest are gone; the account is not.
    clock.now = Date.now() + 3_600_001;
    expect(knownGauge()).toBe(1);
    expect((await store.users(undefined, 10)).users.map((u) => u.name)).toEqual(['ann']);
  });

  it('a guest online longer than --forget-guests-after is still known while connected, and forgotten after it leaves', async () => {
    // The real clock: the hub stamps lastSeen with it.
    const { connect } = hubWith(200, 10, { get now() { return Date.now(); } });
    const gus = connect('gus');
    const ghost = connect('ghost');
    await waitFor(() => [gus, ghost].every((p) => p.events.some((e) => e.type === 'welcome')));
    ghost.session.disconnected();
    let n = 0;
    const ask = async (who: FakePeer, req: object): Promise<ServerEvent> => {
      const id = `q${n++}`;
      who.request({ ...req, id });
      await waitFor(() => who.events.some((e) => 're' in e && e.re === id));
      return who.events.find((e) => 're' in e && e.re === id)!;
    };
    // Polled: once ghost (offline) is forgotten, gus has been online longer than the 200 ms.
    const deadline = Date.now() + 10_000;
    while ((await ask(gus, { type: 'whois', name: 'ghost' })).type !== 'error' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await ask(gus, { type: 'whois', name: 'ghost' })).toMatchObject({ type: 'error', code: 'no_such_user' });
    expect(await ask(gus, { type: 'who' })).toMatchObject({ type: 'users', users: [{ name: 'gus', online: true, guest: true }] });

    gus.session.disconnected();
    const other = connect('other');
    expect(await ask(other, { type: 'whois', name: 'gus' })).toMatchObject({ type: 'user', name: 'gus', online: false });
    while ((await ask(other, { type: 'whois', name: 'gus' })).type !== 'error' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await ask(other, { type: 'whois', name: 'gus' })).toMatchObject({ type: 'error', code: 'no_such_user' });
  });
});
