// Wires the page together: the connection feeds events through ClientCore (which owns ids, rejoin
// with `since`, DM catch-up and duplicate dropping, and the login token, shared with the console
// client), the reducer (reducer.ts) turns each event into the next state, and view.ts draws it. This
// file carries out the reducer's effects, turns input into requests, and runs the sign-in card.
//
// Who you are: a guest (a name, nothing else), or an account (sign in with its password, or register
// a new name: hello as a guest, then `register`). An account's token, never its password, is kept in
// localStorage and logs in again after a reload or a reconnect; a refused one brings back the form.
import { ClientCore, type HelloRefused, type Outbound, type Pending } from '../protocol/client-core.js';
import type { ChatMessage, RequestId, ServerEvent } from '../protocol/messages.js';
import { neutraliseName, neutraliseText } from '../protocol/neutralise.js';
import { isValidName, nameKey } from '../protocol/validate.js';
import { HELP, parseInput, type Command } from './commands.js';
import { Connection, type Status } from './connection.js';
import { bindMessageActions, focusPicker } from './message-actions.js';
import {
  activate,
  addNotice,
  beginSearch,
  closeDm,
  closeSearch,
  expectJoin,
  FRIENDLY,
  loadPendingDms,
  markRead,
  openDm,
  PAGE,
  reduce,
  restoreDms,
  setIgnored,
  setLoadingOlder,
  type Effect,
  type Result,
} from './reducer.js';
import { announce, conversationLabel } from './render.js';
import { activeConversation, dmKey, initialState, isMe, listed, oldestSeq, roomKey, typists, type ChatState, type Conversation, type Notice } from './state.js';
import {
  ACCOUNT_KEY,
  CLOCK_KEY,
  DMS_KEY,
  forget,
  IGNORED_KEY,
  load,
  markSignedOut,
  NAME_KEY,
  ROOMS_KEY,
  save,
  savedAccount,
  savedNames,
  takeSignedOut,
} from './storage.js';
import { noteScroll, renderHeader, renderLog, renderPlaceholder, renderSearch, renderSidebar, renderTyping, scroll, setText, toBottom, ui, type ViewOptions } from './view.js';

/** How long a sign-out waits for the server to confirm the revocation before forgetting the token anyway. */
const SIGN_OUT_WAIT_MS = 5_000;
const DEFAULT_ROOM = 'general';
/** Pixels from the top at which the next older page is fetched. */
const OLDER_PX = 80;
const KEEPALIVE_MS = 25_000;
/** `/users *` shows one page: the server may know far more users than a notice can list. */
const USERS_PAGE = 100;
/** The protocol asks for a typing event at most every few seconds while the user types. */
const TYPING_EVERY_MS = 3_000;
/** An armed delete button goes back to normal after this long. */
const ARM_MS = 4_000;
const SEARCH_PAGE = 20;

let state: ChatState = { ...initialState(), ignored: new Set(savedNames(IGNORED_KEY, []).map(nameKey)) };
let clock24 = load(CLOCK_KEY) === '24';
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const conn = new Connection(wsUrl, { open: onOpen, event: onEvent, closed: onClosed, status: showStatus });
let core = makeCore();

function makeCore(): ClientCore {
  return new ClientCore({
    send: (req) => conn.send(req),
    historyOnJoin: PAGE,
    catchUpPage: PAGE,
    // DMs a reconnect's catch-up found (or held back while it ran) arrive as if live, in seq order.
    show: (msgs) => msgs.forEach((m) => apply(reduce(state, m, context()))),
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
let awaitingPong = false;
/** Replies the user asked for with a command: printed in the conversation, unlike the page's own queries. */
const printReplies = new Set<RequestId>();
/** The search whose reply is awaited: replies to older ones are dropped. */
let searchId: RequestId | undefined;

// Page-local view matters: which message has the reaction picker, an armed delete, the one being edited.
let pickerSeq: number | undefined;
let armed: { seq: number; timer: ReturnType<typeof setTimeout> } | undefined;
let editing: { key: string; seq: number; draft: string } | undefined;
const typingSent = new Map<string, number>();

function rememberRooms(): void {
  save(ROOMS_KEY, JSON.stringify([...core.rooms.values()]));
}
function rememberDms(): void {
  save(DMS_KEY, JSON.stringify([...state.conversations.values()].filter((c) => c.kind === 'dm').map((c) => c.name)));
}
function savedRooms(): string[] {
  return savedNames(ROOMS_KEY, [DEFAULT_ROOM]);
}

// ---- state changes: every one goes through here ----

function context(pending?: Outbound, print = false): { now: number; pending: Outbound | undefined; print: boolean; clock24: boolean } {
  return { now: Date.now(), pending, print, clock24 };
}

/** Takes the reducer's next state, carries out its effects, and draws (once per turn of the event loop). */
function apply(r: Result): void {
  state = r.state;
  for (const e of r.effects) effect(e);
  readActive();
  scheduleRender();
}

function effect(e: Effect): void {
  switch (e.kind) {
    case 'request':
      core.request(e.req);
      return;
    case 'announce': {
      if (e.key !== state.active) return;
      const c = state.conversations.get(e.key);
      const line = document.createElement('p');
      line.textContent = announce(e.msg, c ? conversationLabel(c) : '', core.sentByGuest(e.msg));
      ui.live.append(line);
      // Old announcements are already spoken; keep the region small.
      while (ui.live.childElementCount > 5) ui.live.firstElementChild?.remove();
      if (!scroll.stick) ui.jump.hidden = false;
      return;
    }
    case 'notify':
      return notify(e.key, e.msg);
    case 'remember':
      rememberRooms();
      rememberDms();
      return;
    case 'joinError':
      ui.joinError.textContent = e.text;
      return;
  }
}

/** A mention or a DM the reader is not looking at: a system notification when allowed (the title counts it anyway). */
function notify(key: string, msg: ChatMessage): void {
  if (!document.hidden && key === state.active) return;
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  const c = state.conversations.get(key);
  try {
    const n = new Notification(`${neutraliseName(msg.from)} in ${c ? conversationLabel(c) : 'Parley'}`, { body: neutraliseText(msg.text).slice(0, 200), tag: key });
    n.addEventListener('click', () => {
      window.focus();
      open(key);
    });
  } catch {
    /* some browsers only allow notifications from a service worker: the title still counts */
  }
}

/** The conversation on screen, in a visible tab, is read up to its newest message; the server is told. */
function readActive(): void {
  if (state.active === undefined || document.hidden || !core.isReady) return;
  const r = markRead(state, state.active);
  state = r.state;
  for (const e of r.effects) effect(e);
}

let renderQueued = false;
let typingTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  // A microtask, not requestAnimationFrame: a hidden tab must still update its title's count.
  queueMicrotask(() => {
    renderQueued = false;
    renderAll();
  });
}

function viewOptions(): ViewOptions {
  return {
    now: Date.now(),
    clock24,
    isGuest: (n) => core.isGuest(n),
    sentByGuest: (m) => core.sentByGuest(m),
    pickerSeq,
    armedSeq: armed?.seq,
    editingSeq: editing !== undefined && editing.key === state.active ? editing.seq : undefined,
  };
}

function renderAll(): void {
  const o = viewOptions();
  renderHeader(state);
  renderLog(state, o);
  renderTyping(state, o.now);
  renderSidebar(state, o, { open: (c) => open(c.key), leave: closeConversation }, (name) => openDmFromUi(name));
  renderSearch(state, o);
  renderAccount();
  // The typing line goes by itself once its last typist has been quiet long enough.
  if (typingTimer !== undefined) clearTimeout(typingTimer);
  const c = activeConversation(state);
  const soonest = c ? Math.min(...[...c.typing.values()].filter((t) => t.until > o.now).map((t) => t.until)) : Infinity;
  if (Number.isFinite(soonest)) typingTimer = setTimeout(() => renderTyping(state, Date.now()), soonest - o.now + 50);
  maybeLoadOlder();
}

function notice(key: string | undefined, text: string, tone: Notice['tone']): void {
  state = addNotice(state, key, text, tone, new Date().toISOString());
  if (tone === 'error') ui.live.textContent = text;
  scheduleRender();
}

function open(key: string): void {
  const switched = key !== state.active;
  state = activate(state, key);
  if (switched) {
    pickerSeq = undefined;
    ui.live.replaceChildren();
  }
  closeMenu();
  readActive();
  scheduleRender();
}

function openDmFromUi(name: string): void {
  apply(openDm(state, name, true));
  closeMenu();
  ui.input.focus();
}

function closeConversation(c: Conversation): void {
  if (c.kind === 'room') {
    core.request({ type: 'leave', room: c.name });
    return;
  }
  state = closeDm(state, c.key);
  core.unfollowDm(c.name);
  rememberDms();
  scheduleRender();
}

function maybeLoadOlder(): void {
  const c = activeConversation(state);
  if (!c || !c.more || c.loadingOlder || !core.isReady) return;
  // Also fetch when the first page does not fill the screen: otherwise there is nothing to scroll.
  const nearTop = ui.scroller.scrollTop < OLDER_PX || ui.scroller.scrollHeight <= ui.scroller.clientHeight;
  if (nearTop) loadOlder(c, PAGE);
}

function loadOlder(c: Conversation, limit: number): void {
  const before = oldestSeq(c);
  state = setLoadingOlder(state, c.key, true);
  const about = c.kind === 'room' ? { room: c.name } : { with: c.name };
  core.request(before === undefined ? { type: 'history', ...about, limit } : { type: 'history', ...about, before, limit });
  scheduleRender();
}

// ---- connection lifecycle ----
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
    } else notice(undefined, 'The connection dropped before the server confirmed the registration. If it went through, the name now needs its password.', 'error');
  }
  // Sent but unanswered says and DMs may or may not have been stored; saying them again could
  // duplicate them, so the reader is told instead (the protocol's resume rule).
  for (const p of core.disconnected()) reportLost(p);
}

function reportLost(p: Pending): void {
  const req = p.req;
  if (req.type === 'say' || req.type === 'dm') {
    const key = req.type === 'say' ? roomKey(req.room) : dmKey(req.to);
    const snippet = req.text.length > 80 ? `${req.text.slice(0, 80)}…` : req.text;
    notice(state.conversations.has(key) ? key : undefined, `The connection dropped before the server confirmed “${snippet}”. It may not have been delivered.`, 'error');
  }
  if (req.type === 'history') state = setLoadingOlder(state, req.with !== undefined ? dmKey(req.with) : roomKey(req.room ?? ''), false);
  // Typing is ephemeral (the line expires by itself); nothing else here changes what is shown.
  if (req.type === 'edit' || req.type === 'delete' || req.type === 'react' || req.type === 'unreact') {
    notice(undefined, 'The connection dropped before the server confirmed a change to a message. Check that it took effect.', 'error');
  }
  typingSent.clear();
  scheduleRender();
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
// ---- events ----

/** Replies whose request the core must stop tracking (the rest of the replies have their own `re` handling). */
const REPLIES = new Set(['error', 'users', 'rooms', 'time', 'pong', 'members', 'history', 'topic', 'user', 'reads', 'results']);

function onEvent(ev: ServerEvent): void {
  const re = 're' in ev ? ev.re : undefined;
  const pending = ev.type === 'ack' ? core.settle(ev.re) : REPLIES.has(ev.type) ? core.settle(re) : undefined;
  if (!core.accept(ev)) return; // a message seen before the reconnect: shown once already
  const print = re !== undefined && printReplies.delete(re);
  // A search given up on (closed, or a newer one asked): its late results are not shown.
  if (ev.type === 'results' || (ev.type === 'error' && pending?.req.type === 'search')) {
    if (re !== searchId) return;
    searchId = undefined;
  }
  switch (ev.type) {
    case 'welcome':
      state = { ...state, me: ev.name };
      if (plan?.mode === 'register' && plan.password !== undefined && !ev.account && nameKey(plan.name) === nameKey(ev.name)) {
        // The name is free and ours as a guest: make it an account before anyone sees it join as a guest.
        registerId = core.request({ type: 'register', password: plan.password });
        plan = { name: ev.name, mode: 'guest' };
        return;
      }
      return onWelcome(ev.name);
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
          notice(undefined, `${state.me} is now a registered account: only its password, or a device signed in to it, can use the name.`, 'info');
          scheduleRender();
        } else onWelcome(state.me!);
      }
      if (re !== undefined && re === signOutId) finishSignOut(true);
      return;
    case 'error':
      if (onAccountError(ev.code, ev.message, re)) return;
      if (ev.code === 'protocol_unsupported') {
        conn.stop('this server speaks another protocol version');
        return;
      }
      break;
    case 'history':
      if (pending?.req.type === 'history') {
        // A page the page asked for: shown from here on, so a DM is caught up after every reconnect.
        if (ev.with !== undefined) core.followDm(ev.with, ev.messages);
        break;
      }
      // A join's (or resume's) history: only what the core has not seen yet.
      apply(reduce(state, { ...ev, messages: core.freshHistory(ev.messages) }, context(undefined, print)));
      return;
  }
  apply(reduce(state, ev, context(pending?.req, print)));
}

function onWelcome(name: string): void {
  helloRetries = 0;
  wantedName = name;
  // The password has done its work: a reconnect logs in with the token the core now holds.
  plan = { name, mode: core.account ? 'signin' : 'guest' };
  chatStarted = true;
  save(NAME_KEY, name);
  ui.nameScreen.hidden = true;
  ui.app.inert = false;
  clearPasswords();
  showConnected();
  // Read markers of direct conversations (rooms send theirs on join): asked before any DM history, so
  // the history's replies find them; and on a new device they list the conversations read elsewhere.
  core.request({ type: 'reads' });
  if (!welcomedOnce) {
    welcomedOnce = true;
    // ClientCore rejoins its rooms on later welcomes; the first one starts from what was saved.
    for (const room of savedRooms()) core.request({ type: 'join', room, history: PAGE });
    state = restoreDms(state, savedNames(DMS_KEY, []));
    ui.input.focus();
  } else if (state.active !== undefined) notice(state.active, 'Reconnected.', 'info');
  // Direct conversations whose history has not arrived yet (restored, or its reply lost in a drop);
  // those already shown are caught up by the core.
  apply(loadPendingDms(state));
}

/** Replies about registering and signing out, which the sign-in card handles. True when handled. */
function onAccountError(code: string, message: string, re: RequestId | undefined): boolean {
  if (re !== undefined && re === registerId) {
    registerId = undefined;
    // Still a guest; the form says what to change (a password outside the rules states the rule).
    const msg = code === 'bad_password' ? message : code === 'name_taken' ? `${message}. Choose another name.` : (FRIENDLY[code] ?? message);
    if (ui.nameScreen.hidden) notice(undefined, msg, 'error');
    else showNameScreen(msg, 'register', state.me);
    return true;
  }
  if (re !== undefined && re === signOutId) {
    finishSignOut(false);
    return true;
  }
  return false;
}

// ---- message actions ----

function activeMessage(seq: number): ChatMessage | undefined {
  const c = activeConversation(state);
  for (const e of c?.entries ?? []) if (e.kind === 'message' && e.msg.seq === seq) return e.msg;
  return undefined;
}

/** Where a request about a message of the active conversation goes: its room, or the other party. */
function about(): { room: string } | { to: string } | undefined {
  const c = activeConversation(state);
  if (!c) return undefined;
  return c.kind === 'room' ? { room: c.name } : { to: c.name };
}

function startEdit(seq: number): void {
  const m = activeMessage(seq);
  if (!m || m.deleted || !isMe(state, m.from) || state.active === undefined) return;
  editing = { key: state.active, seq, draft: editing?.draft ?? ui.input.value };
  ui.input.value = m.text;
  ui.editBanner.hidden = false;
  ui.composer.classList.add('editing');
  resizeInput();
  ui.input.focus();
  scheduleRender();
}

function stopEdit(): void {
  if (!editing) return;
  const seq = editing.seq;
  ui.input.value = editing.draft;
  editing = undefined;
  ui.editBanner.hidden = true;
  ui.composer.classList.remove('editing');
  resizeInput();
  scheduleRender();
  queueMicrotask(() => ui.log.querySelector<HTMLElement>(`.msg[data-seq="${seq}"]`)?.scrollIntoView({ block: 'nearest' }));
}

bindMessageActions({
  picker(seq) {
    pickerSeq = pickerSeq === seq ? undefined : seq;
    renderAll();
    if (pickerSeq !== undefined) focusPicker(pickerSeq);
  },
  react(seq, emoji, on) {
    const where = about();
    if (where) core.request({ type: on ? 'react' : 'unreact', ...where, seq, emoji });
    ui.log.querySelector<HTMLElement>(`.msg[data-seq="${seq}"]`)?.focus({ preventScroll: true });
  },
  edit: startEdit,
  del(seq) {
    if (armed?.seq !== seq) {
      if (armed) clearTimeout(armed.timer);
      armed = {
        seq,
        timer: setTimeout(() => {
          armed = undefined;
          scheduleRender();
        }, ARM_MS),
      };
      scheduleRender();
      return;
    }
    clearTimeout(armed.timer);
    armed = undefined;
    const where = about();
    if (where) core.request({ type: 'delete', ...where, seq });
    scheduleRender();
  },
  own(seq) {
    const m = activeMessage(seq);
    return m !== undefined && !m.deleted && isMe(state, m.from);
  },
});

// ---- search ----

function runSearch(query: string, paging = false): void {
  if (!core.isReady) {
    notice(undefined, 'Not connected right now: search again once the connection is back.', 'error');
    return;
  }
  const prev = state.search;
  const q = paging && prev ? prev.query : query;
  // Results come newest first; the next page is the one the last reply's cursor points at.
  const next = paging ? prev?.next : undefined;
  state = beginSearch(state, q, paging);
  searchId = core.request(next === undefined ? { type: 'search', query: q, limit: SEARCH_PAGE } : { type: 'search', query: q, limit: SEARCH_PAGE, before: next });
  scheduleRender();
}

ui.searchForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const q = ui.searchInput.value.trim();
  if (q !== '') runSearch(q);
});
ui.searchMore.addEventListener('click', () => runSearch('', true));
ui.searchClose.addEventListener('click', () => {
  state = closeSearch(state);
  searchId = undefined;
  scheduleRender();
  ui.input.focus();
});
ui.searchResults.addEventListener('click', (e) => {
  const li = e.target instanceof Element ? e.target.closest<HTMLElement>('.result') : null;
  const key = li?.dataset.key;
  if (key === undefined) return;
  if (key.startsWith('d:') && !state.conversations.has(key)) {
    const name = li?.querySelector('.result-where')?.textContent?.replace(/^@/, '');
    if (name && isValidName(name)) apply(openDm(state, name, true));
  } else if (state.conversations.has(key)) open(key);
  const seq = li?.querySelector<HTMLElement>('.result-open')?.dataset.seq;
  queueMicrotask(() => ui.log.querySelector<HTMLElement>(`.msg[data-seq="${seq}"]`)?.focus());
});

// ---- input ----

function submitComposer(): void {
  const raw = ui.input.value;
  if (editing) {
    const text = raw.replace(/\s+$/, '');
    const m = activeMessage(editing.seq);
    const where = about();
    if (text !== '' && m && text !== m.text && where && editing.key === state.active) core.request({ type: 'edit', ...where, seq: editing.seq, text });
    stopEdit();
    return;
  }
  const cmd = parseInput(raw);
  if (!cmd) return;
  ui.input.value = '';
  resizeInput();
  if (runCommand(cmd, raw) && !core.isReady) notice(undefined, 'Not connected right now: this will be sent as soon as the connection is back.', 'info');
}

/** Carries out a command; true when a request went (or waits) to the server. */
function runCommand(cmd: Command, raw: string): boolean {
  const c = activeConversation(state);
  const room = c?.kind === 'room' ? c.name : undefined;
  const notInRoom = (): false => {
    notice(undefined, 'Join a room first: /join general', 'error');
    return false;
  };
  switch (cmd.kind) {
    case 'say':
      if (!c) {
        ui.input.value = raw;
        return notInRoom();
      }
      if (c.kind === 'room') core.request({ type: 'say', room: c.name, text: cmd.text, ...(cmd.action ? { action: true } : {}) });
      else core.request({ type: 'dm', to: c.name, text: cmd.text, ...(cmd.action ? { action: true } : {}) });
      typingSent.delete(c.key);
      return true;
    case 'msg':
      apply(openDm(state, cmd.to, true));
      core.request({ type: 'dm', to: cmd.to, text: cmd.text });
      return true;
    case 'query':
      openDmFromUi(cmd.name);
      return false;
    case 'join':
      if (state.conversations.get(roomKey(cmd.room))?.joined) {
        open(roomKey(cmd.room));
        return false;
      }
      state = expectJoin(state, cmd.room);
      core.request({ type: 'join', room: cmd.room, history: PAGE });
      return true;
    case 'leave': {
      const r = cmd.room ?? room;
      if (r === undefined) {
        notice(undefined, 'Usage: /leave ROOM', 'error');
        return false;
      }
      core.request({ type: 'leave', room: r });
      return true;
    }
    case 'names': {
      const r = cmd.room ?? room;
      if (r === undefined) return notInRoom();
      printReplies.add(core.request({ type: 'who', room: r }));
      return true;
    }
    case 'users':
      printReplies.add(core.request({ type: 'who', limit: USERS_PAGE }));
      return true;
    case 'rooms':
      printReplies.add(core.request({ type: 'rooms' }));
      return true;
    case 'whois':
      printReplies.add(core.request({ type: 'whois', name: cmd.name }));
      return true;
    case 'topic':
      if (room === undefined) return notInRoom();
      if (cmd.text === undefined) printReplies.add(core.request({ type: 'topic', room }));
      else core.request({ type: 'topic', room, text: cmd.text });
      return true;
    case 'away':
      core.request(cmd.text === undefined ? { type: 'away' } : { type: 'away', text: cmd.text });
      return true;
    case 'history':
      if (!c) return notInRoom();
      if (!c.more && c.loaded) notice(c.key, 'There is nothing older here.', 'info');
      else loadOlder(c, cmd.count);
      return true;
    case 'window': {
      const all = [...state.conversations.values()].filter(listed);
      const order = [...all.filter((x) => x.kind === 'room'), ...all.filter((x) => x.kind === 'dm')];
      const target = order[cmd.n - 1];
      if (target) open(target.key);
      else notice(undefined, `There is no conversation ${cmd.n}: the sidebar lists ${order.length}.`, 'error');
      return false;
    }
    case 'ignore':
    case 'unignore': {
      if (cmd.name === undefined) {
        const names = [...state.ignored];
        notice(undefined, names.length ? `Ignoring: ${names.join(', ')}` : 'Ignoring nobody.', 'info');
        return false;
      }
      state = setIgnored(state, cmd.name, cmd.kind === 'ignore');
      save(IGNORED_KEY, JSON.stringify([...state.ignored]));
      notice(undefined, cmd.kind === 'ignore' ? `Ignoring ${cmd.name}: their messages are hidden in this browser (/unignore ${cmd.name}).` : `No longer ignoring ${cmd.name}.`, 'info');
      return false;
    }
    case 'search':
      ui.searchInput.value = cmd.query;
      runSearch(cmd.query);
      return false;
    case 'clock':
      clock24 = cmd.clock24;
      save(CLOCK_KEY, clock24 ? '24' : 'locale');
      notice(undefined, clock24 ? 'Times are shown as 24-hour HH:MM.' : 'Times are shown as your locale writes them.', 'info');
      return false;
    case 'time':
      printReplies.add(core.request({ type: 'time' }));
      return true;
    case 'register':
      if (core.account === true) notice(undefined, `${state.me ?? 'This name'} is already an account.`, 'error');
      else {
        ui.nameInput.value = state.me ?? '';
        showNameScreen('', 'register');
      }
      return false;
    case 'help':
      for (const line of HELP) notice(undefined, line, 'info');
      return false;
    case 'logout':
      if (core.account !== true) notice(undefined, 'You are a guest: there is no sign-in to end. Closing the page leaves.', 'error');
      else signOut(cmd.all);
      return false;
    case 'quit':
      quit();
      return false;
    case 'invalid':
      ui.input.value = raw;
      resizeInput();
      notice(undefined, cmd.message, 'error');
      return false;
  }
}

/** /quit: says bye and stays disconnected; the status line offers the way back. */
function quit(): void {
  if (conn.isOpen) conn.send({ type: 'bye' });
  conn.stop('you quit (reload the page to come back)');
}

function resizeInput(): void {
  // Grow with the text up to a few lines, then scroll inside; `rows` avoids inline styles (CSP).
  ui.input.rows = Math.min(6, Math.max(1, ui.input.value.split('\n').length));
}

/** Tells the conversation the user is typing, at most every few seconds (the protocol's pace). */
function typed(): void {
  const c = activeConversation(state);
  const text = ui.input.value;
  if (!c || !core.isReady || editing || text.trim() === '' || (text.startsWith('/') && !text.startsWith('//'))) return;
  if (c.kind === 'room' && !c.joined) return;
  const now = Date.now();
  if (now - (typingSent.get(c.key) ?? 0) < TYPING_EVERY_MS) return;
  typingSent.set(c.key, now);
  core.request(c.kind === 'room' ? { type: 'typing', room: c.name } : { type: 'typing', to: c.name });
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
  } else if (e.key === 'Escape' && editing) {
    e.preventDefault();
    stopEdit();
  } else if (e.key === 'ArrowUp' && ui.input.value === '' && !editing) {
    // As in Slack: Up in an empty box edits one's last message here.
    const c = activeConversation(state);
    const mine = c?.entries.filter((x) => x.kind === 'message' && !x.msg.deleted && isMe(state, x.msg.from)).at(-1);
    if (mine?.kind === 'message') {
      e.preventDefault();
      startEdit(mine.msg.seq);
    }
  }
});
ui.input.addEventListener('input', () => {
  resizeInput();
  typed();
});
// Whatever changes the box's width (the window, the drawer, the name card going away) fits the
// placeholder again; it fires once at the start too.
new ResizeObserver(() => renderPlaceholder()).observe(ui.input);

ui.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = ui.joinInput.value.trim().replace(/^#/, '');
  if (!isValidName(room)) {
    ui.joinError.textContent = FRIENDLY.bad_room ?? '';
    return;
  }
  ui.joinError.textContent = '';
  ui.joinInput.value = '';
  runCommand({ kind: 'join', room }, '');
});

ui.scroller.addEventListener('scroll', () => {
  noteScroll();
  maybeLoadOlder();
});
ui.jump.addEventListener('click', () => {
  toBottom();
  ui.input.focus();
});
ui.retry.addEventListener('click', () => conn.retryNow());
ui.menu.addEventListener('click', () => {
  const isOpen = !ui.app.classList.contains('menu-open');
  ui.app.classList.toggle('menu-open', isOpen);
  ui.menu.setAttribute('aria-expanded', String(isOpen));
});
function closeMenu(): void {
  ui.app.classList.remove('menu-open');
  ui.menu.setAttribute('aria-expanded', 'false');
}
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  closeMenu();
  if (pickerSeq !== undefined) {
    pickerSeq = undefined;
    scheduleRender();
  }
});
document.addEventListener('visibilitychange', () => {
  // Back to the tab: what is on screen is read now.
  readActive();
  scheduleRender();
});
ui.notifyEnable.addEventListener('click', () => {
  if (!('Notification' in window)) return;
  void Notification.requestPermission().then(() => scheduleRender());
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
  state = { ...initialState(), ignored: state.ignored };
  core = makeCore();
  welcomedOnce = false;
  chatStarted = false;
  registerId = undefined;
  helloRetries = 0;
  printReplies.clear();
  searchId = undefined;
  editing = undefined;
  pickerSeq = undefined;
  ui.app.classList.remove('menu-open');
  scheduleRender();
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
  setText(ui.accountName, me ?? '');
  setText(ui.accountKind, core.account ? 'account' : 'guest');
  ui.signout.hidden = core.account !== true;
  ui.accountSwitch.hidden = core.account !== false;
  ui.whoami.hidden = me === undefined || core.account === true;
  setText(ui.whoami, me ?? '');
  // Offered until the reader decides: notifications for mentions need their permission.
  ui.notifyEnable.hidden = me === undefined || !('Notification' in window) || Notification.permission !== 'default';
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
  for (const key of [ACCOUNT_KEY, NAME_KEY, DMS_KEY, ROOMS_KEY, IGNORED_KEY]) forget(key);
  markSignedOut(name, revoked);
  conn.stop('signed out');
  // A fresh page: nothing of the account stays in memory or on screen.
  location.reload();
}

ui.signout.addEventListener('click', () => signOut(false));

// ---- start ----

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
    typists: () => {
      const c = activeConversation(state);
      return c ? typists(state, c, Date.now()) : [];
    },
  },
  configurable: true,
});
