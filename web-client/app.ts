// Wires the page together: the connection feeds events through ClientCore (which owns ids, rejoin
// with `since`, DM catch-up and duplicate dropping, and the login token, shared with the console
// client), ChatState keeps what is shown, and render.ts draws it. Only this file touches the page's
// fixed elements.
//
// Who you are: a guest (a name, nothing else), or an account (sign in with its password, or register
// a new name: hello as a guest, then `register`). An account's token, never its password, is kept in
// localStorage and logs in again after a reload or a reconnect; a refused one brings back the form.
import { ClientCore, type HelloRefused, type Outbound, type Pending } from '../protocol/client-core.js';
import type { ChatMessage, ErrorEvent, HistoryEvent, HistoryRequest, RequestId, ServerEvent, UsersEvent } from '../protocol/messages.js';
import { isValidName, nameKey } from '../protocol/validate.js';
import { HELP, parseInput } from './commands.js';
import { Connection, type Status } from './connection.js';
import { announce, clockTime, conversationLabel, conversationRow, entryNode, memberRow, messageNode } from './render.js';
import { ChatState, dmKey, roomKey, type Conversation, type Notice } from './state.js';

const NAME_KEY = 'parley.name';
/** `{name, token}`: an account's login token. Never the password. */
const ACCOUNT_KEY = 'parley.account';
/** sessionStorage: who just signed out (and whether the server revoked it), for the form after the reload. */
const SIGNED_OUT_KEY = 'parley.signedOut';
/** How long a sign-out waits for the server to confirm the revocation before forgetting the token anyway. */
const SIGN_OUT_WAIT_MS = 5_000;
const ROOMS_KEY = 'parley.rooms';
/** People this browser has direct conversations with: their history is fetched again after a reload. */
const DMS_KEY = 'parley.dms';
const DEFAULT_ROOM = 'general';
const PAGE = 50;
/** Pixels from the bottom that still count as "reading the newest messages". */
const STICKY_PX = 48;
/** Pixels from the top at which the next older page is fetched. */
const OLDER_PX = 80;
const KEEPALIVE_MS = 25_000;
/** `/users` shows one page: the server may know far more users than a notice can list. */
const USERS_PAGE = 100;

function $<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node as T;
}

const ui = {
  app: $<HTMLDivElement>('app'),
  menu: $<HTMLButtonElement>('menu-toggle'),
  sidebar: $<HTMLElement>('sidebar'),
  title: $<HTMLHeadingElement>('conv-title'),
  status: $<HTMLDivElement>('status'),
  statusText: $<HTMLSpanElement>('status-text'),
  countdown: $<HTMLSpanElement>('status-countdown'),
  retry: $<HTMLButtonElement>('retry'),
  whoami: $<HTMLButtonElement>('whoami'),
  rooms: $<HTMLUListElement>('rooms'),
  joinForm: $<HTMLFormElement>('join-form'),
  joinInput: $<HTMLInputElement>('join-input'),
  joinError: $<HTMLParagraphElement>('join-error'),
  dms: $<HTMLUListElement>('dms'),
  dmsEmpty: $<HTMLParagraphElement>('dms-empty'),
  members: $<HTMLUListElement>('members'),
  scroller: $<HTMLDivElement>('scroller'),
  older: $<HTMLParagraphElement>('older'),
  log: $<HTMLOListElement>('log'),
  jump: $<HTMLButtonElement>('jump'),
  live: $<HTMLDivElement>('live'),
  composer: $<HTMLFormElement>('composer'),
  inputLabel: $<HTMLLabelElement>('input-label'),
  input: $<HTMLTextAreaElement>('input'),
  nameScreen: $<HTMLDivElement>('name-screen'),
  nameForm: $<HTMLFormElement>('name-form'),
  nameInput: $<HTMLInputElement>('name-input'),
  nameError: $<HTMLParagraphElement>('name-error'),
  nameLabel: $<HTMLLabelElement>('name-label'),
  nameHint: $<HTMLParagraphElement>('name-hint'),
  modeGuest: $<HTMLButtonElement>('mode-guest'),
  modeSignin: $<HTMLButtonElement>('mode-signin'),
  modeRegister: $<HTMLButtonElement>('mode-register'),
  passwordField: $<HTMLDivElement>('password-field'),
  passwordInput: $<HTMLInputElement>('password-input'),
  password2Field: $<HTMLDivElement>('password2-field'),
  password2Input: $<HTMLInputElement>('password2-input'),
  passwordHint: $<HTMLParagraphElement>('password-hint'),
  nameSubmit: $<HTMLButtonElement>('name-submit'),
  accountBox: $<HTMLElement>('account-box'),
  accountName: $<HTMLSpanElement>('account-name'),
  accountKind: $<HTMLSpanElement>('account-kind'),
  signout: $<HTMLButtonElement>('signout'),
  accountSwitch: $<HTMLButtonElement>('account-switch'),
};

// localStorage can throw (Safari private mode, disabled storage): the page must still work.
function load(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
function save(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* remembered for this visit only */
  }
}
function forget(key: string): void {
  try {
    localStorage.removeItem(key);
  } catch {
    /* nothing was stored */
  }
}

/** The saved account login, if it is one (storage is user-editable). */
function savedAccount(): { name: string; token: string } | undefined {
  try {
    const v: unknown = JSON.parse(load(ACCOUNT_KEY) ?? 'null');
    if (v && typeof v === 'object' && 'name' in v && 'token' in v && typeof v.name === 'string' && isValidName(v.name) && typeof v.token === 'string' && v.token !== '') {
      return { name: v.name, token: v.token };
    }
  } catch {
    /* not one */
  }
  return undefined;
}

let state = new ChatState();
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const conn = new Connection(wsUrl, { open: onOpen, event: onEvent, closed: onClosed, status: showStatus });
let core = makeCore();

function makeCore(): ClientCore {
  return new ClientCore({
    send: (req) => conn.send(req),
    historyOnJoin: PAGE,
    catchUpPage: PAGE,
    // DMs a reconnect's catch-up found (or held back while it ran) arrive as if live, in seq order.
    show: (msgs) => msgs.forEach(onMessage),
    helloRefused: onHelloRefused,
    tokenChanged(name, token) {
      if (token !== undefined) save(ACCOUNT_KEY, JSON.stringify({ name, token }));
      else if (savedAccount() === undefined || nameKey(savedAccount()!.name) === nameKey(name)) forget(ACCOUNT_KEY);
    },
  });
}

type Mode = 'guest' | 'signin' | 'register';
/** The join card's mode. */
let mode: Mode = 'guest';
/**
 * Who to say hello as on the next open connection: from storage at start, or from the form. A
 * password stays here only until the server has answered (or, to register, until `register` is sent).
 * Undefined while the person has to say (the form is waiting): no hello is sent then.
 */
let plan: { name: string; mode: Mode; password?: string } | undefined;
/** The chat has started for this identity (rooms joined): a registration defers it until the account exists. */
let chatStarted = false;
let registerId: RequestId | undefined;
let signOutId: RequestId | undefined;

let wantedName: string | undefined;
let welcomedOnce = false;
let started = false;
let helloRetries = 0;
let stickToBottom = true;
let awaitingPong = false;
/** Replies the user asked for with a command: printed in the conversation, unlike the page's own queries. */
const printReplies = new Set<RequestId>();
/** A room the user asked to join: shown as soon as the server confirms. */
let openOnJoin: string | undefined;

/** A saved list of names, or `fallback` when there is none or it is not one (storage is user-editable). */
function savedNames(key: string, fallback: string[]): string[] {
  const raw = load(key);
  if (raw === null) return fallback;
  try {
    const list: unknown = JSON.parse(raw);
    if (Array.isArray(list)) return list.filter((r): r is string => typeof r === 'string' && isValidName(r)).slice(0, 100);
  } catch {
    /* fall through to the default */
  }
  return fallback;
}
function savedRooms(): string[] {
  return savedNames(ROOMS_KEY, [DEFAULT_ROOM]);
}
function rememberRooms(): void {
  save(ROOMS_KEY, JSON.stringify([...core.rooms.values()]));
}
function rememberDms(): void {
  save(DMS_KEY, JSON.stringify([...state.conversations.values()].filter((c) => c.kind === 'dm').map((c) => c.name)));
}

/** The conversation a history request is about. */
function historyConversation(req: HistoryRequest): Conversation {
  return req.with !== undefined ? state.conversation('dm', req.with) : state.conversation('room', req.room!);
}

/** A direct conversation shows its stored history, fetched once per page load (and after a lost reply). */
function loadDm(c: Conversation): void {
  if (c.kind !== 'dm' || c.loaded || c.loadingOlder) return;
  c.loadingOlder = true;
  core.request({ type: 'history', with: c.name, limit: PAGE });
}

// ---- connection lifecycle ----

function onOpen(): void {
  awaitingPong = false;
  sayHello();
}

/** Says hello when the plan and the connection allow: with the password to sign in, else the saved token or as a guest. */
function sayHello(): void {
  if (plan === undefined || !conn.isOpen || core.isReady || core.helloPending) return;
  wantedName = plan.name;
  core.connected(plan.name, plan.mode === 'signin' ? plan.password : undefined);
}

function onClosed(): void {
  awaitingPong = false;
  if (registerId !== undefined) {
    // Unanswered: the account may or may not exist now. Say so rather than guess.
    registerId = undefined;
    const name = state.me ?? wantedName ?? '';
    if (!chatStarted) {
      plan = undefined;
      showNameScreen(`The connection dropped while creating the account ${name}. If it was created, sign in; otherwise register again.`, 'signin', name);
    } else notice(activeConversation(), 'The connection dropped before the server confirmed the registration. If it went through, the name now needs its password.', 'error');
  }
  // Sent but unanswered says and DMs may or may not have been stored; saying them again could
  // duplicate them, so the reader is told instead (the protocol's resume rule).
  for (const p of core.disconnected()) reportLost(p);
}

function reportLost(p: Pending): void {
  const req = p.req;
  if (req.type === 'say' || req.type === 'dm') {
    const c = req.type === 'say' ? state.conversation('room', req.room) : state.conversation('dm', req.to);
    const snippet = req.text.length > 80 ? `${req.text.slice(0, 80)}…` : req.text;
    notice(c, `The connection dropped before the server confirmed “${snippet}”. It may not have been delivered.`, 'error');
  }
  if (req.type === 'history') historyConversation(req).loadingOlder = false;
}

let countdownTimer: ReturnType<typeof setInterval> | undefined;
function showStatus(s: Status): void {
  if (countdownTimer !== undefined) clearInterval(countdownTimer);
  countdownTimer = undefined;
  ui.countdown.textContent = '';
  ui.retry.hidden = true;
  ui.status.className = `status ${s.state}`;
  switch (s.state) {
    case 'connecting':
      ui.statusText.textContent = s.attempt > 1 ? 'Reconnecting…' : 'Connecting…';
      break;
    case 'open':
      ui.statusText.textContent = plan ? 'Signing in…' : 'Not signed in';
      break;
    case 'waiting': {
      ui.statusText.textContent = welcomedOnce ? 'Connection lost. Reconnecting' : 'Cannot reach the server. Retrying';
      ui.retry.hidden = false;
      // The seconds tick in an aria-hidden span so screen readers hear the loss once, not every second.
      const tick = (): void => {
        ui.countdown.textContent = ` in ${Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000))} s`;
      };
      tick();
      countdownTimer = setInterval(tick, 500);
      break;
    }
    case 'stopped':
      ui.statusText.textContent = `Disconnected: ${s.reason}`;
      break;
  }
}

function showConnected(): void {
  ui.status.className = 'status online';
  ui.statusText.textContent = `Connected as ${state.me ?? ''}`;
}

setInterval(() => {
  if (!core.isReady) return;
  // Two silent intervals in a row means the socket is dead without the browser noticing: drop it so
  // the reconnect path runs.
  if (awaitingPong) {
    awaitingPong = false;
    conn.drop();
    return;
  }
  awaitingPong = true;
  core.request({ type: 'ping' });
}, KEEPALIVE_MS);

// ---- events ----

function onEvent(ev: ServerEvent): void {
  const re = 're' in ev ? ev.re : undefined;
  const pending = ev.type === 'ack' ? core.settle(ev.re) : ev.type === 'error' || ev.type === 'users' || ev.type === 'rooms' || ev.type === 'time' || ev.type === 'pong' || ev.type === 'members' || ev.type === 'history' ? core.settle(re) : undefined;
  if (!core.accept(ev)) return; // a message seen before the reconnect: shown once already
  switch (ev.type) {
    case 'welcome':
      if (plan?.mode === 'register' && plan.password !== undefined && !ev.account && nameKey(plan.name) === nameKey(ev.name)) {
        // The name is free and ours as a guest: make it an account before anyone sees it join as a guest.
        state.me = ev.name;
        registerId = core.request({ type: 'register', password: plan.password });
        plan = { name: ev.name, mode: 'guest' };
        return;
      }
      return onWelcome(ev.name);
    case 'members':
      return onMembers(ev.room, ev.users);
    case 'history':
      return onHistory(ev, pending);
    case 'message':
      return onMessage(ev);
    case 'joined': {
      const c = state.conversation('room', ev.room);
      const isMe = state.me !== undefined && nameKey(ev.name) === nameKey(state.me);
      const known = c.members.has(nameKey(ev.name));
      c.members.set(nameKey(ev.name), ev.name);
      state.online.set(nameKey(ev.name), true);
      // After a reconnect the server announces our own rejoin again; that is not news to the reader.
      if (!(isMe && c.entries.some((e) => e.kind === 'notice' && e.tone === 'presence')) && !(known && !isMe)) {
        notice(c, isMe ? `You joined #${c.name}` : `${ev.name} joined`, 'presence', ev.ts);
      }
      renderSidebar();
      return;
    }
    case 'left':
      return onLeft(ev.room, ev.name, ev.ts, ev.reason === 'disconnect');
    case 'users':
      return onUsers(ev, re);
    case 'rooms':
      if (re !== undefined && printReplies.delete(re)) {
        const list = ev.rooms.map((r) => `#${r.name} (${r.members})`).join(', ');
        notice(activeConversation(), ev.rooms.length === 0 ? 'No rooms yet.' : `Rooms: ${list}`, 'info');
      }
      return;
    case 'time':
      if (re !== undefined && printReplies.delete(re)) notice(activeConversation(), `Server time: ${new Date(ev.time).toLocaleString()} (${ev.time})`, 'info');
      return;
    case 'pong':
      awaitingPong = false;
      return;
    case 'ack':
      if (re !== undefined && re === registerId) {
        registerId = undefined;
        // The core has the token (and has stored it): reconnects log in with it from now on.
        plan = { name: state.me!, mode: 'signin' };
        if (chatStarted) {
          // A guest registering the name they are chatting under, from the account box.
          hideNameScreen();
          notice(activeConversation(), `${state.me} is now a registered account: only its password, or a device signed in to it, can use the name.`, 'info');
          renderAccount();
          renderSidebar();
        } else onWelcome(state.me!);
      }
      if (re !== undefined && re === signOutId) finishSignOut(true);
      return;
    case 'bye':
      if (ev.reason === 'shutdown') notice(activeConversation(), 'The server is restarting; reconnecting…', 'info');
      return;
    case 'error':
      return onError(ev, pending);
    default:
      return;
  }
}

function onWelcome(name: string): void {
  helloRetries = 0;
  state.me = name;
  wantedName = name;
  // The password has done its work: a reconnect logs in with the token the core now holds.
  plan = { name, mode: core.account ? 'signin' : 'guest' };
  chatStarted = true;
  save(NAME_KEY, name);
  ui.nameScreen.hidden = true;
  ui.app.inert = false;
  clearPasswords();
  renderAccount();
  showConnected();
  if (!welcomedOnce) {
    welcomedOnce = true;
    // ClientCore rejoins its rooms on later welcomes; the first one starts from what was saved.
    for (const room of savedRooms()) core.request({ type: 'join', room, history: PAGE });
    for (const name of savedNames(DMS_KEY, [])) state.conversation('dm', name);
    if (savedRooms().length === 0) renderAll();
    ui.input.focus();
  } else {
    const c = state.active ? state.conversations.get(state.active) : undefined;
    if (c) notice(c, 'Reconnected.', 'info');
  }
  // Direct conversations whose history has not arrived yet (restored, or its reply lost in a drop);
  // those already shown are caught up by the core.
  for (const c of state.conversations.values()) loadDm(c);
  renderSidebar();
}

function onMembers(room: string, users: string[]): void {
  const c = state.conversation('room', room);
  c.name = room;
  c.joined = true;
  c.members = new Map(users.map((u) => [nameKey(u), u]));
  for (const u of users) state.online.set(nameKey(u), true);
  rememberRooms();
  if (state.active === undefined || openOnJoin === c.key) {
    openOnJoin = undefined;
    activate(c.key);
  }
  // Members are who is in the room now; `who` adds whether each is online.
  core.request({ type: 'who', room });
  renderSidebar();
}

function onHistory(ev: HistoryEvent, pending: Pending | undefined): void {
  const c = ev.with !== undefined ? state.conversation('dm', ev.with) : state.conversation('room', ev.room!);
  if (pending?.req.type === 'history') {
    // An older page asked for by scrolling up (or a direct conversation's first page): below the
    // resume mark, so it bypasses the core's filter; seqs already shown are skipped.
    c.loadingOlder = false;
    if (c.kind === 'dm') {
      c.name = ev.with ?? c.name;
      c.loaded = true;
      // Shown from here on, so caught up after every reconnect.
      core.followDm(c.name, ev.messages);
    }
    c.more = ev.more ?? false;
    const added = state.prepend(c, ev.messages);
    if (state.active === c.key) {
      const before = ui.scroller.scrollHeight - ui.scroller.scrollTop;
      const frag = document.createDocumentFragment();
      for (const m of added) frag.append(messageNode(m, state.me, core.sentByGuest(m)));
      ui.log.prepend(frag);
      // Keep what the reader was looking at in place rather than jumping to the new top.
      ui.scroller.scrollTop = ui.scroller.scrollHeight - before;
      renderOlder(c);
      maybeLoadOlder();
    }
    return;
  }
  const firstLoad = !c.loaded;
  c.loaded = true;
  if (firstLoad) c.more = ev.more ?? false;
  const added = state.append(c, core.freshHistory(ev.messages));
  if (added.length === 0) return;
  if (state.active === c.key) {
    appendNodes(c, added, !firstLoad);
  } else if (!firstLoad) {
    c.unread += added.filter((m) => !isMine(m)).length;
    renderSidebar();
  }
}

function onMessage(msg: ChatMessage): void {
  const c = state.conversationFor(msg);
  // A message racing our own leave: the room is gone from the sidebar, so it must not count as unread.
  if (c.kind === 'room' && !c.joined) {
    state.conversations.delete(c.key);
    return;
  }
  if (c.kind === 'dm' && msg.to !== undefined && c.name !== msg.to && nameKey(c.name) === nameKey(msg.to)) c.name = msg.to;
  if (c.kind === 'dm' && !c.loaded) {
    // New to this page (or its history is still on the way): fetch what came before, keep it listed.
    loadDm(c);
    rememberDms();
  }
  const added = state.append(c, [msg]);
  if (added.length === 0) return;
  if (state.active === c.key && !document.hidden) {
    appendNodes(c, added, true);
  } else {
    if (state.active === c.key) appendNodes(c, added, true);
    if (!isMine(msg)) c.unread++;
    renderSidebar();
  }
}

function onLeft(room: string, name: string, ts: string, disconnect: boolean): void {
  const c = state.conversation('room', room);
  const isMe = state.me !== undefined && nameKey(name) === nameKey(state.me);
  if (isMe && !disconnect) {
    c.joined = false;
    state.conversations.delete(c.key);
    rememberRooms();
    if (state.active === c.key) {
      const next = [...state.conversations.values()].find((x) => x.kind === 'room') ?? [...state.conversations.values()][0];
      state.active = undefined;
      if (next) activate(next.key);
      else renderAll();
    } else {
      renderSidebar();
    }
    return;
  }
  c.members.delete(nameKey(name));
  if (disconnect) state.online.set(nameKey(name), false);
  notice(c, disconnect ? `${name} disconnected` : `${name} left`, 'presence', ts);
  renderSidebar();
}

function onUsers(ev: UsersEvent, re: RequestId | undefined): void {
  if (ev.room !== undefined) {
    const c = state.conversation('room', ev.room);
    if (!c.joined) {
      state.conversations.delete(c.key);
      return;
    }
    c.members = new Map(ev.users.map((u) => [nameKey(u.name), u.name]));
  }
  for (const u of ev.users) state.online.set(nameKey(u.name), u.online);
  if (re !== undefined && printReplies.delete(re)) {
    const on = ev.users.filter((u) => u.online).map((u) => u.name);
    const off = ev.users.filter((u) => !u.online).map((u) => (u.lastSeen ? `${u.name} (last seen ${clockTime(u.lastSeen)})` : u.name));
    const rest = ev.more === true ? ` There are more users than the first ${ev.users.length} listed here.` : '';
    notice(activeConversation(), `Online: ${on.join(', ') || 'nobody'}${off.length ? `. Offline: ${off.join(', ')}` : ''}.${rest}`, 'info');
  }
  renderSidebar();
}

const FRIENDLY: Partial<Record<string, string>> = {
  bad_name: 'Names are 1–32 letters, digits, _ - or . (no spaces).',
  name_taken: 'Someone online is already using that name. Pick another one.',
  bad_room: 'Room names are 1–32 letters, digits, _ - or . (no spaces).',
  not_member: 'You are not in that room. Join it first.',
  bad_text: 'Messages must be 1–4000 characters.',
  too_many_rooms: 'You are in too many rooms (100 at most). Leave one first.',
  unavailable: 'The server could not store your message, so nobody got it. Please try again.',
};

/** The server would not let us in as planned: say why on the join card, in the mode that fixes it. */
function onHelloRefused(why: HelloRefused): void {
  // After a network blip the server may still count a guest's old connection as online for a moment;
  // that is not the reader's fault, so try the same name again before asking for another.
  if (why.kind === 'name' && why.error.code === 'name_taken' && welcomedOnce && state.me !== undefined && nameKey(why.name) === nameKey(state.me) && helloRetries < 5) {
    helloRetries++;
    setTimeout(sayHello, 1000 * helloRetries);
    return;
  }
  const was = plan;
  // From here the person decides: no hello until the form is sent again, and no connection meanwhile
  // (the server would close one that has not said hello within 10 s, and the page would show that as
  // trouble reaching the server).
  plan = undefined;
  if (why.error.code !== 'protocol_unsupported') {
    conn.idle();
    ui.status.className = 'status';
    ui.statusText.textContent = 'Not signed in';
  }
  switch (why.kind) {
    case 'password_needed':
      return showNameScreen(
        was?.mode === 'register' ? `${why.name} is already registered. Sign in with its password, or choose another name.` : `${why.name} is a registered account. Enter its password to sign in.`,
        'signin',
        why.name,
      );
    case 'token_refused':
      return showNameScreen(`Your sign-in for ${why.name} has expired or was revoked. Enter the password to sign in again.`, 'signin', why.name);
    case 'wrong_password':
      return showNameScreen('Wrong name or password.', 'signin', why.name);
    case 'rate_limited':
      return showNameScreen(`Too many failed sign-ins. Try again in ${Math.ceil(why.retryAfterMs / 1000)} s.`, was?.mode ?? mode, why.name);
    case 'name':
      return showNameScreen(why.error.code === 'name_taken' ? `${why.error.message}.` : (FRIENDLY[why.error.code] ?? why.error.message), was?.mode ?? mode, why.name);
    default:
      if (why.error.code === 'protocol_unsupported') {
        conn.stop('this server speaks another protocol version');
        return;
      }
      return showNameScreen(FRIENDLY[why.error.code] ?? why.error.message, was?.mode ?? mode, why.name);
  }
}

function onError(ev: ErrorEvent, pending: Pending | undefined): void {
  if (ev.re !== undefined && ev.re === registerId) {
    registerId = undefined;
    // Still a guest; the form says what to change (a password outside the rules states the rule).
    const msg = ev.code === 'bad_password' ? ev.message : ev.code === 'name_taken' ? `${ev.message}. Choose another name.` : (FRIENDLY[ev.code] ?? ev.message);
    if (ui.nameScreen.hidden) notice(activeConversation(), msg, 'error');
    else showNameScreen(msg, 'register', state.me);
    return;
  }
  if (ev.re !== undefined && ev.re === signOutId) {
    finishSignOut(false);
    return;
  }
  if (ev.code === 'protocol_unsupported') {
    conn.stop('this server speaks another protocol version');
    return;
  }
  let where = activeConversation();
  const req: Outbound | undefined = pending?.req;
  if (req?.type === 'say') where = state.conversation('room', req.room);
  if (req?.type === 'dm') where = state.conversation('dm', req.to);
  if (req?.type === 'history') {
    const h = historyConversation(req);
    h.loadingOlder = false;
    // A saved conversation with someone this server does not know (its data was reset): nothing to show.
    if (req.with !== undefined && ev.code === 'no_such_user') {
      h.loaded = true;
      h.more = false;
      if (state.active === h.key) renderOlder(h);
      return;
    }
  }
  if (ev.code === 'no_such_user' && req?.type === 'dm') {
    notice(where, `Nobody named ${req.to} has ever connected here, so the message was not sent.`, 'error');
    return;
  }
  if (req?.type === 'join') ui.joinError.textContent = FRIENDLY[ev.code] ?? ev.message;
  notice(where, FRIENDLY[ev.code] ?? ev.message, 'error');
}

// ---- conversations and drawing ----

const guestMsg = (m: ChatMessage): boolean => core.sentByGuest(m);

function isMine(m: ChatMessage): boolean {
  return state.me !== undefined && nameKey(m.from) === nameKey(state.me);
}

/** The conversation notices go to; a placeholder when none is open yet so nothing is lost. */
function activeConversation(): Conversation {
  const c = state.active ? state.conversations.get(state.active) : undefined;
  return c ?? state.conversation('room', DEFAULT_ROOM);
}

function notice(c: Conversation, text: string, tone: Notice['tone'], ts = new Date().toISOString()): void {
  const n: Notice = { kind: 'notice', text, ts, tone };
  c.entries.push(n);
  if (state.active === c.key) {
    const atBottom = stickToBottom;
    ui.log.append(entryNode(n, state.me, guestMsg));
    if (atBottom || tone !== 'presence') scrollToBottom();
    if (tone === 'error') ui.live.textContent = text;
  }
}

function appendNodes(c: Conversation, msgs: ChatMessage[], live: boolean): void {
  const frag = document.createDocumentFragment();
  for (const m of msgs) frag.append(messageNode(m, state.me, core.sentByGuest(m)));
  ui.log.append(frag);
  const mine = msgs.some(isMine);
  // Reading older messages is not interrupted by new ones; one's own message always scrolls into view.
  if (stickToBottom || mine) scrollToBottom();
  else ui.jump.hidden = false;
  if (live) {
    const last = msgs[msgs.length - 1];
    if (last && !isMine(last)) {
      const line = document.createElement('p');
      line.textContent = announce(last, conversationLabel(c), core.sentByGuest(last));
      ui.live.append(line);
      // Old announcements are already spoken; keep the region small.
      while (ui.live.childElementCount > 5) ui.live.firstElementChild?.remove();
    }
  }
  maybeLoadOlder();
}

function scrollToBottom(): void {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  stickToBottom = true;
  ui.jump.hidden = true;
}

function activate(key: string): void {
  const c = state.conversations.get(key);
  if (!c) return;
  state.active = key;
  c.unread = 0;
  closeMenu();
  renderAll();
}

function renderAll(): void {
  const c = state.active ? state.conversations.get(state.active) : undefined;
  ui.title.textContent = c ? conversationLabel(c) : 'Parley';
  const label = c ? `Message ${conversationLabel(c)}` : 'Message';
  ui.inputLabel.textContent = label;
  ui.input.placeholder = `${label}  (/help for commands)`;
  const frag = document.createDocumentFragment();
  if (c) for (const e of c.entries) frag.append(entryNode(e, state.me, guestMsg));
  ui.log.replaceChildren(frag);
  ui.live.replaceChildren();
  if (c) renderOlder(c);
  scrollToBottom();
  renderSidebar();
  maybeLoadOlder();
}

function renderOlder(c: Conversation): void {
  ui.older.textContent = c.loadingOlder
    ? 'Loading older messages…'
    : c.more
      ? 'Scroll up for older messages'
      : c.kind === 'dm'
        ? `This is the beginning of your conversation with ${c.name}.`
        : `This is the beginning of #${c.name}.`;
}

function renderSidebar(): void {
  const act = { open: (c: Conversation) => activate(c.key), leave: closeConversation };
  const rooms = document.createDocumentFragment();
  const dms = document.createDocumentFragment();
  let anyDm = false;
  for (const c of state.conversations.values()) {
    if (c.kind === 'room' && !c.joined) continue;
    const row = conversationRow(c, c.key === state.active, state.online.get(nameKey(c.name)), act);
    if (c.kind === 'room') rooms.append(row);
    else {
      dms.append(row);
      anyDm = true;
    }
  }
  ui.rooms.replaceChildren(rooms);
  ui.dms.replaceChildren(dms);
  ui.dmsEmpty.hidden = anyDm;
  const c = state.active ? state.conversations.get(state.active) : undefined;
  const members = document.createDocumentFragment();
  const names = c?.kind === 'room' ? [...c.members.values()] : c ? [c.name, ...(state.me ? [state.me] : [])] : [];
  const meKey = state.me ? nameKey(state.me) : '';
  names.sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
  for (const n of new Set(names)) members.append(memberRow(n, state.online.get(nameKey(n)) ?? false, nameKey(n) === meKey, core.isGuest(n), openDm));
  ui.members.replaceChildren(members);
  const total = state.totalUnread();
  document.title = total > 0 ? `(${total}) Parley` : 'Parley';
  ui.menu.textContent = total > 0 ? `Rooms (${total})` : 'Rooms';
}

function openDm(name: string): void {
  const c = state.conversation('dm', name);
  loadDm(c);
  rememberDms();
  activate(c.key);
  ui.input.focus();
}

function closeConversation(c: Conversation): void {
  if (c.kind === 'room') {
    core.request({ type: 'leave', room: c.name });
    return;
  }
  state.conversations.delete(c.key);
  core.unfollowDm(c.name);
  rememberDms();
  if (state.active === c.key) {
    state.active = undefined;
    const next = [...state.conversations.values()][0];
    if (next) activate(next.key);
    else renderAll();
  } else renderSidebar();
}

function maybeLoadOlder(): void {
  const c = state.active ? state.conversations.get(state.active) : undefined;
  if (!c || !c.more || c.loadingOlder || !core.isReady) return;
  // Also fetch when the first page does not fill the screen: otherwise there is nothing to scroll.
  const nearTop = ui.scroller.scrollTop < OLDER_PX || ui.scroller.scrollHeight <= ui.scroller.clientHeight;
  if (!nearTop) return;
  const before = state.oldestSeq(c);
  c.loadingOlder = true;
  renderOlder(c);
  const about = c.kind === 'room' ? { room: c.name } : { with: c.name };
  core.request(before === undefined ? { type: 'history', ...about, limit: PAGE } : { type: 'history', ...about, before, limit: PAGE });
}

// ---- input ----

function submitComposer(): void {
  const raw = ui.input.value;
  const cmd = parseInput(raw);
  if (!cmd) return;
  const c = state.active ? state.conversations.get(state.active) : undefined;
  ui.input.value = '';
  resizeInput();
  const offline = !core.isReady;
  switch (cmd.kind) {
    case 'say':
      if (!c) {
        notice(activeConversation(), 'Join a room first: /join general', 'error');
        ui.input.value = raw;
        return;
      }
      if (c.kind === 'room') core.request({ type: 'say', room: c.name, text: cmd.text, ...(cmd.action ? { action: true } : {}) });
      else core.request({ type: 'dm', to: c.name, text: cmd.text, ...(cmd.action ? { action: true } : {}) });
      break;
    case 'msg': {
      const dm = state.conversation('dm', cmd.to);
      loadDm(dm);
      rememberDms();
      core.request({ type: 'dm', to: cmd.to, text: cmd.text });
      activate(dm.key);
      break;
    }
    case 'join':
      openOnJoin = roomKey(cmd.room);
      if (state.conversations.get(roomKey(cmd.room))?.joined) activate(roomKey(cmd.room));
      else core.request({ type: 'join', room: cmd.room, history: PAGE });
      break;
    case 'leave': {
      const room = cmd.room ?? (c?.kind === 'room' ? c.name : undefined);
      if (room === undefined) notice(activeConversation(), 'Usage: /leave ROOM', 'error');
      else core.request({ type: 'leave', room });
      break;
    }
    case 'users':
      printReplies.add(core.request({ type: 'who', limit: USERS_PAGE }));
      break;
    case 'rooms':
      printReplies.add(core.request({ type: 'rooms' }));
      break;
    case 'time':
      printReplies.add(core.request({ type: 'time' }));
      break;
    case 'help':
      for (const line of HELP) notice(activeConversation(), line, 'info');
      return;
    case 'logout':
      if (core.account !== true) notice(activeConversation(), 'You are a guest: there is no sign-in to end. Closing the page leaves.', 'error');
      else signOut(cmd.all);
      return;
    case 'invalid':
      ui.input.value = raw;
      resizeInput();
      notice(activeConversation(), cmd.message, 'error');
      return;
  }
  if (offline) notice(activeConversation(), 'Not connected right now: this will be sent as soon as the connection is back.', 'info');
}

function resizeInput(): void {
  // Grow with the text up to a few lines, then scroll inside; `rows` avoids inline styles (CSP).
  ui.input.rows = Math.min(6, Math.max(1, ui.input.value.split('\n').length));
}

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  submitComposer();
});
ui.input.addEventListener('keydown', (e) => {
  // isComposing: Enter that confirms an IME candidate (Japanese, Chinese…) must not send.
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submitComposer();
  }
});
ui.input.addEventListener('input', resizeInput);

ui.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = ui.joinInput.value.trim().replace(/^#/, '');
  if (!isValidName(room)) {
    ui.joinError.textContent = FRIENDLY.bad_room ?? '';
    return;
  }
  ui.joinError.textContent = '';
  ui.joinInput.value = '';
  openOnJoin = roomKey(room);
  if (state.conversations.get(roomKey(room))?.joined) activate(roomKey(room));
  else core.request({ type: 'join', room, history: PAGE });
});

ui.scroller.addEventListener('scroll', () => {
  const s = ui.scroller;
  stickToBottom = s.scrollHeight - s.scrollTop - s.clientHeight < STICKY_PX;
  if (stickToBottom) ui.jump.hidden = true;
  maybeLoadOlder();
});
ui.jump.addEventListener('click', () => {
  scrollToBottom();
  ui.input.focus();
});
ui.retry.addEventListener('click', () => conn.retryNow());
ui.menu.addEventListener('click', () => {
  const open = !ui.app.classList.contains('menu-open');
  ui.app.classList.toggle('menu-open', open);
  ui.menu.setAttribute('aria-expanded', String(open));
});
function closeMenu(): void {
  ui.app.classList.remove('menu-open');
  ui.menu.setAttribute('aria-expanded', 'false');
}
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') closeMenu();
});
document.addEventListener('visibilitychange', () => {
  const c = state.active ? state.conversations.get(state.active) : undefined;
  if (!document.hidden && c && c.unread > 0) {
    c.unread = 0;
    renderSidebar();
  }
});

// ---- who you are: the join card, the account box, signing out ----

const MODE_TEXT: Record<Mode, { label: string; submit: string; hint: string; busy: string }> = {
  guest: { label: 'Choose a name', submit: 'Continue as guest', hint: '1–32 letters, digits, _ - or . — no password; anyone may use the name after you leave.', busy: 'Joining…' },
  signin: { label: 'Name', submit: 'Sign in', hint: 'The name of your account.', busy: 'Signing in…' },
  register: { label: 'Choose a name for your account', submit: 'Create account', hint: '1–32 letters, digits, _ - or . — only your password can use it from now on.', busy: 'Creating your account…' },
};

function setMode(m: Mode): void {
  mode = m;
  const buttons: [Mode, HTMLButtonElement][] = [['guest', ui.modeGuest], ['signin', ui.modeSignin], ['register', ui.modeRegister]];
  for (const [k, b] of buttons) b.setAttribute('aria-pressed', String(k === m));
  const t = MODE_TEXT[m];
  ui.nameLabel.textContent = t.label;
  ui.nameHint.textContent = t.hint;
  ui.nameSubmit.textContent = t.submit;
  // Password managers go by these: a guest's name is a nickname, an account's a username.
  ui.nameInput.setAttribute('autocomplete', m === 'guest' ? 'nickname' : 'username');
  ui.passwordField.hidden = m === 'guest';
  ui.password2Field.hidden = m !== 'register';
  ui.passwordInput.setAttribute('autocomplete', m === 'register' ? 'new-password' : 'current-password');
  ui.passwordHint.hidden = m !== 'register';
  ui.passwordHint.textContent = m === 'register' ? 'At least 8 characters. It is never stored on this device: a sign-in token is.' : '';
}

function clearPasswords(): void {
  ui.passwordInput.value = '';
  ui.password2Input.value = '';
}

/**
 * Shows the join card, with `error` announced (assertive live region), in mode `m` (default: as it
 * is) and with `name` filled in. The field to fix gets the focus.
 */
function showNameScreen(error: string, m: Mode = mode, name?: string): void {
  setMode(m);
  ui.nameScreen.hidden = false;
  // inert keeps Tab inside the card: the chat behind it cannot be used yet.
  ui.app.inert = true;
  ui.nameError.textContent = error;
  if (name !== undefined) ui.nameInput.value = name;
  else if (!ui.nameInput.value && wantedName) ui.nameInput.value = wantedName;
  const nameProblem = error !== '' && (m === 'guest' || ui.nameInput.value === '');
  ui.nameInput.setAttribute('aria-invalid', String(nameProblem));
  ui.passwordInput.setAttribute('aria-invalid', String(error !== '' && !nameProblem && m !== 'guest'));
  if (m !== 'guest') ui.passwordInput.value = '';
  if (m !== 'guest' && ui.nameInput.value !== '' && !nameProblem) {
    ui.passwordInput.focus();
  } else {
    ui.nameInput.focus();
    ui.nameInput.select();
  }
}

for (const [m, b] of [['guest', ui.modeGuest], ['signin', ui.modeSignin], ['register', ui.modeRegister]] as const) {
  b.addEventListener('click', () => {
    setMode(m);
    ui.nameError.textContent = '';
    ui.nameInput.setAttribute('aria-invalid', 'false');
    ui.passwordInput.setAttribute('aria-invalid', 'false');
    (m !== 'guest' && ui.nameInput.value !== '' ? ui.passwordInput : ui.nameInput).focus();
  });
}

ui.nameForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.nameInput.value.trim();
  if (!isValidName(name)) {
    showNameScreen(FRIENDLY.bad_name ?? '');
    return;
  }
  const password = ui.passwordInput.value;
  if (mode !== 'guest' && password === '') {
    ui.nameError.textContent = 'Enter the password.';
    ui.passwordInput.setAttribute('aria-invalid', 'true');
    ui.passwordInput.focus();
    return;
  }
  if (mode === 'register' && password !== ui.password2Input.value) {
    ui.nameError.textContent = 'The two passwords are not the same.';
    ui.password2Input.value = '';
    ui.password2Input.focus();
    return;
  }
  ui.nameError.textContent = MODE_TEXT[mode].busy;
  const same = core.isReady && state.me !== undefined && nameKey(name) === nameKey(state.me);
  if (same && mode === 'guest' && core.account === false) {
    // The session already is that guest (a registration may have been given up on): start or go back to chatting.
    if (chatStarted) hideNameScreen();
    else onWelcome(state.me!);
    return;
  }
  if (same && mode === 'register' && core.account === false) {
    registerId = core.request({ type: 'register', password });
    clearPasswords();
    return;
  }
  if (same && core.account === true) {
    hideNameScreen();
    return;
  }
  const next = { name, mode, ...(mode === 'guest' ? {} : { password }) };
  clearPasswords();
  if (core.isReady) return switchIdentity(next);
  plan = next;
  wantedName = name;
  if (!started || !conn.running) {
    started = true;
    conn.start();
  } else if (conn.isOpen) sayHello();
  else conn.retryNow();
});

/**
 * Someone chatting becomes someone else (another name, or signs in, or registers another name): the
 * connection, the conversations and every seq start clean, as on a fresh page; the rooms are joined
 * again. The other identity's direct conversations are not listed any more.
 */
function switchIdentity(next: { name: string; mode: Mode; password?: string }): void {
  conn.stop('switching');
  forget(DMS_KEY);
  state = new ChatState();
  core = makeCore();
  welcomedOnce = false;
  chatStarted = false;
  registerId = undefined;
  helloRetries = 0;
  printReplies.clear();
  openOnJoin = undefined;
  ui.app.classList.remove('menu-open');
  renderAll();
  renderAccount();
  plan = next;
  wantedName = next.name;
  conn.start();
}

function hideNameScreen(): void {
  ui.nameScreen.hidden = true;
  ui.app.inert = false;
  clearPasswords();
  ui.input.focus();
}
ui.nameScreen.addEventListener('keydown', (e) => {
  // Once chatting, the card is only a "change who I am" dialog and may be dismissed.
  if (e.key === 'Escape' && core.isReady && chatStarted) hideNameScreen();
});

ui.whoami.addEventListener('click', () => {
  ui.nameInput.value = state.me ?? '';
  showNameScreen('', 'guest');
});
ui.accountSwitch.addEventListener('click', () => {
  ui.nameInput.value = state.me ?? '';
  showNameScreen('', 'register');
});

/** The account box in the sidebar, and the top bar's name button (guests only: accounts sign out instead). */
function renderAccount(): void {
  const me = chatStarted ? state.me : undefined;
  ui.accountBox.hidden = me === undefined;
  ui.accountName.textContent = me ?? '';
  ui.accountKind.textContent = core.account ? 'account' : 'guest';
  ui.signout.hidden = core.account !== true;
  ui.accountSwitch.hidden = core.account !== false;
  ui.whoami.hidden = me === undefined || core.account === true;
  ui.whoami.textContent = me ?? '';
}

/** Revokes this session's token (or every one of the account's) and forgets it here; then a fresh page. */
function signOut(all: boolean): void {
  if (signOutId !== undefined) return;
  if (!core.isReady || core.account !== true) {
    finishSignOut(false);
    return;
  }
  ui.signout.disabled = true;
  signOutId = core.request(all ? { type: 'logout', all: true } : { type: 'logout' });
  // A server that does not answer must not keep anyone signed in on this device.
  setTimeout(() => finishSignOut(false), SIGN_OUT_WAIT_MS);
}

let signedOut = false;
function finishSignOut(revoked: boolean): void {
  if (signedOut) return;
  signedOut = true;
  const name = state.me ?? wantedName ?? '';
  for (const key of [ACCOUNT_KEY, NAME_KEY, DMS_KEY, ROOMS_KEY]) forget(key);
  try {
    sessionStorage.setItem(SIGNED_OUT_KEY, JSON.stringify({ name, revoked }));
  } catch {
    /* the next page just shows the card */
  }
  conn.stop('signed out');
  // A fresh page: nothing of the account stays in memory or on screen.
  location.reload();
}

ui.signout.addEventListener('click', () => signOut(false));

// ---- start ----

function takeSignedOut(): { name: string; revoked: boolean } | undefined {
  try {
    const raw = sessionStorage.getItem(SIGNED_OUT_KEY);
    sessionStorage.removeItem(SIGNED_OUT_KEY);
    const v: unknown = JSON.parse(raw ?? 'null');
    if (v && typeof v === 'object' && 'name' in v && typeof v.name === 'string') return { name: v.name, revoked: 'revoked' in v && v.revoked === true };
  } catch {
    /* none */
  }
  return undefined;
}

const account = savedAccount();
const stored = load(NAME_KEY);
const justLeft = takeSignedOut();
if (account !== undefined) {
  // Signed in before: the token logs in (a refused one brings the card back, in sign-in mode).
  core.useToken(account.name, account.token);
  plan = { name: account.name, mode: 'signin' };
  wantedName = account.name;
  started = true;
  conn.start();
} else if (stored !== null && isValidName(stored)) {
  plan = { name: stored, mode: 'guest' };
  wantedName = stored;
  started = true;
  conn.start();
} else {
  ui.statusText.textContent = 'Not signed in';
  if (justLeft) {
    showNameScreen(
      justLeft.revoked ? 'You have signed out.' : 'Signed out on this device. The server could not be reached to end the sign-in there; it expires by itself within 30 days.',
      'signin',
      isValidName(justLeft.name) ? justLeft.name : '',
    );
  } else showNameScreen('', 'guest');
}
renderAll();

// Exposed for debugging in the console and for tests that need to know the page's view of seqs.
Object.defineProperty(window, 'parley', {
  value: {
    get state() {
      return state;
    },
    get core() {
      return core;
    },
    dmKey,
    roomKey,
  },
  configurable: true,
});
