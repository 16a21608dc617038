// The web client's reducer under Node, no browser: every server event it knows, row by row, plus the
// local actions (open, read, search, ignore) and the pure text helpers the views use.
import { describe, expect, it } from 'vitest';
import type { ChatMessage, ServerEvent } from '../../protocol/messages.js';
import { ALIASES as CONSOLE_ALIASES, COMMANDS as CONSOLE_COMMANDS } from '../../console-client/commands.js';
import { commandNames, parseInput } from '../../web-client/commands.js';
import { clockTime, highlight, linkify, typingLine } from '../../web-client/format.js';
import {
  activate,
  addNotice,
  beginSearch,
  closeDm,
  markRead,
  openDm,
  reduce,
  restoreDms,
  loadPendingDms,
  setIgnored,
  TYPING_MS,
  type Context,
  type Effect,
} from '../../web-client/reducer.js';
import { dmKey, initialState, roomKey, totals, typists, unread, unreadMentions, type ChatState, type Conversation } from '../../web-client/state.js';

const NOW = Date.parse('2026-12-07T10:00:00.000Z');
const ctx = (over: Partial<Context> = {}): Context => ({ now: NOW, ...over });
const TS = '2026-12-07T09:00:00.000Z';

function m(seq: number, from: string, text: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { type: 'message', room: 'general', from, text, seq, ts: TS, ...extra };
}
function dm(seq: number, from: string, to: string, text: string): ChatMessage {
  return { type: 'message', to, from, text, seq, ts: TS };
}

/** Feeds events in order; returns the last state and every effect. */
function run(events: ServerEvent[], start: ChatState = initialState(), c: Context = ctx()): { s: ChatState; fx: Effect[] } {
  let s = start;
  const fx: Effect[] = [];
  for (const ev of events) {
    const r = reduce(s, ev, c);
    s = r.state;
    fx.push(...r.effects);
  }
  return { s, fx };
}

const conv = (s: ChatState, key: string): Conversation => {
  const c = s.conversations.get(key);
  if (!c) throw new Error(`no conversation ${key}`);
  return c;
};
const texts = (c: Conversation): string[] => c.entries.map((e) => (e.kind === 'message' ? `${e.msg.seq}:${e.msg.text}` : `notice:${e.text}`));

/** alice, in #general with bob, with two messages of history. */
function joined(): ChatState {
  return run([
    { type: 'welcome', protocol: 1, name: 'alice', session: 's', server: 'parley', time: TS, account: true },
    { type: 'members', room: 'general', users: ['alice', 'bob'], away: { bob: 'lunch' } },
    { type: 'history', room: 'general', messages: [m(1, 'bob', 'one'), m(2, 'alice', 'two')], more: true },
    { type: 'joined', room: 'general', name: 'alice', ts: TS },
  ]).s;
}

describe('reducer: one row per event', () => {
  it('welcome: who the user is', () => {
    expect(run([{ type: 'welcome', protocol: 1, name: 'Alice', session: 's', server: 'p', time: TS, account: false }]).s.me).toBe('Alice');
  });

  it('members: the room is joined and opened, members online, away messages kept, who asked', () => {
    const { s, fx } = run([{ type: 'members', room: 'General', users: ['alice', 'Bob'], away: { Bob: 'lunch' } }]);
    const c = conv(s, roomKey('general'));
    expect(c.joined).toBe(true);
    expect(c.name).toBe('General');
    expect([...c.members.values()]).toEqual(['alice', 'Bob']);
    expect(s.active).toBe(roomKey('general'));
    expect(s.online.get('bob')).toBe(true);
    expect(s.away.get('bob')).toBe('lunch');
    expect(fx).toContainEqual({ kind: 'request', req: { type: 'who', room: 'General' } });
    expect(fx).toContainEqual({ kind: 'remember' });
  });

  it('history on join: backlog is read when no marker is known; a resume is news', () => {
    const s = joined();
    const c = conv(s, roomKey('general'));
    expect(texts(c)).toContain('1:one');
    expect(c.more).toBe(true);
    expect(unread(s, c)).toBe(0);
    const r = run([{ type: 'history', room: 'general', messages: [m(3, 'bob', 'while away')] }], s);
    // News, and unread until the page, seeing it on screen, marks it read (markRead below).
    expect(unread(r.s, conv(r.s, roomKey('general')))).toBe(1);
    expect(r.fx.some((e) => e.kind === 'announce')).toBe(true);
  });

  it('history with a marker: what is above the marker is unread', () => {
    const { s } = run([
      { type: 'welcome', protocol: 1, name: 'alice', session: 's', server: 'p', time: TS, account: true },
      { type: 'members', room: 'general', users: ['alice'] },
      { type: 'read', room: 'general', seq: 1 },
      { type: 'history', room: 'general', messages: [m(1, 'bob', 'a'), m(2, 'bob', 'b'), m(3, 'bob', 'c')] },
    ]);
    expect(unread(s, conv(s, roomKey('general')))).toBe(2);
  });

  it('history asked for (an older page): merged in seq order, more and loading updated', () => {
    const s = joined();
    const { s: s2 } = run([{ type: 'history', room: 'general', messages: [m(0, 'bob', 'zero')], more: false }], s, ctx({ pending: { type: 'history', room: 'general', before: 1 } }));
    const c = conv(s2, roomKey('general'));
    expect(texts(c).filter((t) => !t.startsWith('notice'))).toEqual(['0:zero', '1:one', '2:two']);
    expect(c.more).toBe(false);
    expect(c.loadingOlder).toBe(false);
  });

  it('history of a direct conversation: loaded, its backlog read unless a marker says otherwise', () => {
    const s = joined();
    const { s: s2 } = run([{ type: 'history', with: 'Carol', messages: [dm(1, 'carol', 'alice', 'hi'), dm(2, 'alice', 'carol', 'yo')] }], s, ctx({ pending: { type: 'history', with: 'carol' } }));
    const c = conv(s2, dmKey('carol'));
    expect(c.loaded).toBe(true);
    expect(c.name).toBe('Carol');
    expect(unread(s2, c)).toBe(0);
  });

  it('message: appended once, unread when not one\'s own, announced; a mention or a DM notifies', () => {
    const s = joined();
    const { s: s2, fx } = run([m(3, 'bob', 'hey @alice', { mentions: ['alice'] }), m(3, 'bob', 'hey @alice', { mentions: ['alice'] })], s);
    const c = conv(s2, roomKey('general'));
    expect(texts(c).filter((t) => t.startsWith('3:'))).toHaveLength(1);
    expect(unread(s2, c)).toBe(1);
    expect(unreadMentions(s2, c)).toBe(1);
    expect(totals(s2)).toEqual({ unread: 1, mentions: 1 });
    expect(fx.filter((e) => e.kind === 'notify')).toHaveLength(1);
    expect(fx.filter((e) => e.kind === 'announce')).toHaveLength(1);
    const own = run([m(4, 'alice', 'mine')], s2).s;
    expect(unread(own, conv(own, roomKey('general')))).toBe(1);
  });

  it('message in a room not joined (racing a leave) is dropped; a DM opens its conversation and asks its history', () => {
    const s = joined();
    expect(run([{ ...m(9, 'bob', 'x'), room: 'elsewhere' }], s).s).toBe(s);
    const { s: s2, fx } = run([dm(1, 'carol', 'alice', 'psst')], s);
    const c = conv(s2, dmKey('carol'));
    expect(unread(s2, c)).toBe(1);
    expect(fx).toContainEqual({ kind: 'request', req: { type: 'history', with: 'carol', limit: 50 } });
    expect(fx.some((e) => e.kind === 'notify')).toBe(true);
  });

  it('message from someone ignored: shown to nobody, counted nowhere', () => {
    const s = setIgnored(joined(), 'Bob', true);
    const { s: s2, fx } = run([m(3, 'bob', 'hello')], s);
    expect(unread(s2, conv(s2, roomKey('general')))).toBe(0);
    expect(fx.filter((e) => e.kind === 'announce')).toEqual([]);
  });

  it('joined: a member and a notice; our own rejoin after a reconnect says nothing new', () => {
    const s = joined();
    const r = run([{ type: 'joined', room: 'general', name: 'carol', ts: TS }], s).s;
    expect(conv(r, roomKey('general')).members.has('carol')).toBe(true);
    expect(texts(conv(r, roomKey('general')))).toContain('notice:carol joined');
    const again = run([{ type: 'joined', room: 'general', name: 'alice', ts: TS }], r).s;
    expect(texts(conv(again, roomKey('general'))).filter((t) => t === 'notice:You joined #general')).toHaveLength(1);
  });

  it('left: another leaves (or disconnects); we leave and the room goes', () => {
    const s = joined();
    const r = run([{ type: 'left', room: 'general', name: 'bob', ts: TS, reason: 'disconnect' }], s).s;
    expect(conv(r, roomKey('general')).members.has('bob')).toBe(false);
    expect(r.online.get('bob')).toBe(false);
    expect(texts(conv(r, roomKey('general')))).toContain('notice:bob disconnected');
    const { s: gone, fx } = run([{ type: 'left', room: 'general', name: 'alice', ts: TS }], s);
    expect(gone.conversations.has(roomKey('general'))).toBe(false);
    expect(gone.active).toBeUndefined();
    expect(fx).toContainEqual({ kind: 'remember' });
  });

  it('users: members and presence; printed only when asked', () => {
    const s = joined();
    const ev: ServerEvent = { type: 'users', room: 'general', users: [{ name: 'alice', online: true }, { name: 'bob', online: false, away: 'gone' }] };
    const quiet = run([ev], s).s;
    expect(quiet.online.get('bob')).toBe(false);
    expect(quiet.away.get('bob')).toBe('gone');
    expect(texts(conv(quiet, roomKey('general'))).filter((t) => t.startsWith('notice:In'))).toEqual([]);
    const printed = run([ev], s, ctx({ print: true })).s;
    expect(texts(conv(printed, roomKey('general')))).toContain('notice:In #general: alice, bob (away: gone) (offline).');
    const all = run([{ type: 'users', users: [{ name: 'zed', online: true }], more: true }], s, ctx({ print: true })).s;
    expect(texts(conv(all, roomKey('general'))).at(-1)).toBe('notice:Online: zed. There are more users than the first 1 listed here.');
  });

  it('rooms, time, user (whois): notices when asked, nothing otherwise', () => {
    const s = joined();
    expect(run([{ type: 'rooms', rooms: [{ name: 'general', members: 2 }] }], s).s).toBe(s);
    const last = (ev: ServerEvent): string | undefined => texts(conv(run([ev], s, ctx({ print: true, clock24: true })).s, roomKey('general'))).at(-1);
    expect(last({ type: 'rooms', rooms: [{ name: 'general', members: 2 }] })).toBe('notice:Rooms: #general (2)');
    expect(last({ type: 'time', time: TS })).toMatch(/^notice:Server time: .* \(2026-12-07T09:00:00.000Z\)$/);
    expect(last({ type: 'user', name: 'bob', online: true, account: true, away: 'lunch', rooms: ['general'] })).toBe('notice:bob: account, online, away: lunch, in #general');
  });

  it('topic: the header\'s topic; a change is news, the one sent on join is not; an asked one is printed', () => {
    const fresh = run([
      { type: 'members', room: 'general', users: ['alice'] },
      { type: 'topic', room: 'general', text: 'Old news', by: 'bob', ts: TS },
    ]).s;
    expect(conv(fresh, roomKey('general')).topic).toEqual({ text: 'Old news', by: 'bob', ts: TS });
    expect(texts(conv(fresh, roomKey('general')))).toEqual([]);
    const s = joined();
    const set = run([{ type: 'topic', room: 'general', text: 'Release Friday', by: 'bob', ts: TS }], s).s;
    expect(texts(conv(set, roomKey('general'))).at(-1)).toBe('notice:bob set the topic: Release Friday');
    const cleared = run([{ type: 'topic', room: 'general', text: '', by: 'bob', ts: NOW.toString() }], set).s;
    expect(conv(cleared, roomKey('general')).topic).toBeUndefined();
    const asked = run([{ type: 'topic', room: 'general', text: 'Release Friday', by: 'bob', ts: TS }], set, ctx({ print: true })).s;
    expect(texts(conv(asked, roomKey('general'))).at(-1)).toBe('notice:Topic of #general: Release Friday (set by bob)');
  });

  it('read and reads: markers only move up; a DM read elsewhere is listed here', () => {
    const s = run([m(3, 'bob', 'a'), m(4, 'bob', 'b')], joined()).s;
    expect(unread(s, conv(s, roomKey('general')))).toBe(2);
    const r = run([{ type: 'read', room: 'general', seq: 3 }], s).s;
    expect(unread(r, conv(r, roomKey('general')))).toBe(1);
    expect(conv(run([{ type: 'read', room: 'general', seq: 1 }], r).s, roomKey('general')).readSeq).toBe(3);
    const { s: all, fx } = run([{ type: 'reads', markers: [{ room: 'general', seq: 4 }, { with: 'Dora', seq: 7 }] }], r);
    expect(unread(all, conv(all, roomKey('general')))).toBe(0);
    expect(conv(all, dmKey('dora')).readSeq).toBe(7);
    expect(fx).toContainEqual({ kind: 'request', req: { type: 'history', with: 'Dora', limit: 50 } });
  });

  it('typing: shown for about 6 s, not for oneself, gone when that person\'s message arrives', () => {
    const s = joined();
    const t = run([{ type: 'typing', room: 'general', name: 'bob' }, { type: 'typing', room: 'general', name: 'alice' }], s).s;
    const c = conv(t, roomKey('general'));
    expect(typists(t, c, NOW)).toEqual(['bob']);
    expect(typists(t, c, NOW + TYPING_MS + 1)).toEqual([]);
    const after = run([m(3, 'bob', 'done')], t).s;
    expect(typists(after, conv(after, roomKey('general')), NOW)).toEqual([]);
    const dmTyping = run([dm(1, 'carol', 'alice', 'x'), { type: 'typing', to: 'alice', name: 'carol' }], s).s;
    expect(typists(dmTyping, conv(dmTyping, dmKey('carol')), NOW)).toEqual(['carol']);
  });

  it('away: the member list\'s away map, and a notice where they are', () => {
    const s = joined();
    const back = run([{ type: 'away', name: 'bob' }], s).s;
    expect(back.away.has('bob')).toBe(false);
    expect(texts(conv(back, roomKey('general'))).at(-1)).toBe('notice:bob is back');
    const me = run([{ type: 'away', name: 'alice', text: 'coffee' }], s).s;
    expect(texts(conv(me, roomKey('general'))).at(-1)).toBe('notice:You are marked away: coffee');
  });

  it('edited, deleted, reactions: the message in its latest state (rooms and DMs)', () => {
    const s = joined();
    const e = run([{ type: 'edited', room: 'general', seq: 1, text: 'ONE', editedTs: TS }], s).s;
    const msg1 = (st: ChatState, key = roomKey('general'), seq = 1): ChatMessage | undefined => {
      const found = conv(st, key).entries.find((x) => x.kind === 'message' && x.msg.seq === seq);
      return found?.kind === 'message' ? found.msg : undefined;
    };
    expect(msg1(e)).toMatchObject({ text: 'ONE', editedTs: TS });
    const r = run([{ type: 'reactions', room: 'general', seq: 1, counts: { '👍': ['bob', 'alice'] } }], e).s;
    expect(msg1(r)?.reactions).toEqual({ '👍': ['bob', 'alice'] });
    expect(msg1(run([{ type: 'reactions', room: 'general', seq: 1, counts: {} }], r).s)?.reactions).toBeUndefined();
    const d = run([{ type: 'deleted', room: 'general', seq: 1 }], r).s;
    expect(msg1(d)).toEqual({ type: 'message', room: 'general', from: 'bob', text: '', seq: 1, ts: TS, deleted: true });
    // A DM amendment carries to and from as the message did: found from either side.
    const withDm = run([dm(5, 'alice', 'carol', 'typo')], s).s;
    const fixed = run([{ type: 'edited', to: 'carol', from: 'alice', seq: 5, text: 'fixed', editedTs: TS }], withDm).s;
    expect(msg1(fixed, dmKey('carol'), 5)?.text).toBe('fixed');
    // Unknown seq: nothing changes.
    expect(run([{ type: 'deleted', room: 'general', seq: 99 }], s).s.conversations.get(roomKey('general'))).toBe(s.conversations.get(roomKey('general')));
  });

  it('results: the search panel fills, pages append, a change shows in them', () => {
    const s = beginSearch(joined(), 'deploy friday', false);
    expect(s.search).toMatchObject({ query: 'deploy friday', terms: ['deploy', 'friday'], loading: true });
    const page1 = run([{ type: 'results', messages: [m(9, 'bob', 'deploy friday')], terms: ['deploy', 'friday'], more: true, next: 42 }], s).s;
    expect(page1.search).toMatchObject({ more: true, next: 42, loading: false });
    const page2 = run([{ type: 'results', messages: [m(8, 'bob', 'friday deploy')], terms: ['deploy', 'friday'], more: false }], beginSearch(page1, '', true), ctx({ pending: { type: 'search', query: 'deploy friday', before: 42 } })).s;
    expect(page2.search?.results.map((x) => x.seq)).toEqual([9, 8]);
    expect(page2.search?.next).toBeUndefined();
    const edited = run([{ type: 'deleted', room: 'general', seq: 9 }], page2).s;
    expect(edited.search?.results[0]?.deleted).toBe(true);
  });

  it('error: said where it belongs; search, typing and read refusals handled quietly; join tells the form', () => {
    const s = joined();
    const err = (code: 'not_member' | 'no_such_user' | 'bad_request' | 'not_author', pending: Context['pending']) =>
      run([{ type: 'error', code, message: `server says ${code}` }], s, ctx({ pending }));
    expect(texts(conv(err('not_author', { type: 'edit', room: 'general', seq: 1, text: 'x' }).s, roomKey('general'))).at(-1)).toBe('notice:Only its author can change a message.');
    expect(err('not_member', { type: 'typing', room: 'general' }).s).toBe(s);
    expect(err('not_member', { type: 'read', room: 'general', seq: 1 }).s).toBe(s);
    const searched = run([{ type: 'error', code: 'bad_request', message: 'no words' }], beginSearch(s, '?!', false), ctx({ pending: { type: 'search', query: '?!' } })).s;
    expect(searched.search).toMatchObject({ loading: false, error: 'no words' });
    const j = err('not_member', { type: 'join', room: 'x' });
    expect(j.fx).toContainEqual({ kind: 'joinError', text: 'You are not in that room. Join it first.' });
    const nobody = err('no_such_user', { type: 'dm', to: 'ghost', text: 'hi' });
    expect(texts(conv(nobody.s, roomKey('general'))).at(-1)).toBe('notice:Nobody named ghost has ever connected here, so the message was not sent.');
  });

  it('bye (shutdown), pong, ack, ping: only a shutdown is worth a line', () => {
    const s = joined();
    expect(texts(conv(run([{ type: 'bye', reason: 'shutdown' }], s).s, roomKey('general'))).at(-1)).toBe('notice:The server is restarting; reconnecting…');
    for (const ev of [{ type: 'pong' }, { type: 'ack', re: 1 }, { type: 'ping' }, { type: 'bye', reason: 'client' }] as const) expect(run([ev], s).s).toBe(s);
  });
});

describe('reducer: local actions', () => {
  it('markRead moves the marker to the newest message and tells the server once', () => {
    const s = run([m(3, 'bob', 'new')], joined()).s;
    const r = markRead(s, roomKey('general'));
    expect(r.effects).toEqual([{ kind: 'request', req: { type: 'read', room: 'general', seq: 3 } }]);
    expect(unread(r.state, conv(r.state, roomKey('general')))).toBe(0);
    expect(markRead(r.state, roomKey('general')).effects).toEqual([]);
  });

  it('openDm, closeDm, restoreDms, loadPendingDms, activate, addNotice', () => {
    const s = joined();
    const o = openDm(s, 'carol', true);
    expect(o.state.active).toBe(dmKey('carol'));
    expect(o.effects).toContainEqual({ kind: 'request', req: { type: 'history', with: 'carol', limit: 50 } });
    expect(openDm(o.state, 'carol', true).effects).toEqual([]);
    const closed = closeDm(o.state, dmKey('carol'));
    expect(closed.conversations.has(dmKey('carol'))).toBe(false);
    expect(closed.active).toBe(roomKey('general'));
    const restored = restoreDms(s, ['dora']);
    expect(loadPendingDms(restored).effects).toEqual([{ kind: 'request', req: { type: 'history', with: 'dora', limit: 50 } }]);
    expect(activate(s, 'r:nowhere')).toBe(s);
    expect(texts(conv(addNotice(s, undefined, 'hello', 'info', TS), roomKey('general'))).at(-1)).toBe('notice:hello');
  });
});

describe('web text helpers', () => {
  it('links: only http(s), trailing punctuation left out, the rest text', () => {
    expect(linkify('see https://example.com/a?b=1. ok')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: '. ok' },
    ]);
    expect(linkify('javascript:alert(1) data:text/html,x <a href="javascript:x">')).toEqual([{ kind: 'text', text: 'javascript:alert(1) data:text/html,x <a href="javascript:x">' }]);
    expect(linkify('(https://en.wikipedia.org/wiki/Foo_(bar))')[1]).toEqual({ kind: 'link', text: 'https://en.wikipedia.org/wiki/Foo_(bar)', href: 'https://en.wikipedia.org/wiki/Foo_(bar)' });
  });

  it('highlight marks the whole words the server matched', () => {
    expect(highlight('Deploy on FRIDAY, deployed', ['deploy', 'friday'])).toEqual([
      { text: 'Deploy', match: true },
      { text: ' on ', match: false },
      { text: 'FRIDAY', match: true },
      { text: ', deployed', match: false },
    ]);
  });

  it('one clock: 24-hour HH:MM as in the console when asked', () => {
    const d = new Date(2026, 0, 2, 7, 5);
    expect(clockTime(d.toISOString(), true)).toBe('07:05');
    expect(clockTime('nonsense', true)).toBe('--:--');
  });

  it('typing line', () => {
    expect(typingLine(['alice'])).toBe('alice is typing…');
    expect(typingLine(['alice', 'bob'])).toBe('alice and bob are typing…');
    expect(typingLine(['a', 'b', 'c', 'd'])).toBe('Several people are typing…');
  });
});

describe('one command vocabulary', () => {
  it('every console command and alias is a command in the browser too', () => {
    const web = new Set(commandNames());
    for (const name of [...Object.keys(CONSOLE_COMMANDS), ...Object.keys(CONSOLE_ALIASES)]) {
      expect(web.has(name), `/${name}`).toBe(true);
      expect(parseInput(`/${name}`)).not.toEqual({ kind: 'invalid', message: expect.stringContaining('Unknown command') });
    }
  });

  it('means the same: /users is the room, /users * everyone, /w and /part as in irssi', () => {
    expect(parseInput('/users')).toEqual({ kind: 'names', room: undefined });
    expect(parseInput('/users *')).toEqual({ kind: 'users' });
    expect(parseInput('/w #dev')).toEqual({ kind: 'names', room: 'dev' });
    expect(parseInput('/part')).toEqual({ kind: 'leave', room: undefined });
    expect(parseInput('/topic -delete')).toEqual({ kind: 'topic', text: '' });
    expect(parseInput('/history 5')).toEqual({ kind: 'history', count: 5 });
    expect(parseInput('/quit')).toEqual({ kind: 'quit' });
    expect(parseInput('/search deploy friday')).toEqual({ kind: 'search', query: 'deploy friday' });
    expect(parseInput('//not a command')).toEqual({ kind: 'say', text: '/not a command', action: false });
  });
});
