// Wires the page together: the connection feeds events through ClientCore (which owns ids, rejoin
// with `since`, DM catch-up and duplicate dropping, shared with the console client), ChatState keeps
// what is shown, and render.ts draws it. Only this file touches the page's fixed elements.
import { ClientCore, type Outbound, type Pending } from '../protocol/client-core.js';
import type { ChatMessage, ErrorEvent, HistoryEvent, HistoryRequest, RequestId, ServerEvent, UsersEvent } from '../protocol/messages.js';
import { isValidName, nameKey } from '../protocol/validate.js';
import { HELP, parseInput } from './commands.js';
import { Connection, type Status } from './connection.js';
import { announce, clockTime, conversationLabel, conversationRow, entryNode, memberRow, messageNode } from './render.js';
import { ChatState, dmKey, roomKey, type Conversation, type Notice } from './state.js';

const NAME_KEY = 'parley.name';
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

const state = new ChatState();
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const conn = new Connection(wsUrl, { open: onOpen, event: onEvent, closed: onClosed, status: showStatus });
// DMs a reconnect's catch-up found (or held back while it ran) arrive as if live, in seq order.
const core = new ClientCore({ send: (req) => conn.send(req), historyOnJoin: PAGE, catchUpPage: PAGE, show: (msgs) => msgs.forEach(onMessage), helloRefused: (why) => onError(why.error, undefined) });

let wantedName: string | undefined;
let helloId: RequestId | undefined;
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
  if (wantedName === undefined) {
    showNameScreen('');
    return;
  }
  helloId = core.connected(wantedName);
}

function onClosed(): void {
  helloId = undefined;
  awaitingPong = false;
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
      ui.statusText.textContent = 'Signing in…';
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
  save(NAME_KEY, name);
  ui.nameScreen.hidden = true;
  ui.app.inert = false;
  ui.whoami.hidden = false;
  ui.whoami.textContent = name;
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
      for (const m of added) frag.append(messageNode(m, state.me));
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

function onError(ev: ErrorEvent, pending: Pending | undefined): void {
  if (ev.re !== undefined && ev.re === helloId) {
    helloId = undefined;
    // After a network blip the server may still count our old connection as online for a moment;
    // that is not the reader's fault, so try the same name again before asking for another.
    if (ev.code === 'name_taken' && welcomedOnce && wantedName === state.me && helloRetries < 5) {
      helloRetries++;
      setTimeout(() => {
        if (conn.isOpen && !core.isReady && wantedName !== undefined) helloId = core.connected(wantedName);
      }, 1000 * helloRetries);
      return;
    }
    if (ev.code === 'bad_name' || ev.code === 'name_taken' || ev.code === 'bad_request') {
      showNameScreen(FRIENDLY[ev.code] ?? ev.message);
      return;
    }
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
    ui.log.append(entryNode(n, state.me));
    if (atBottom || tone !== 'presence') scrollToBottom();
    if (tone === 'error') ui.live.textContent = text;
  }
}

function appendNodes(c: Conversation, msgs: ChatMessage[], live: boolean): void {
  const frag = document.createDocumentFragment();
  for (const m of msgs) frag.append(messageNode(m, state.me));
  ui.log.append(frag);
  const mine = msgs.some(isMine);
  // Reading older messages is not interrupted by new ones; one's own message always scrolls into view.
  if (stickToBottom || mine) scrollToBottom();
  else ui.jump.hidden = false;
  if (live) {
    const last = msgs[msgs.length - 1];
    if (last && !isMine(last)) {
      const line = document.createElement('p');
      line.textContent = announce(last, conversationLabel(c));
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
  if (c) for (const e of c.entries) frag.append(entryNode(e, state.me));
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
  for (const n of new Set(names)) members.append(memberRow(n, state.online.get(nameKey(n)) ?? false, nameKey(n) === meKey, openDm));
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

// ---- name ----

function showNameScreen(error: string): void {
  ui.nameScreen.hidden = false;
  // inert keeps Tab inside the name form: the chat behind it cannot be used yet.
  ui.app.inert = true;
  ui.nameError.textContent = error;
  ui.nameInput.setAttribute('aria-invalid', String(error !== ''));
  if (!ui.nameInput.value && wantedName) ui.nameInput.value = wantedName;
  ui.nameInput.focus();
  ui.nameInput.select();
}

ui.nameForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.nameInput.value.trim();
  if (!isValidName(name)) {
    showNameScreen(FRIENDLY.bad_name ?? '');
    return;
  }
  ui.nameError.textContent = 'Signing in…';
  wantedName = name;
  if (!started) {
    started = true;
    conn.start();
  } else if (conn.isOpen && !core.isReady) {
    helloId = core.connected(name);
  } else if (core.isReady && state.me !== undefined && nameKey(name) === nameKey(state.me)) {
    hideNameScreen();
  } else if (core.isReady) {
    // Changing name means a new session: reload so every room and seq starts clean under the new name.
    save(NAME_KEY, name);
    location.reload();
  }
});

function hideNameScreen(): void {
  ui.nameScreen.hidden = true;
  ui.app.inert = false;
  ui.input.focus();
}
ui.nameScreen.addEventListener('keydown', (e) => {
  // Once signed in, the name screen is only a "change name" dialog and may be dismissed.
  if (e.key === 'Escape' && core.isReady) hideNameScreen();
});

ui.whoami.addEventListener('click', () => {
  ui.nameInput.value = state.me ?? '';
  showNameScreen('');
});

// ---- start ----

const stored = load(NAME_KEY);
if (stored !== null && isValidName(stored)) {
  wantedName = stored;
  started = true;
  conn.start();
} else {
  ui.statusText.textContent = 'Not signed in';
  showNameScreen('');
}
renderAll();

// Exposed for debugging in the console and for tests that need to know the page's view of seqs.
Object.defineProperty(window, 'parley', { value: { state, core, dmKey, roomKey }, configurable: true });
