// Draws the page from the state: the header (title, topic), the log, the typing line, the sidebar, the
// search panel and the tab title. Thin on purpose: what to show is decided by the state (state.ts,
// reducer.ts); this file only turns it into nodes and keeps the reader's place while doing so.
import type { ChatMessage } from '../protocol/messages.js';
import { neutraliseName, neutraliseText } from '../protocol/neutralise.js';
import { nameKey } from '../protocol/validate.js';
import { typingLine } from './format.js';
import { conversationLabel, conversationRow, memberRow, messageNode, noticeNode, resultNode, type RowActions } from './render.js';
import { activeConversation, keyFor, listed, mentionsMe, otherParty, totals, typists, unread, unreadMentions, type ChatState, type Conversation, type Entry } from './state.js';

function $<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node as T;
}

/** The page's fixed elements (index.html). */
export const ui = {
  app: $<HTMLDivElement>('app'),
  menu: $<HTMLButtonElement>('menu-toggle'),
  sidebar: $<HTMLElement>('sidebar'),
  title: $<HTMLHeadingElement>('conv-title'),
  topic: $<HTMLParagraphElement>('conv-topic'),
  searchForm: $<HTMLFormElement>('search-form'),
  searchInput: $<HTMLInputElement>('search-input'),
  searchPanel: $<HTMLElement>('search-panel'),
  searchHeading: $<HTMLHeadingElement>('search-heading'),
  searchResults: $<HTMLOListElement>('search-results'),
  searchMore: $<HTMLButtonElement>('search-more'),
  searchClose: $<HTMLButtonElement>('search-close'),
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
  typing: $<HTMLParagraphElement>('typing'),
  editBanner: $<HTMLParagraphElement>('edit-banner'),
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
  notifyEnable: $<HTMLButtonElement>('notify-enable'),
};

/** What the views need beyond the state: page-local matters that are not the conversation's. */
export interface ViewOptions {
  now: number;
  clock24: boolean;
  isGuest(name: string): boolean;
  sentByGuest(m: ChatMessage): boolean;
  /** The message the reaction picker is open on, the one armed for deletion, the one being edited. */
  pickerSeq: number | undefined;
  armedSeq: number | undefined;
  editingSeq: number | undefined;
}

/**
 * Setting textContent replaces the text node even with the same text, so the next layout read (the
 * scroll to the bottom in every render) lays the page out again: unchanged text is left alone.
 */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

// ---- the log ----

/** Nodes drawn for entries, with what they were drawn with: an unchanged entry keeps its node (and focus). */
const drawn = new WeakMap<Entry, { node: HTMLLIElement; sig: string }>();
let drawnFor: string | undefined;
/** Pixels from the bottom that still count as "reading the newest messages". */
const STICKY_PX = 48;
export const scroll = { stick: true };

function entryNode(s: ChatState, e: Entry, o: ViewOptions): HTMLLIElement {
  const seq = e.kind === 'message' ? e.msg.seq : undefined;
  const guest = e.kind === 'message' && o.sentByGuest(e.msg);
  const sig = `${o.clock24}|${seq !== undefined && seq === o.pickerSeq}|${seq !== undefined && seq === o.armedSeq}|${seq !== undefined && seq === o.editingSeq}|${guest}|${s.me ?? ''}`;
  const had = drawn.get(e);
  if (had && had.sig === sig) return had.node;
  const node =
    e.kind === 'notice'
      ? noticeNode(e, o.clock24)
      : messageNode(e.msg, {
          me: s.me,
          guest,
          mention: mentionsMe(s, e.msg),
          clock24: o.clock24,
          picking: seq === o.pickerSeq,
          armed: seq === o.armedSeq,
          editing: seq === o.editingSeq,
        });
  drawn.set(e, { node, sig });
  return node;
}

/**
 * Brings the log in line with the conversation: nodes of unchanged entries stay where they are (so a
 * focused message keeps the focus, and reading is not disturbed), changed ones are replaced, new ones
 * inserted. Messages of ignored users are left out.
 */
export function renderLog(s: ChatState, o: ViewOptions): void {
  const c = activeConversation(s);
  const switched = drawnFor !== c?.key;
  drawnFor = c?.key;
  const focusedSeq = document.activeElement instanceof HTMLElement && ui.log.contains(document.activeElement) ? document.activeElement.closest<HTMLElement>('.msg')?.dataset.seq : undefined;
  const nodes: HTMLLIElement[] = [];
  for (const e of c?.entries ?? []) if (e.kind === 'notice' || !s.ignored.has(nameKey(e.msg.from))) nodes.push(entryNode(s, e, o));
  const firstBefore = ui.log.firstElementChild;
  const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
  const keep = new Set<Element>(nodes);
  for (const child of [...ui.log.children]) if (!keep.has(child)) child.remove();
  let cur: ChildNode | null = ui.log.firstChild;
  for (const n of nodes) {
    if (cur === n) cur = cur.nextSibling;
    else ui.log.insertBefore(n, cur);
  }
  if (focusedSeq !== undefined && !(document.activeElement instanceof HTMLElement && ui.log.contains(document.activeElement))) {
    ui.log.querySelector<HTMLElement>(`.msg[data-seq="${focusedSeq}"]`)?.focus({ preventScroll: true });
  }
  renderOlder(c);
  if (switched || scroll.stick) toBottom();
  // An older page went in above: keep what the reader was looking at in place.
  else if (firstBefore !== null && ui.log.firstElementChild !== firstBefore) ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
}

export function toBottom(): void {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  scroll.stick = true;
  ui.jump.hidden = true;
}

/** After a scroll: whether the reader is at the newest messages. */
export function noteScroll(): void {
  const sc = ui.scroller;
  scroll.stick = sc.scrollHeight - sc.scrollTop - sc.clientHeight < STICKY_PX;
  if (scroll.stick) ui.jump.hidden = true;
}

function renderOlder(c: Conversation | undefined): void {
  const text = !c
    ? ''
    : c.loadingOlder
      ? 'Loading older messages…'
      : c.more
        ? 'Scroll up for older messages'
        : c.kind === 'dm'
          ? `This is the beginning of your conversation with ${neutraliseName(c.name)}.`
          : `This is the beginning of #${neutraliseName(c.name)}.`;
  setText(ui.older, text);
}

// ---- header, composer, typing ----

/** For measuring text: one canvas, made on first use. */
let measurer: CanvasRenderingContext2D | null | undefined;

/** The longest placeholder that fits the message box, so a phone never shows a cut one. */
function fitPlaceholder(options: string[]): string {
  const style = getComputedStyle(ui.input);
  const room = ui.input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 4;
  measurer ??= document.createElement('canvas').getContext('2d');
  const ctx = measurer;
  if (!ctx || room <= 0) return options.at(-1) ?? '';
  ctx.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  return options.find((t) => ctx.measureText(t).width <= room) ?? options.at(-1) ?? '';
}

export function renderHeader(s: ChatState): void {
  const c = activeConversation(s);
  setText(ui.title, c ? conversationLabel(c) : 'Parley');
  const topic = c?.kind === 'room' ? c.topic : undefined;
  ui.topic.hidden = topic === undefined;
  setText(ui.topic, topic ? neutraliseText(topic.text) : '');
  ui.topic.title = topic ? `${neutraliseText(topic.text)}${topic.by ? ` (set by ${neutraliseName(topic.by)})` : ''}` : '';
  const label = c ? `Message ${conversationLabel(c)}` : 'Message';
  setText(ui.inputLabel, label);
  // Measuring forces a layout in the middle of every render: only a new label needs it here, and a
  // new width is the ResizeObserver's (app.ts).
  if (label !== lastLabel) renderPlaceholder(label);
}

let lastLabel = 'Message';
export function renderPlaceholder(label = lastLabel): void {
  lastLabel = label;
  ui.input.placeholder = fitPlaceholder([`${label}  (/help for commands)`, label, 'Message']);
}

export function renderTyping(s: ChatState, now: number): void {
  const c = activeConversation(s);
  setText(ui.typing, c ? typingLine(typists(s, c, now).map(neutraliseName)) : '');
}

// ---- sidebar and title ----

/** What the sidebar showed last: it is redrawn only when that changes, so a click is never lost to a redraw. */
let sidebarDrawn = '';

export function renderSidebar(s: ChatState, o: ViewOptions, act: RowActions, openDm: (name: string) => void): void {
  const convs = [...s.conversations.values()].filter(listed);
  const c = activeConversation(s);
  const names = c?.kind === 'room' ? [...c.members.values()] : c ? [c.name, ...(s.me ? [s.me] : [])] : [];
  const meKey = s.me ? nameKey(s.me) : '';
  names.sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
  // One row per person: a DM lists the other party and oneself, who may be the same.
  const members = [...new Map(names.map((n) => [nameKey(n), n])).values()];
  const rows = convs.map((x) => ({ c: x, online: s.online.get(nameKey(x.name)), unread: unread(s, x), mentions: unreadMentions(s, x) }));
  const people = members.map((n) => ({ name: n, online: s.online.get(nameKey(n)) ?? false, me: nameKey(n) === meKey, guest: o.isGuest(n), away: s.away.get(nameKey(n)) }));
  const t = totals(s);
  // Mentions count in the title (the way to notice them when notifications are not allowed).
  const count = t.unread > 0 ? `(${t.unread}${t.mentions > 0 ? ` · @${t.mentions}` : ''}) ` : '';
  document.title = `${count}Parley`;
  setText(ui.menu, t.unread > 0 ? `Rooms (${t.unread})` : 'Rooms');
  const drawnNow = JSON.stringify([s.active, rows.map((r) => [r.c.key, r.c.name, r.online, r.unread, r.mentions]), people]);
  if (drawnNow === sidebarDrawn) return;
  sidebarDrawn = drawnNow;
  const rooms = document.createDocumentFragment();
  const dms = document.createDocumentFragment();
  for (const r of rows) (r.c.kind === 'room' ? rooms : dms).append(conversationRow(r.c, r.c.key === s.active, r.online, r.unread, r.mentions, act));
  ui.rooms.replaceChildren(rooms);
  ui.dms.replaceChildren(dms);
  ui.dmsEmpty.hidden = rows.some((r) => r.c.kind === 'dm');
  const list = document.createDocumentFragment();
  for (const p of people) list.append(memberRow(p.name, p.online, p.me, p.guest, p.away, openDm));
  ui.members.replaceChildren(list);
}

// ---- search ----

export function renderSearch(s: ChatState, o: ViewOptions): void {
  const search = s.search;
  ui.searchPanel.hidden = search === undefined;
  if (!search) {
    ui.searchResults.replaceChildren();
    return;
  }
  const q = neutraliseName(search.query);
  const heading = search.error
    ? `Search for “${q}” failed: ${search.error}`
    : search.loading && search.results.length === 0
      ? `Searching for “${q}”…`
      : `${search.results.length}${search.more ? '+' : ''} result${search.results.length === 1 ? '' : 's'} for “${q}”`;
  setText(ui.searchHeading, heading);
  const frag = document.createDocumentFragment();
  for (const m of search.results) {
    const where = m.room !== undefined ? `#${m.room}` : `@${m.with ?? otherParty(s, m)}`;
    const li = resultNode(m, where, search.terms, o.clock24);
    li.dataset.key = keyFor(s, m);
    frag.append(li);
  }
  ui.searchResults.replaceChildren(frag);
  ui.searchMore.hidden = !search.more || search.loading;
}
