// Builds DOM nodes for messages, notices and sidebar rows. Every piece of text from the network goes
// in through textContent (never innerHTML), after control and bidi-override characters are made
// visible, so a message can neither run code nor disguise itself as someone else's.
import type { ChatMessage } from '../protocol/messages.js';
import type { Conversation, Entry } from './state.js';

/** C0/C1 controls (but tab and newline, which multi-line messages need) and bidi overrides. */
const UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g;

export function clean(text: string): string {
  return text.replace(UNSAFE, '\uFFFD');
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = clean(text);
  return node;
}

export function clockTime(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '--:--';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function timeNode(ts: string): HTMLTimeElement {
  const t = el('time', 'ts', clockTime(ts));
  t.dateTime = ts;
  const d = new Date(ts);
  if (!Number.isNaN(d.getTime())) t.title = d.toLocaleString();
  return t;
}

/** The mark beside a guest's name (no account: anyone may take the name once they leave). */
export function guestBadge(): HTMLSpanElement {
  const b = el('span', 'guest-badge', 'guest');
  b.title = 'Guest: no account, so anyone may use this name once they leave';
  return b;
}

/** `guest`: the sender is to be marked as a guest. */
export function messageNode(msg: ChatMessage, me: string | undefined, guest: boolean): HTMLLIElement {
  const own = me !== undefined && msg.from.toLowerCase() === me.toLowerCase();
  const li = el('li', `msg${own ? ' own' : ''}${msg.action ? ' action' : ''}${guest ? ' guest' : ''}`);
  li.dataset.seq = String(msg.seq);
  li.append(timeNode(msg.ts));
  if (msg.action) {
    const body = el('span', 'body', '* ');
    body.append(el('span', 'from-name', msg.from));
    if (guest) body.append(guestBadge());
    body.append(document.createTextNode(' ' + clean(msg.text)));
    li.append(body);
  } else {
    const from = el('span', 'from');
    from.append(el('span', 'from-name', msg.from));
    if (guest) from.append(guestBadge());
    li.append(from, el('span', 'body', msg.text));
  }
  return li;
}

export function entryNode(entry: Entry, me: string | undefined, isGuest: (m: ChatMessage) => boolean): HTMLLIElement {
  if (entry.kind === 'message') return messageNode(entry.msg, me, isGuest(entry.msg));
  const li = el('li', `notice ${entry.tone}`);
  li.append(timeNode(entry.ts), el('span', 'body', entry.text));
  return li;
}

/** A spoken summary for the aria-live region: short, and without the clock. */
export function announce(msg: ChatMessage, where: string, guest: boolean): string {
  const from = guest ? `${msg.from} (guest)` : msg.from;
  return clean(msg.action ? `${where}: * ${from} ${msg.text}` : `${where}: ${from}: ${msg.text}`).slice(0, 300);
}

export function conversationLabel(c: Conversation): string {
  return c.kind === 'room' ? `#${c.name}` : `@${c.name}`;
}

export interface RowActions {
  open(c: Conversation): void;
  leave(c: Conversation): void;
}

export function conversationRow(c: Conversation, active: boolean, online: boolean | undefined, act: RowActions): HTMLLIElement {
  const li = el('li', `conv${active ? ' active' : ''}`);
  const open = el('button', 'conv-open');
  open.type = 'button';
  open.dataset.key = c.key;
  if (active) open.setAttribute('aria-current', 'true');
  if (c.kind === 'dm') open.append(el('span', `dot${online ? ' on' : ''}`));
  open.append(el('span', 'conv-name', conversationLabel(c)));
  const unreadText = c.unread > 0 ? `, ${c.unread} unread` : '';
  open.setAttribute('aria-label', `${conversationLabel(c)}${unreadText}`);
  if (c.unread > 0) open.append(el('span', 'badge', c.unread > 99 ? '99+' : String(c.unread)));
  open.addEventListener('click', () => act.open(c));
  li.append(open);
  const close = el('button', 'conv-close', '×');
  close.type = 'button';
  close.title = c.kind === 'room' ? `Leave #${c.name}` : `Close conversation with ${c.name}`;
  close.setAttribute('aria-label', close.title);
  close.addEventListener('click', () => act.leave(c));
  li.append(close);
  return li;
}

export function memberRow(name: string, online: boolean, isMe: boolean, guest: boolean, dm: (name: string) => void): HTMLLIElement {
  const li = el('li', `member${guest ? ' guest' : ''}`);
  const b = el('button', 'member-open');
  b.type = 'button';
  b.dataset.name = name;
  b.append(el('span', `dot${online ? ' on' : ''}`), el('span', 'member-name', isMe ? `${name} (you)` : name));
  if (guest) b.append(guestBadge());
  const state = `${guest ? 'guest, ' : ''}${online ? 'online' : 'offline'}`;
  b.setAttribute('aria-label', clean(isMe ? `${name} (you), ${state}` : `Message ${name}, ${state}`));
  b.addEventListener('click', () => dm(name));
  li.append(b);
  return li;
}
