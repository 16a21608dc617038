// The hub's `history` request as the IRC listener's CHATHISTORY uses it: paging forward with `after`,
// and bounds given as times (`beforeTs`, `afterTs`) that the hub turns into seqs by bisection.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage, ServerEvent } from '../../protocol/messages.js';
import { validateRequest } from '../../protocol/validate.js';
import { settle, setup } from '../helpers/hub-harness.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (seq: number): string => new Date(T0 + seq * 1000).toISOString();

afterEach(() => {
  vi.useRealTimers();
});

/** A room `r` holding messages 1..n, message i stored at T0 + i s (and `sameAt` more at one instant). */
async function roomWith(n: number, sameAt = 0) {
  vi.useFakeTimers({ toFake: ['Date'] });
  const h = setup();
  const ann = await h.user('ann');
  ann.send({ type: 'join', room: 'r', id: 'j' });
  await settle();
  for (let i = 1; i <= n + sameAt; i++) {
    vi.setSystemTime(T0 + Math.min(i, n + 1) * 1000);
    ann.send({ type: 'say', room: 'r', text: `m${i}` });
    await settle();
    h.store.release();
    await settle();
  }
  vi.useRealTimers();
  let next = 0;
  const page = async (req: object): Promise<ServerEvent> => {
    const id = `h${next++}`;
    ann.send({ type: 'history', room: 'r', ...req, id });
    await settle();
    const reply = ann.peer.events.find((e) => 're' in e && e.re === id);
    if (!reply) throw new Error(`no reply to ${JSON.stringify(req)}`);
    return reply;
  };
  return { ...h, ann, page };
}

const seqs = (e: ServerEvent): number[] => (e.type === 'history' ? e.messages.map((m: ChatMessage) => m.seq) : []);

describe('history: after (forward paging)', () => {
  it('returns the messages right after `after`, oldest first, and `more` when newer ones remain', async () => {
    const { page } = await roomWith(30);
    const first = await page({ after: 10, limit: 5 });
    expect(seqs(first)).toEqual([11, 12, 13, 14, 15]);
    expect(first).toMatchObject({ type: 'history', room: 'r', more: true });
    const last = await page({ after: 25, limit: 10 });
    expect(seqs(last)).toEqual([26, 27, 28, 29, 30]);
    expect(last).toMatchObject({ more: false });
    expect(seqs(await page({ after: 0, limit: 2 }))).toEqual([1, 2]);
    expect(seqs(await page({ after: 30 }))).toEqual([]);
  });

  it('with before as well, bounds both sides and still starts right after `after`', async () => {
    const { page } = await roomWith(30);
    expect(seqs(await page({ after: 10, before: 13 }))).toEqual([11, 12]);
    expect(seqs(await page({ after: 10, before: 20, limit: 3 }))).toEqual([11, 12, 13]);
    expect(seqs(await page({ after: 10, before: 11 }))).toEqual([]);
  });
});

describe('history: bounds by time', () => {
  it('beforeTs keeps messages strictly earlier; afterTs strictly later, paging forward', async () => {
    const { page } = await roomWith(20);
    expect(seqs(await page({ beforeTs: at(10), limit: 3 }))).toEqual([7, 8, 9]);
    expect(seqs(await page({ afterTs: at(10), limit: 3 }))).toEqual([11, 12, 13]);
    // Between two stored times: a time that falls between messages.
    expect(seqs(await page({ afterTs: new Date(T0 + 4500).toISOString(), beforeTs: new Date(T0 + 7500).toISOString() }))).toEqual([5, 6, 7]);
    // Before everything, after everything.
    expect(seqs(await page({ beforeTs: at(0) }))).toEqual([]);
    expect(seqs(await page({ afterTs: at(0), limit: 2 }))).toEqual([1, 2]);
    expect(seqs(await page({ afterTs: at(20) }))).toEqual([]);
    expect(seqs(await page({ beforeTs: at(99), limit: 2 }))).toEqual([19, 20]);
    // Milliseconds may be left out.
    expect(seqs(await page({ beforeTs: at(3).replace('.000Z', 'Z') }))).toEqual([1, 2]);
  });

  it('messages sharing one instant are all on the same side of it', async () => {
    // 1..10 a second apart, then 11..14 all at T0 + 11 s.
    const { page } = await roomWith(10, 4);
    expect(seqs(await page({ beforeTs: at(11) }))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(seqs(await page({ afterTs: at(10) }))).toEqual([11, 12, 13, 14]);
    expect(seqs(await page({ afterTs: at(11) }))).toEqual([]);
  });

  it('a seq and a time on the same side: the tighter bound wins', async () => {
    const { page } = await roomWith(20);
    expect(seqs(await page({ after: 12, afterTs: at(5), limit: 2 }))).toEqual([13, 14]);
    expect(seqs(await page({ after: 2, afterTs: at(5), limit: 2 }))).toEqual([6, 7]);
    expect(seqs(await page({ before: 4, beforeTs: at(10) }))).toEqual([1, 2, 3]);
    expect(seqs(await page({ before: 15, beforeTs: at(10), limit: 2 }))).toEqual([8, 9]);
  });

  it('works on direct conversations too', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { user, store } = setup();
    const ann = await user('ann', { account: true });
    const bob = await user('bob', { account: true });
    for (let i = 1; i <= 6; i++) {
      vi.setSystemTime(T0 + i * 1000);
      ann.send({ type: 'dm', to: 'bob', text: `d${i}` });
      await settle();
      store.release();
      await settle();
    }
    vi.useRealTimers();
    bob.send({ type: 'history', with: 'ann', afterTs: at(2), beforeTs: at(5), id: 'h' });
    await settle();
    const reply = bob.peer.events.find((e) => 're' in e && e.re === 'h')!;
    expect(reply).toMatchObject({ type: 'history', with: 'ann' });
    expect(seqs(reply)).toEqual([3, 4]);
  });

  it('validation: a time must be an ISO 8601 UTC time, after a whole number', () => {
    for (const bad of ['2030-01-01', '2030-01-01T00:00:00+01:00', 'yesterday', '2030-13-45T99:99:99Z', 5]) {
      expect(validateRequest({ type: 'history', room: 'r', beforeTs: bad })).toMatchObject({ ok: false, code: 'bad_request' });
      expect(validateRequest({ type: 'history', room: 'r', afterTs: bad })).toMatchObject({ ok: false, code: 'bad_request' });
    }
    expect(validateRequest({ type: 'history', room: 'r', after: -1 })).toMatchObject({ ok: false, code: 'bad_request' });
    expect(validateRequest({ type: 'history', room: 'r', after: 1.5 })).toMatchObject({ ok: false, code: 'bad_request' });
    expect(validateRequest({ type: 'history', room: 'r', after: 0, afterTs: '2030-01-01T00:00:00.000Z', beforeTs: '2030-01-01T00:00:01Z' })).toMatchObject({
      ok: true,
      request: { type: 'history', room: 'r', after: 0, afterTs: '2030-01-01T00:00:00.000Z', beforeTs: '2030-01-01T00:00:01Z' },
    });
  });
});
