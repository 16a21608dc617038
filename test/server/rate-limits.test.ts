// Per-sender rate limits as the dispatcher applies them: refused with rate_limited and a retry hint,
// shared by an account's sessions, per connection for guests, and a sender that keeps pushing is cut.
import { describe, expect, it } from 'vitest';
import { Allowance, defaultRateLimits } from '../../server/hub/rate-limits.js';
import { settle, setup } from '../helpers/hub-harness.js';

describe('token buckets', () => {
  it('allow a burst, then the sustained rate, and say how long to wait', () => {
    const a = new Allowance(defaultRateLimits(10));
    for (let i = 0; i < 30; i++) expect(a.take('message', 1000)).toBe(0);
    expect(a.take('message', 1000)).toBe(100);
    expect(a.take('message', 1100)).toBe(0);
    expect(a.take('free', 1100)).toBe(0);
    // Classes are separate: messages spent do not stop reads.
    expect(a.take('read', 1100)).toBe(0);
  });
});

describe('rate limits in the hub', () => {
  it('a flood gets rate_limited with retryAfterMs; a person typing never does', async () => {
    const { user } = setup({ rateLimits: defaultRateLimits(10) });
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    await settle();
    for (let i = 0; i < 40; i++) ann.send({ type: 'say', room: 'r', text: `m${i}`, id: i });
    await settle();
    const refused = ann.peer.events.filter((e) => e.type === 'error' && e.code === 'rate_limited');
    expect(refused.length).toBe(10);
    expect(refused[0]).toMatchObject({ retryAfterMs: expect.any(Number) });
    expect(ann.peer.closed).toBe(false);
  });

  it('sessions of one account share the allowance; guests have their own', async () => {
    const { user } = setup({ rateLimits: defaultRateLimits(10) });
    const a1 = await user('amy', { account: true });
    const a2 = await user('amy', { account: true });
    const g = await user('gus');
    for (const u of [a1, a2, g]) u.send({ type: 'join', room: 'r' });
    await settle();
    for (let i = 0; i < 20; i++) a1.send({ type: 'say', room: 'r', text: 'x' });
    for (let i = 0; i < 20; i++) a2.send({ type: 'say', room: 'r', text: 'x' });
    for (let i = 0; i < 20; i++) g.send({ type: 'say', room: 'r', text: 'x' });
    await settle();
    const refusals = (u: typeof a1) => u.peer.events.filter((e) => e.type === 'error' && e.code === 'rate_limited').length;
    expect(refusals(a1) + refusals(a2)).toBe(10);
    expect(refusals(g)).toBe(0);
  });

  it('a client that keeps pushing past its refusals is disconnected', async () => {
    const { user } = setup({ rateLimits: defaultRateLimits(10) });
    const ann = await user('ann');
    ann.send({ type: 'join', room: 'r' });
    await settle();
    for (let i = 0; i < 200 && !ann.peer.closed; i++) ann.send({ type: 'say', room: 'r', text: 'spam' });
    await settle();
    expect(ann.peer.closed).toBe(true);
    expect(ann.peer.events.at(-1)).toMatchObject({ type: 'error', code: 'rate_limited', fatal: true });
  });
});

describe('room quotas', () => {
  it('a sender may create ten rooms at once, then rate_limited; joining existing rooms still works', async () => {
    const { user } = setup({ rateLimits: { ...defaultRateLimits(10), join: { perSecond: 1000, burst: 1000 } } });
    const ann = await user('ann');
    for (let i = 0; i < 11; i++) ann.send({ type: 'join', room: `r${i}`, id: i });
    await settle();
    const errors = ann.peer.events.filter((e) => e.type === 'error');
    expect(errors).toEqual([expect.objectContaining({ code: 'rate_limited', re: 10, retryAfterMs: expect.any(Number) })]);
    const bob = await user('bob');
    bob.send({ type: 'join', room: 'r10' });
    await settle();
    ann.send({ type: 'join', room: 'r10', id: 'again' });
    await settle();
    expect(ann.peer.events.at(-1)).not.toMatchObject({ type: 'error' });
  });

  it('--max-rooms caps the rooms a server holds: too_many_rooms for one more', async () => {
    const { user } = setup({ maxRooms: 3 });
    const ann = await user('ann');
    for (let i = 0; i < 4; i++) ann.send({ type: 'join', room: `r${i}`, id: i });
    await settle();
    expect(ann.peer.events.filter((e) => e.type === 'error')).toEqual([expect.objectContaining({ code: 'too_many_rooms', re: 3 })]);
  });
});
