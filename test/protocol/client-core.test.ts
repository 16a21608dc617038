// The client half of the protocol that both clients share, driven by hand-written server events:
// what it writes, what it lets the client show, and in which order.
import { describe, expect, it } from 'vitest';
import { ClientCore, type HelloRefused } from '../../protocol/client-core.js';
import type { ChatMessage, ErrorEvent, HistoryEvent, Request, RequestId } from '../../protocol/messages.js';

const TS = '2026-01-01T00:00:00.000Z';

function dm(from: string, to: string, seq: number, text = `m${seq}`): ChatMessage {
  return { type: 'message', from, to, text, seq, ts: TS };
}
function said(room: string, seq: number): ChatMessage {
  return { type: 'message', room, from: 'zoe', text: `r${seq}`, seq, ts: TS };
}

/** A core as a client wires it: everything written and everything released through `show` is kept. */
function setup(opts: { catchUpPage?: number } = {}) {
  const sent: Request[] = [];
  const shown: ChatMessage[][] = [];
  const core = new ClientCore({ send: (r) => sent.push(r), show: (m) => shown.push(m), ...opts });
  const welcome = (): void => {
    core.connected('ann');
    expect(core.accept({ type: 'welcome', protocol: 1, name: 'ann', session: 's', server: 'parley', time: TS, account: false })).toBe(true);
  };
  /** Requests written since the last call, hellos aside. */
  let seen = 0;
  const written = (): Request[] => sent.slice(seen, (seen = sent.length)).filter((r) => r.type !== 'hello');
  /** The last history request written, for answering it. */
  const lastHistoryId = (): RequestId => {
    const h = [...sent].reverse().find((r) => r.type === 'history');
    if (h?.id === undefined) throw new Error('no history request with an id was written');
    return h.id;
  };
  const page = (re: RequestId, withName: string, seqs: number[], more: boolean): HistoryEvent => ({
    type: 'history',
    with: withName,
    messages: seqs.map((s) => dm('bob', 'ann', s)),
    more,
    re,
  });
  return { core, sent, shown, welcome, written, lastHistoryId, page };
}

describe('ClientCore: direct messages are deduplicated by conversation and seq', () => {
  it('a DM redelivered by the inbox after a crash is not shown again', () => {
    const { core, welcome, lastHistoryId, page, shown } = setup();
    welcome();
    expect(core.accept(dm('bob', 'ann', 1))).toBe(true);
    expect(core.accept(dm('bob', 'ann', 2))).toBe(true);
    // The server crashed before the delivery mark of 2 was durable: it comes again after the next hello.
    core.disconnected();
    welcome();
    expect(core.accept(dm('bob', 'ann', 2))).toBe(false);
    core.accept(page(lastHistoryId(), 'bob', [1, 2], false));
    expect(shown).toEqual([]);
    expect(core.accept(dm('bob', 'ann', 2))).toBe(false);
    expect(core.accept(dm('bob', 'ann', 3))).toBe(true);
  });

  it('both directions are one conversation, keyed by the other party case-insensitively', () => {
    const { core, welcome } = setup();
    welcome();
    expect(core.accept(dm('bob', 'ann', 1))).toBe(true);
    // My own message to Bob (echoed to me) is seq 2 of the same conversation.
    expect(core.accept(dm('ANN', 'Bob', 2))).toBe(true);
    expect(core.accept(dm('BOB', 'ann', 2))).toBe(false);
    expect(core.lastSeenDm('bob')).toBe(2);
    // Another conversation counts from its own 1, and so does a room.
    expect(core.accept(dm('cy', 'ann', 1))).toBe(true);
    expect(core.accept(said('general', 1))).toBe(true);
    expect(core.accept(said('general', 1))).toBe(false);
  });

  it('a DM to myself is one conversation with me', () => {
    const { core, welcome } = setup();
    welcome();
    expect(core.accept(dm('ann', 'ann', 1))).toBe(true);
    expect(core.accept(dm('ann', 'ann', 1))).toBe(false);
    expect(core.lastSeenDm('Ann')).toBe(1);
  });
});

describe('ClientCore: every followed DM conversation is caught up after a reconnect', () => {
  it('asks for the newest page, pages back until the gap is covered, and shows what is new once, in order', () => {
    const { core, welcome, written, lastHistoryId, page, shown } = setup({ catchUpPage: 2 });
    welcome();
    core.accept(dm('bob', 'ann', 1));
    core.accept(dm('bob', 'ann', 2));
    core.accept(dm('bob', 'ann', 3));
    core.disconnected();
    written();

    welcome();
    expect(written()).toEqual([{ type: 'history', with: 'bob', limit: 2, id: expect.anything() }]);
    // Straight after the welcome the inbox delivers 6, and redelivers 3: 6 waits for the gap below it.
    expect(core.accept(dm('bob', 'ann', 6))).toBe(false);
    expect(core.accept(dm('bob', 'ann', 3))).toBe(false);
    expect(core.accept(page(lastHistoryId(), 'Bob', [5, 6], true))).toBe(false);
    // 5 is still above 3 + 1: one page further back.
    expect(written()).toEqual([{ type: 'history', with: 'Bob', before: 5, limit: 2, id: expect.anything() }]);
    expect(shown).toEqual([]);
    // Live while the catch-up runs: held too, so nothing jumps ahead of the gap.
    expect(core.accept(dm('ann', 'bob', 7))).toBe(false);
    expect(core.accept(page(lastHistoryId(), 'Bob', [3, 4], true))).toBe(false);
    expect(written()).toEqual([]);
    expect(shown.map((batch) => batch.map((m) => m.seq))).toEqual([[4, 5, 6, 7]]);
    expect(core.lastSeenDm('bob')).toBe(7);
    // After the catch-up, live messages flow as usual and old ones stay dropped.
    expect(core.accept(dm('bob', 'ann', 8))).toBe(true);
    expect(core.accept(dm('bob', 'ann', 5))).toBe(false);
  });

  it('stops when the server has nothing older, and shows nothing when nothing was missed', () => {
    const { core, welcome, written, lastHistoryId, page, shown } = setup({ catchUpPage: 2 });
    welcome();
    core.accept(dm('bob', 'ann', 10));
    core.disconnected();
    welcome();
    written();
    // History was trimmed: 20 is the oldest retained. No further page is asked for.
    core.accept(page(lastHistoryId(), 'bob', [20, 21], false));
    expect(written()).toEqual([]);
    expect(shown.map((b) => b.map((m) => m.seq))).toEqual([[20, 21]]);

    core.disconnected();
    welcome();
    written();
    core.accept(page(lastHistoryId(), 'bob', [20, 21], true));
    expect(written()).toEqual([]);
    expect(shown).toHaveLength(1);
  });

  it('a catch-up cut short by another drop starts again from the same seq; a stale reply is ignored', () => {
    const { core, welcome, written, lastHistoryId, page, shown } = setup({ catchUpPage: 2 });
    welcome();
    core.accept(dm('bob', 'ann', 1));
    core.disconnected();
    welcome();
    const first = lastHistoryId();
    core.accept(dm('bob', 'ann', 4)); // held
    core.disconnected();
    written();
    welcome();
    expect(written()).toEqual([{ type: 'history', with: 'bob', limit: 2, id: expect.anything() }]);
    // The reply to the first connection's request can no longer arrive, but if it did it is not ours to act on.
    expect(core.accept(page(first, 'bob', [3, 4], true))).toBe(true);
    core.accept(page(lastHistoryId(), 'bob', [3, 4], true));
    core.accept(page(lastHistoryId(), 'bob', [1, 2], false));
    expect(shown.map((b) => b.map((m) => m.seq))).toEqual([[2, 3, 4]]);
  });

  it('a page the client shows itself during a catch-up is not shown again, and the mark never goes down', () => {
    const { core, welcome, lastHistoryId, page, shown } = setup({ catchUpPage: 2 });
    welcome();
    core.accept(dm('bob', 'ann', 3));
    core.disconnected();
    welcome();
    const catchUp = lastHistoryId();
    expect(core.accept(dm('bob', 'ann', 5))).toBe(false); // held
    // The web page's own first load of the conversation lands first and shows 1-6.
    core.followDm('bob', [1, 2, 3, 4, 5, 6].map((s) => dm('bob', 'ann', s)));
    core.accept(page(catchUp, 'bob', [4, 5], false));
    expect(shown).toEqual([]);
    expect(core.lastSeenDm('bob')).toBe(6);
    expect(core.accept(dm('bob', 'ann', 6))).toBe(false);
  });

  it('an error reply ends the catch-up and lets held messages through; the client never sees it', () => {
    const { core, welcome, lastHistoryId, shown } = setup();
    welcome();
    core.accept(dm('bob', 'ann', 1));
    core.disconnected();
    welcome();
    expect(core.accept(dm('bob', 'ann', 2))).toBe(false);
    expect(core.accept({ type: 'error', code: 'no_such_user', message: 'gone', re: lastHistoryId() })).toBe(false);
    expect(shown.map((b) => b.map((m) => m.seq))).toEqual([[2]]);
    expect(core.accept({ type: 'error', code: 'not_member', message: 'x', re: 9999 })).toBe(true);
  });

  it('follows conversations the client shows; not those it closed; catch-ups are not pending requests', () => {
    const { core, welcome, written, sent } = setup();
    welcome();
    // Opened by the user and its first page shown (newest 5): followed from seq 5.
    core.followDm('Cy', [dm('cy', 'ann', 4), dm('ann', 'cy', 5)]);
    core.followDm('dee');
    core.accept(dm('bob', 'ann', 1));
    core.unfollowDm('BOB');
    core.request({ type: 'say', room: 'general', text: 'typed while away' });
    core.disconnected();
    written();
    welcome();
    expect(written()).toEqual([
      { type: 'history', with: 'Cy', limit: 50, id: expect.anything() },
      { type: 'history', with: 'dee', limit: 50, id: expect.anything() },
    ]);
    expect(core.lastSeenDm('cy')).toBe(5);
    expect(core.lastSeenDm('bob')).toBeUndefined();
    expect(core.outstanding).toBe(0);
    expect(sent.filter((r) => r.type === 'say')).toHaveLength(1);
  });

  it('after a welcome: rooms are rejoined, then DMs caught up, then what was typed offline is sent', () => {
    const { core, welcome, written } = setup();
    welcome();
    core.accept({ type: 'members', room: 'general', users: ['ann'] });
    core.accept(said('general', 7));
    core.accept(dm('bob', 'ann', 1));
    core.disconnected();
    core.request({ type: 'dm', to: 'bob', text: 'offline words' });
    written();
    welcome();
    expect(written().map((r) => r.type)).toEqual(['join', 'history', 'dm']);
  });
});

describe('ClientCore: liveness', () => {
  it('answers a server ping event with a pong request, at once, without an id, and hides the ping', () => {
    const { core, sent, written } = setup();
    core.connected('ann');
    written();
    // Before the welcome too: a quiet connection is pinged whatever state it is in.
    expect(core.accept({ type: 'ping' })).toBe(false);
    expect(written()).toEqual([{ type: 'pong' }]);
    core.accept({ type: 'welcome', protocol: 1, name: 'ann', session: 's', server: 'parley', time: TS, account: false });
    written();
    expect(core.accept({ type: 'ping' })).toBe(false);
    expect(written()).toEqual([{ type: 'pong' }]);
    // No reply comes to a pong, so none is waited for.
    expect(core.outstanding).toBe(0);
    expect(sent.filter((r) => r.type === 'pong')).toHaveLength(2);
  });
});

describe('ClientCore: rooms', () => {
  it('rejoins with since after a reconnect and drops the overlap', () => {
    const { core, welcome, written } = setup();
    welcome();
    core.accept({ type: 'members', room: 'General', users: ['ann'] });
    expect(core.freshHistory([said('General', 1), said('General', 2)]).map((m) => m.seq)).toEqual([1, 2]);
    core.disconnected();
    written();
    welcome();
    expect(written()).toEqual([{ type: 'join', room: 'General', since: 2, id: expect.anything() }]);
    expect(core.freshHistory([said('general', 2), said('general', 3)]).map((m) => m.seq)).toEqual([3]);
  });
});

describe('ClientCore: accounts and tokens', () => {
  function auth() {
    const sent: Request[] = [];
    const tokens: [string, string | undefined][] = [];
    const refused: HelloRefused[] = [];
    const core = new ClientCore({ send: (r) => sent.push(r), tokenChanged: (n, t) => tokens.push([n, t]), helloRefused: (w) => refused.push(w) });
    const hellos = (): Request[] => sent.filter((r) => r.type === 'hello');
    const welcome = (name: string, account: boolean, token?: string): boolean =>
      core.accept({ type: 'welcome', protocol: 1, name, session: 's', server: 'parley', time: TS, account, ...(token ? { token } : {}) });
    return { core, sent, tokens, refused, hellos, welcome };
  }

  it('a password is sent in one hello only; the welcome token logs in after every reconnect', () => {
    const { core, tokens, hellos, welcome } = auth();
    core.connected('ann', 'correct horse');
    expect(hellos()[0]).toMatchObject({ name: 'ann', password: 'correct horse' });
    expect(hellos()[0]).not.toHaveProperty('token');
    expect(welcome('Ann', true, 'T1')).toBe(true);
    expect(core.account).toBe(true);
    expect(tokens).toEqual([['Ann', 'T1']]);
    core.disconnected();
    core.connected('ann');
    expect(hellos()[1]).toMatchObject({ name: 'ann', token: 'T1' });
    expect(hellos()[1]).not.toHaveProperty('password');
    // The welcome repeats the token: nothing new to store.
    welcome('Ann', true, 'T1');
    expect(tokens).toHaveLength(1);
  });

  it('a guest says a bare hello, and a token kept for one name is never sent for another', () => {
    const { core, hellos, welcome } = auth();
    core.useToken('bob', 'TB');
    core.connected('cy');
    expect(hellos()[0]).toEqual({ type: 'hello', name: 'cy', protocol: 1, client: 'parley', id: expect.anything() });
    welcome('cy', false);
    expect(core.account).toBe(false);
    core.disconnected();
    core.connected('BOB');
    expect(hellos()[1]).toMatchObject({ name: 'BOB', token: 'TB' });
  });

  it('a refused token is forgotten and reported; the next hello asks without it', () => {
    const { core, tokens, refused, hellos } = auth();
    core.useToken('ann', 'OLD');
    const id = core.connected('ann');
    expect(core.helloPending).toBe(true);
    expect(core.accept({ type: 'error', code: 'bad_credentials', message: 'wrong name, password or token', re: id })).toBe(false);
    expect(refused.map((r) => [r.kind, r.used, r.name])).toEqual([['token_refused', 'token', 'ann']]);
    expect(tokens).toEqual([['ann', undefined]]);
    expect(core.tokenFor('ann')).toBeUndefined();
    expect(core.helloPending).toBe(false);
    expect(core.isReady).toBe(false);
    core.connected('ann');
    expect(hellos()[1]).not.toHaveProperty('token');
  });

  it('classifies the other refusals: password needed, wrong password, rate limited with its wait, names', () => {
    const { core, refused, tokens } = auth();
    core.useToken('ann', 'KEEP');
    const err = (code: ErrorEvent['code'], re: RequestId, extra: Partial<ErrorEvent> = {}): boolean => core.accept({ type: 'error', code, message: code, re, ...extra });
    err('auth_required', core.connected('zed'));
    err('bad_credentials', core.connected('ann', 'nope'));
    err('rate_limited', core.connected('ann'), { retryAfterMs: 42_000 });
    err('name_taken', core.connected('amy'));
    expect(refused.map((r) => r.kind)).toEqual(['password_needed', 'wrong_password', 'rate_limited', 'name']);
    expect(refused[2]).toMatchObject({ retryAfterMs: 42_000, used: 'token' });
    // Neither a wrong password nor a rate limit says anything about the token: it stays.
    expect(tokens).toEqual([]);
    expect(core.tokenFor('ann')).toBe('KEEP');
    // An error that answers something else is the client's, as before.
    expect(err('not_member', 99)).toBe(true);
  });

  it('register makes the guest an account with a token; logout forgets it', () => {
    const { core, sent, tokens, hellos, welcome } = auth();
    core.connected('dot');
    welcome('dot', false);
    core.request({ type: 'register', password: 'a long password' });
    const reg = sent.at(-1)!;
    expect(reg).toMatchObject({ type: 'register', password: 'a long password' });
    expect(core.accept({ type: 'ack', re: reg.id!, token: 'TD' })).toBe(true);
    expect(core.account).toBe(true);
    expect(tokens).toEqual([['dot', 'TD']]);
    core.disconnected();
    core.connected('dot');
    expect(hellos().at(-1)).toMatchObject({ token: 'TD' });
    welcome('dot', true, 'TD');
    core.request({ type: 'logout', all: true });
    const out = sent.at(-1)!;
    expect(out).toMatchObject({ type: 'logout', all: true });
    core.accept({ type: 'ack', re: out.id! });
    expect(tokens).toEqual([['dot', 'TD'], ['dot', undefined]]);
    core.disconnected();
    core.connected('dot');
    expect(hellos().at(-1)).not.toHaveProperty('token');
  });

  it('a register refused (bad_password) leaves a guest a guest', () => {
    const { core, sent, tokens, welcome } = auth();
    core.connected('eve');
    welcome('eve', false);
    core.request({ type: 'register', password: 'short' });
    expect(core.accept({ type: 'error', code: 'bad_password', message: 'a password is 8-1024 characters', re: sent.at(-1)!.id })).toBe(true);
    expect(core.account).toBe(false);
    expect(tokens).toEqual([]);
  });
});

describe('ClientCore: who is a guest', () => {
  it('follows members, joined, users and the welcome; a message is a guest\'s when it says so or its room sender is one', () => {
    const { core, welcome } = setup();
    welcome();
    expect(core.isGuest('ann')).toBe(true);
    core.accept({ type: 'members', room: 'general', users: ['ann', 'Bob', 'cy'], guests: ['ann', 'cy'] });
    expect([core.isGuest('ann'), core.isGuest('bob'), core.isGuest('CY')]).toEqual([true, false, true]);
    expect(core.sentByGuest(said('general', 1))).toBe(false); // zoe: never described
    core.accept({ type: 'joined', room: 'general', name: 'zoe', ts: TS, guest: true });
    expect(core.sentByGuest(said('general', 2))).toBe(true);
    // Another zoe, an account now (the guest left and the name was registered).
    core.accept({ type: 'joined', room: 'general', name: 'Zoe', ts: TS });
    expect(core.sentByGuest(said('general', 3))).toBe(false);
    expect(core.sentByGuest({ ...said('general', 4), guest: true })).toBe(true);
    core.accept({ type: 'users', room: 'general', users: [{ name: 'bob', online: true, guest: true }] });
    expect(core.isGuest('bob')).toBe(true);
    // A DM is marked only by its own flag: guest-ness of a name says nothing about who sent a stored DM.
    expect(core.sentByGuest(dm('cy', 'ann', 1))).toBe(false);
    expect(core.sentByGuest({ ...dm('cy', 'ann', 2), guest: true })).toBe(true);
  });
});
