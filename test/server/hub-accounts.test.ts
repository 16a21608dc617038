// Accounts as the hub enforces them: who may take a name, what a guest may see, and how several
// sessions of one account share it. Row by row, each with the exact error code docs/protocol.md names.
import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../protocol/messages.js';
import { reply, settle, setup, waitFor, type FakePeer } from '../helpers/hub-harness.js';

const lastOf = (peer: FakePeer, type: ServerEvent['type']): ServerEvent | undefined => [...peer.events].reverse().find((e) => e.type === type);

describe('hub accounts: who may use a name', () => {
  it('a registered name needs credentials: auth_required without, bad_credentials when wrong, the same for an unknown name', async () => {
    const { user } = setup();
    const bob = await user('bob', { account: true });
    bob.session.disconnected();
    const guest = await user('bob');
    expect(lastOf(guest.peer, 'error')).toMatchObject({ code: 'auth_required' });
    expect(guest.peer.closed).toBe(false);
    guest.send({ type: 'hello', name: 'bob', password: 'wrong-password', id: 'w' });
    const wrong = await reply(guest.peer, 'w');
    guest.send({ type: 'hello', name: 'nobody', password: 'wrong-password', id: 'u' });
    const unknown = await reply(guest.peer, 'u');
    expect(wrong).toMatchObject({ type: 'error', code: 'bad_credentials' });
    expect(unknown).toMatchObject({ type: 'error', code: 'bad_credentials' });
    expect((wrong as { message: string }).message).toBe((unknown as { message: string }).message);
    guest.send({ type: 'hello', name: 'bob', password: 'pw-of-bob', id: 'ok' });
    expect(await reply(guest.peer, 'ok')).toMatchObject({ type: 'welcome', account: true, token: expect.stringMatching(/^[\w-]{43}$/) });
  });

  it('a token logs in; after logout it is bad_credentials; logout all revokes every token', async () => {
    const { user, raw } = setup();
    const a = await user('ann', { account: true });
    a.send({ type: 'logout', id: 'lo' });
    await reply(a.peer, 'lo');
    a.session.disconnected();
    const b = await user('ann', { account: true });
    const token = (lastOf(b.peer, 'welcome') as { token: string }).token;
    const c = raw();
    c.send({ type: 'hello', name: 'ann', token, id: 't' });
    expect(await reply(c.peer, 't')).toMatchObject({ type: 'welcome', name: 'ann', account: true, token });
    // Two sessions of ann now; logout all from one revokes the token the other logged in with.
    b.send({ type: 'logout', all: true, id: 'all' });
    await reply(b.peer, 'all');
    const d = raw();
    d.send({ type: 'hello', name: 'ann', token, id: 't2' });
    expect(await reply(d.peer, 't2')).toMatchObject({ type: 'error', code: 'bad_credentials' });
  });

  it('register: bad_password says the rule; a second register is already_registered; password and logout need an account', async () => {
    const { user } = setup();
    const g = await user('gus');
    g.send({ type: 'password', old: 'a', new: 'bbbbbbbbbb', id: 'p' });
    expect(await reply(g.peer, 'p')).toMatchObject({ type: 'error', code: 'not_registered' });
    g.send({ type: 'logout', id: 'l' });
    expect(await reply(g.peer, 'l')).toMatchObject({ type: 'error', code: 'not_registered' });
    g.send({ type: 'register', password: 'short', id: 'r1' });
    const bad = await reply(g.peer, 'r1');
    expect(bad).toMatchObject({ type: 'error', code: 'bad_password' });
    expect((bad as { message: string }).message).toContain('8-1024');
    g.send({ type: 'register', password: 'long-enough', id: 'r2' });
    expect(await reply(g.peer, 'r2')).toMatchObject({ type: 'ack', token: expect.any(String) });
    g.send({ type: 'register', password: 'long-enough', id: 'r3' });
    expect(await reply(g.peer, 'r3')).toMatchObject({ type: 'error', code: 'already_registered' });
  });

  it('a password change needs the old one and revokes the other tokens', async () => {
    const { user, raw } = setup();
    const first = await user('pat', { account: true });
    const oldToken = (lastOf(first.peer, 'ack') as { token: string }).token;
    first.send({ type: 'password', old: 'nope-nope', new: 'brand-new-pw', id: 'p1' });
    expect(await reply(first.peer, 'p1')).toMatchObject({ type: 'error', code: 'bad_credentials' });
    const second = await user('pat', { account: true });
    second.send({ type: 'password', old: 'pw-of-pat', new: 'brand-new-pw', id: 'p2' });
    expect(await reply(second.peer, 'p2')).toMatchObject({ type: 'ack' });
    const x = raw();
    x.send({ type: 'hello', name: 'pat', token: oldToken, id: 'old' });
    expect(await reply(x.peer, 'old')).toMatchObject({ type: 'error', code: 'bad_credentials' });
    x.send({ type: 'hello', name: 'pat', password: 'brand-new-pw', id: 'new' });
    expect(await reply(x.peer, 'new')).toMatchObject({ type: 'welcome', account: true });
  });

  it('failed logins are limited per name: the 11th attempt within a minute is rate_limited with a hint, before any hashing', async () => {
    const { user, raw } = setup();
    (await user('vic', { account: true })).session.disconnected();
    const g = raw();
    for (let i = 0; i < 10; i++) {
      g.send({ type: 'hello', name: 'vic', password: `guess-${i}`, id: i });
      expect(await reply(g.peer, i)).toMatchObject({ code: 'bad_credentials' });
    }
    g.send({ type: 'hello', name: 'vic', password: 'pw-of-vic', id: 'limited' });
    const limited = await reply(g.peer, 'limited');
    expect(limited).toMatchObject({ type: 'error', code: 'rate_limited', retryAfterMs: expect.any(Number) });
    expect((limited as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
  });
});

describe('hub accounts: what a guest can see', () => {
  it('an impostor guest cannot take a registered name, so it never gets its inbox or its history', async () => {
    const { user, store } = setup();
    (await user('bob', { account: true })).session.disconnected();
    const ann = await user('ann', { account: true });
    ann.send({ type: 'dm', to: 'bob', text: 'secret', id: 'd' });
    await settle();
    store.release();
    await reply(ann.peer, 'd');
    const impostor = await user('bob');
    await settle();
    expect(impostor.peer.events.map((e) => e.type)).toEqual(['error']);
    impostor.send({ type: 'history', with: 'ann', id: 'h' });
    expect(await reply(impostor.peer, 'h')).toMatchObject({ type: 'error', code: 'not_ready' });
    const realBob = await user('bob', { account: true });
    await waitFor(() => realBob.peer.messages().length > 0);
    expect(realBob.peer.messages().map((m) => m.text)).toEqual(['secret']);
  });

  it('a DM to an offline guest is not_reachable, and a guest DM is delivered live but never stored', async () => {
    const { user, store } = setup();
    const g1 = await user('gwen');
    const ann = await user('ann', { account: true });
    ann.send({ type: 'dm', to: 'gwen', text: 'hi guest', id: 'live' });
    expect(await reply(ann.peer, 'live')).toMatchObject({ type: 'ack', seq: 1 });
    expect(g1.peer.messages().map((m) => m.text)).toEqual(['hi guest']);
    g1.send({ type: 'dm', to: 'ann', text: 'hi account', id: 'back' });
    expect(await reply(g1.peer, 'back')).toMatchObject({ type: 'ack', seq: 2 });
    expect(ann.peer.messages().map((m) => [m.text, m.guest])).toEqual([
      ['hi guest', undefined],
      ['hi account', true],
    ]);
    expect(store.waiting).toBe(0);
    g1.session.disconnected();
    ann.send({ type: 'dm', to: 'gwen', text: 'are you there', id: 'gone' });
    expect(await reply(ann.peer, 'gone')).toMatchObject({ type: 'error', code: 'not_reachable' });
    // The next guest called gwen starts afresh: no inbox, no history with ann.
    const g2 = await user('gwen');
    g2.send({ type: 'history', with: 'ann', id: 'h' });
    expect(await reply(g2.peer, 'h')).toMatchObject({ type: 'history', messages: [] });
    expect(g2.peer.messages()).toEqual([]);
  });

  it('a guest name is one connection; a guest cannot sit beside an account of its name', async () => {
    const { user } = setup();
    await user('solo');
    const again = await user('solo');
    expect(lastOf(again.peer, 'error')).toMatchObject({ code: 'name_taken' });
  });
});

describe('hub accounts: several sessions', () => {
  it('both sessions receive room messages and DMs, others see one joined and one left, a DM from one shows in the other', async () => {
    const { user, store } = setup();
    const phone = await user('amy', { account: true });
    const laptop = await user('amy', { account: true });
    const bob = await user('bob', { account: true });
    bob.send({ type: 'join', room: 'r' });
    await settle();
    phone.send({ type: 'join', room: 'r' });
    await settle();
    laptop.send({ type: 'join', room: 'r', id: 'j' });
    const members = await reply(laptop.peer, 'j');
    expect(members).toMatchObject({ type: 'members', users: ['bob', 'amy'] });
    await settle();
    expect(bob.peer.events.filter((e) => e.type === 'joined' && e.name === 'amy')).toHaveLength(1);
    bob.send({ type: 'say', room: 'r', text: 'hello amy' });
    bob.send({ type: 'dm', to: 'amy', text: 'psst' });
    await settle();
    store.release();
    await settle();
    for (const s of [phone, laptop]) expect(s.peer.messages().map((m) => m.text)).toEqual(['hello amy', 'psst']);
    phone.send({ type: 'dm', to: 'bob', text: 'from my phone' });
    await settle();
    store.release();
    await settle();
    expect(laptop.peer.messages().map((m) => m.text)).toContain('from my phone');
    phone.session.disconnected();
    await settle();
    expect(bob.peer.events.filter((e) => e.type === 'left' && e.name === 'amy')).toHaveLength(0);
    laptop.session.disconnected();
    await settle();
    expect(bob.peer.events.filter((e) => e.type === 'left' && e.name === 'amy')).toHaveLength(1);
  });
});

describe('look-alike names', () => {
  it.each([
    ['aIice', 'alice'],
    ['al1ce', 'alice'],
    ['ALICE', 'alice'],
    ['b0b', 'bob'],
    ['rnary', 'mary'],
  ])('%s is name_taken beside %s (online guest or account), while existing names keep working', async (lookalike, original) => {
    const { user } = setup();
    const first = await user(original);
    const second = await user(lookalike);
    expect(lastOf(second.peer, 'error')).toMatchObject({ code: 'name_taken' });
    expect(lastOf(second.peer, 'welcome')).toBeUndefined();
    // Registered and offline: still refused.
    first.send({ type: 'register', password: 'long-enough', id: 'r' });
    await reply(first.peer, 'r');
    first.session.disconnected();
    const third = await user(lookalike);
    expect(lastOf(third.peer, 'error')).toMatchObject({ code: lookalike.toLowerCase() === original ? 'auth_required' : 'name_taken' });
  });

  it('a name unlike any other is admitted', async () => {
    const { user } = setup();
    await user('alice');
    const other = await user('alina');
    expect(lastOf(other.peer, 'welcome')).toMatchObject({ name: 'alina' });
  });
});

describe('accounts against abuse', () => {
  it("ten bad passwords lock the password out for a minute, never the account's own devices holding a token", async () => {
    const { user, raw } = setup();
    const owner = await user('amy', { account: true });
    const token = (owner.peer.events.find((e) => e.type === 'ack' && e.re === 'register') as { token: string }).token;
    owner.session.disconnected();
    const thief = raw();
    for (let i = 0; i < 11; i++) {
      thief.send({ type: 'hello', name: 'amy', password: `guess-${i}`, id: i });
      await reply(thief.peer, i);
    }
    expect(lastOf(thief.peer, 'error')).toMatchObject({ code: 'rate_limited' });
    const device = raw();
    device.send({ type: 'hello', name: 'amy', token, id: 't' });
    expect(await reply(device.peer, 't')).toMatchObject({ type: 'welcome', account: true });
    // A wrong token is still a failure, and still limited.
    const other = raw();
    other.send({ type: 'hello', name: 'amy', token: 'x'.repeat(43), id: 'bad' });
    expect(await reply(other.peer, 'bad')).toMatchObject({ type: 'error', code: 'rate_limited' });
  });

  it('a password change and logout all end the account\'s other connections, not only their tokens', async () => {
    const { user } = setup();
    const a = await user('zoe', { account: true });
    const b = await user('zoe', { account: true });
    const c = await user('zoe', { account: true });
    a.send({ type: 'password', old: 'pw-of-zoe', new: 'zoe-new-password', id: 'p' });
    expect(await reply(a.peer, 'p')).toMatchObject({ type: 'ack' });
    for (const s of [b, c]) {
      expect(s.peer.closed).toBe(true);
      expect(lastOf(s.peer, 'error')).toMatchObject({ code: 'bad_credentials', fatal: true });
    }
    expect(a.peer.closed).toBe(false);
    const d = await user('yan', { account: true });
    const e = await user('yan', { account: true });
    d.send({ type: 'logout', all: true, id: 'l' });
    await reply(d.peer, 'l');
    expect(e.peer.closed).toBe(true);
  });
});
