// Builds DOM nodes for messages, notices, search results and sidebar rows. Every piece of text from the
// network goes in through text nodes (never innerHTML), after control, bidi and (in names and at line
// starts) invisible characters are spelled out (protocol/neutralise.ts, shared with the console), so a
// message can neither run code nor disguise itself as someone else's. Links are real anchors only for
// http(s) URLs; search matches are <mark> elements around text nodes.
import type { ChatMessage } from '../protocol/messages.js';
import { neutraliseName, neutraliseText } from '../protocol/neutralise.js';
import { clockTime, dateTime, highlight, linkify } from './format.js';
import type { Conversation, Notice } from './state.js';

/** Emoji offered by the reaction picker (any emoji may arrive from other clients). */
export const QUICK_EMOJI: readonly string[] = ['👍', '❤️', '😂', '🎉', '😮', '👀'];

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = neutraliseText(text);
  return node;
}

/** A name (user or room), with every invisible or control character spelled out. */
function nameEl(className: string, name: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = neutraliseName(name);
  return s;
}

function button(className: string, text: string, label?: string): HTMLButtonElement {
  const b = el('button', className, text);
  b.type = 'button';
  if (label !== undefined) {
    b.title = label;
    b.setAttribute('aria-label', label);
  }
  return b;
}

function timeNode(ts: string, clock24: boolean): HTMLTimeElement {
  const t = el('time', 'ts', clockTime(ts, clock24));
  t.dateTime = ts;
  t.title = dateTime(ts, clock24);
  return t;
}

/** Message text with its http(s) links as anchors that open in a new tab and tell the target nothing. */
export function richText(text: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const p of linkify(neutraliseText(text))) {
    if (p.kind === 'text') {
      frag.append(document.createTextNode(p.text));
      continue;
    }
    const a = document.createElement('a');
    a.href = p.href;
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    a.textContent = p.text;
    frag.append(a);
  }
  return frag;
}

/** Text with the words the search matched in <mark> elements. */
export function highlighted(text: string, terms: readonly string[]): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const p of highlight(neutraliseText(text), terms)) {
    if (p.match) {
      const m = document.createElement('mark');
      m.textContent = p.text;
      frag.append(m);
    } else frag.append(document.createTextNode(p.text));
  }
  return frag;
}

/** The mark beside a guest's name (no account: anyone may take the name once they leave). */
export function guestBadge(): HTMLSpanElement {
  const b = el('span', 'guest-badge', 'guest');
  b.title = 'Guest: no account, so anyone may use this name once they leave';
  return b;
}

export interface MessageView {
  me: string | undefined;
  /** The sender is to be marked as a guest. */
  guest: boolean;
  /** The message names the user (`mentions`). */
  mention: boolean;
  clock24: boolean;
  /** The reaction picker is open on this message. */
  picking: boolean;
  /** Delete was pressed once: the next press deletes. */
  armed: boolean;
  /** The composer is editing this message. */
  editing: boolean;
}

/**
 * One message. It can take the keyboard focus (the log moves it with the arrow keys); its actions are
 * buttons carrying `data-action` (handled by the page in one listener) and keys on the focused message.
 */
export function messageNode(msg: ChatMessage, v: MessageView): HTMLLIElement {
  const own = v.me !== undefined && msg.from.toLowerCase() === v.me.toLowerCase();
  const cls = ['msg', own && 'own', msg.action && 'action', v.guest && 'guest', v.mention && 'mention', msg.deleted && 'deleted', v.editing && 'editing'];
  const li = el('li', cls.filter(Boolean).join(' '));
  li.dataset.seq = String(msg.seq);
  li.tabIndex = -1;
  li.append(timeNode(msg.ts, v.clock24));
  if (msg.deleted) {
    const from = el('span', 'from');
    from.append(nameEl('from-name', msg.from));
    li.append(from, el('span', 'body', 'This message was deleted.'));
    return li;
  }
  if (msg.action) {
    const body = el('span', 'body', '* ');
    body.append(nameEl('from-name', msg.from));
    if (v.guest) body.append(guestBadge());
    body.append(document.createTextNode(' '), richText(msg.text));
    li.append(body);
  } else {
    const from = el('span', 'from');
    from.append(nameEl('from-name', msg.from));
    if (v.guest) from.append(guestBadge());
    const body = el('span', 'body');
    body.append(richText(msg.text));
    li.append(from, body);
  }
  const extra = el('div', 'msg-extra');
  if (msg.editedTs !== undefined) {
    const mark = el('span', 'edited', '(edited)');
    mark.title = `Edited ${dateTime(msg.editedTs, v.clock24)}`;
    extra.append(mark);
  }
  const reactions = Object.entries(msg.reactions ?? {});
  if (reactions.length > 0) {
    const row = el('span', 'reactions');
    for (const [emoji, names] of reactions) {
      const mine = v.me !== undefined && names.some((n) => n.toLowerCase() === v.me!.toLowerCase());
      const b = button('reaction', `${emoji} ${names.length}`, `${emoji} from ${names.map(neutraliseName).join(', ')}${mine ? ' (click to take yours back)' : ''}`);
      b.dataset.action = mine ? 'unreact' : 'react';
      b.dataset.emoji = emoji;
      b.setAttribute('aria-pressed', String(mine));
      b.tabIndex = -1;
      row.append(b);
    }
    extra.append(row);
  }
  li.append(extra);
  const actions = el('span', 'msg-actions');
  const react = button('act', '☺+', 'React (R)');
  react.dataset.action = 'picker';
  actions.append(react);
  if (own) {
    const edit = button('act', 'Edit', 'Edit (E)');
    edit.dataset.action = 'edit';
    const del = button('act danger', v.armed ? 'Delete?' : 'Delete', v.armed ? 'Press again to delete' : 'Delete (Del)');
    del.dataset.action = 'delete';
    actions.append(edit, del);
  }
  for (const b of actions.querySelectorAll('button')) b.tabIndex = -1;
  li.append(actions);
  if (v.picking) li.append(pickerNode());
  li.setAttribute('aria-keyshortcuts', own ? 'R E Delete' : 'R');
  return li;
}

function pickerNode(): HTMLDivElement {
  const p = el('div', 'picker');
  p.setAttribute('role', 'group');
  p.setAttribute('aria-label', 'Pick a reaction (arrow keys, Enter; Escape closes)');
  for (const e of QUICK_EMOJI) {
    const b = button('pick', e, `React with ${e}`);
    b.dataset.action = 'pick';
    b.dataset.emoji = e;
    p.append(b);
  }
  return p;
}

export function noticeNode(n: Notice, clock24: boolean): HTMLLIElement {
  const li = el('li', `notice ${n.tone}`);
  li.append(timeNode(n.ts, clock24), el('span', 'body', n.text));
  return li;
}

/** One search result: when, where, who, and the text with the query's words marked. */
export function resultNode(m: ChatMessage, where: string, terms: readonly string[], clock24: boolean): HTMLLIElement {
  const li = el('li', 'result');
  const b = el('button', 'result-open');
  b.type = 'button';
  b.dataset.seq = String(m.seq);
  const head = el('span', 'result-head');
  head.append(el('time', 'ts', dateTime(m.ts, clock24)), document.createTextNode(' '), nameEl('result-where', where), document.createTextNode(' '), nameEl('from-name', m.from));
  const body = el('span', 'body');
  if (m.deleted) body.textContent = 'This message was deleted.';
  else body.append(highlighted(m.text, terms));
  b.append(head, body);
  li.append(b);
  return li;
}

/** A spoken summary for the aria-live region: short, and without the clock. */
export function announce(msg: ChatMessage, where: string, guest: boolean): string {
  const from = guest ? `${msg.from} (guest)` : msg.from;
  return neutraliseText(msg.action ? `${where}: * ${from} ${msg.text}` : `${where}: ${from}: ${msg.text}`).slice(0, 300);
}

export function conversationLabel(c: Pick<Conversation, 'kind' | 'name'>): string {
  return c.kind === 'room' ? `#${neutraliseName(c.name)}` : `@${neutraliseName(c.name)}`;
}

export interface RowActions {
  open(c: Conversation): void;
  leave(c: Conversation): void;
}

export function conversationRow(c: Conversation, active: boolean, online: boolean | undefined, unread: number, mentions: number, act: RowActions): HTMLLIElement {
  const li = el('li', `conv${active ? ' active' : ''}`);
  const open = el('button', 'conv-open');
  open.type = 'button';
  open.dataset.key = c.key;
  if (active) open.setAttribute('aria-current', 'true');
  if (c.kind === 'dm') open.append(el('span', `dot${online ? ' on' : ''}`));
  open.append(el('span', 'conv-name', conversationLabel(c)));
  const unreadText = unread > 0 ? `, ${unread} unread${mentions > 0 ? `, ${mentions} mentioning you` : ''}` : '';
  open.setAttribute('aria-label', `${conversationLabel(c)}${unreadText}`);
  if (unread > 0) open.append(el('span', `badge${mentions > 0 ? ' mention' : ''}`, unread > 99 ? '99+' : String(unread)));
  open.addEventListener('click', () => act.open(c));
  li.append(open);
  const close = button('conv-close', '×', c.kind === 'room' ? `Leave #${neutraliseName(c.name)}` : `Close conversation with ${neutraliseName(c.name)}`);
  close.addEventListener('click', () => act.leave(c));
  li.append(close);
  return li;
}

export function memberRow(name: string, online: boolean, isMe: boolean, guest: boolean, away: string | undefined, dm: (name: string) => void): HTMLLIElement {
  const li = el('li', `member${guest ? ' guest' : ''}${away !== undefined ? ' away' : ''}`);
  const b = el('button', 'member-open');
  b.type = 'button';
  b.dataset.name = name;
  b.append(el('span', `dot${online ? ' on' : ''}`), nameEl('member-name', isMe ? `${name} (you)` : name));
  if (guest) b.append(guestBadge());
  if (away !== undefined) {
    const a = el('span', 'away-text', away === '' ? 'away' : `away: ${away}`);
    a.title = neutraliseText(away);
    b.append(a);
  }
  const state = `${guest ? 'guest, ' : ''}${online ? 'online' : 'offline'}${away !== undefined ? `, away: ${away}` : ''}`;
  b.setAttribute('aria-label', neutraliseText(isMe ? `${name} (you), ${state}` : `Message ${name}, ${state}`));
  b.addEventListener('click', () => dm(name));
  li.append(b);
  return li;
}
