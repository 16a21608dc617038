// The shared reconnect policy, driven with an injected random source and clock: the window doubles
// from the floor to the cap, the wait lands anywhere in it (full jitter), and only a connection that
// stayed up resets it.
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../protocol/backoff.js';
import { prng } from '../helpers/prng.js';

function fixed(value: number): () => number {
  return () => value;
}

describe('Backoff', () => {
  it('the top of the window doubles per failure from twice the floor up to the cap', () => {
    const b = new Backoff({ floorMs: 100, capMs: 1000, random: fixed(0.999999) });
    expect(Array.from({ length: 6 }, () => b.down())).toEqual([200, 400, 800, 1000, 1000, 1000]);
    expect(b.attempts).toBe(6);
  });

  it('the bottom of the window is the floor, whatever the failure count', () => {
    const b = new Backoff({ floorMs: 100, capMs: 1000, random: fixed(0) });
    expect(Array.from({ length: 5 }, () => b.down())).toEqual([100, 100, 100, 100, 100]);
  });

  it('full jitter: waits spread over the whole window, not bunched near its top', () => {
    const random = prng(11);
    const waits: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const b = new Backoff({ floorMs: 100, capMs: 10_000, random });
      for (let k = 0; k < 4; k++) b.down();
      waits.push(b.down()); // the fifth wait: window [100, 3200]
    }
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...waits)).toBeLessThanOrEqual(3200);
    // Each quarter of the window gets roughly a quarter of the clients.
    const quarters = [0, 0, 0, 0];
    for (const w of waits) quarters[Math.min(3, Math.floor(((w - 100) / 3100) * 4))]!++;
    for (const q of quarters) expect(q).toBeGreaterThan(400);
  });

  it('a connection that stayed up resets the growth; one that dropped at once does not', () => {
    let now = 0;
    const b = new Backoff({ floorMs: 100, capMs: 10_000, stableMs: 5000, random: fixed(0.999999), now: () => now });
    expect([b.down(), b.down(), b.down()]).toEqual([200, 400, 800]);
    // Accepted, then closed after a second: still failing, the window keeps growing.
    b.up();
    now += 1000;
    expect(b.down()).toBe(1600);
    // Up for longer than stableMs: the next loss is treated as the first.
    b.up();
    now += 5000;
    expect(b.down()).toBe(200);
    expect(b.attempts).toBe(1);
  });

  it('a failed attempt (no up) never resets, and a long outage stays at the cap', () => {
    const b = new Backoff({ floorMs: 500, capMs: 15_000, random: fixed(0.5) });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.down();
    expect(last).toBe(Math.round(500 + 0.5 * 14_500));
    expect(Number.isFinite(last)).toBe(true);
  });

  it('a cap below the floor cannot produce a wait shorter than the floor', () => {
    const b = new Backoff({ floorMs: 1000, capMs: 10, random: fixed(0.7) });
    expect(b.down()).toBe(1000);
  });
});
