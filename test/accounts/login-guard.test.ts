import { describe, expect, it } from 'vitest';
import { LoginGuard } from '../../server/accounts/login-guard.js';

describe('login guard', () => {
  it('allows 10 failures a minute per name, then refuses with a retry hint until the window moves', () => {
    const g = new LoginGuard({ perName: 10, perAddress: 30, windowMs: 60_000, concurrency: 2, queue: 4 });
    for (let i = 0; i < 10; i++) {
      expect(g.admit('bob', `10.0.0.${i}`, 1000 + i).ok).toBe(true);
      g.failed('bob', `10.0.0.${i}`, 1000 + i);
    }
    const refused = g.admit('bob', '10.0.0.99', 2000);
    expect(refused).toMatchObject({ ok: false });
    if (!refused.ok) expect(refused.retryAfterMs).toBe(1000 + 60_000 - 2000);
    expect(g.admit('alice', '10.0.0.99', 2000).ok).toBe(true);
    expect(g.admit('bob', '10.0.0.99', 61_001).ok).toBe(true);
  });

  it('allows 30 failures a minute per address across names', () => {
    const g = new LoginGuard({ perName: 10, perAddress: 30, windowMs: 60_000, concurrency: 2, queue: 4 });
    for (let i = 0; i < 30; i++) g.failed(`user${i}`, '192.0.2.1', 5000);
    expect(g.admit('fresh', '192.0.2.1', 5001).ok).toBe(false);
    expect(g.admit('fresh', '192.0.2.2', 5001).ok).toBe(true);
  });

  it('runs hashing at most `concurrency` at once, in order, and refuses past the queue', async () => {
    const g = new LoginGuard({ perName: 10, perAddress: 30, windowMs: 60_000, concurrency: 2, queue: 2 });
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const job = (n: number) =>
      g.hashing(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(n);
        await new Promise<void>((r) => releases.push(r));
        running--;
      });
    const jobs = [0, 1, 2, 3].map(job);
    await new Promise((r) => setImmediate(r));
    expect(g.admit('x', 'a').ok).toBe(false);
    while (releases.length > 0 || order.length < 4) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(jobs);
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3]);
  });
});
