// How events look in a terminal. Everything another person controls (names, text, room names) goes
// through `neutralise` first, so nobody can move the cursor, clear the screen, retitle the window or
// reorder text with bidi controls on someone else's terminal.
//
// Format (stable; tests and scripts rely on it):
//   [HH:MM] <alice> text                 message in the current room
//   [HH:MM] <bob~> text                  ... from a guest (no account): ~ follows the name everywhere
//   [HH:MM] [#room] <alice> text         message in another joined room
//   [HH:MM] * alice waves                /me in the current room ([#room] prefix elsewhere)
//   [HH:MM] *alice* text                 direct message to you
//   [HH:MM] -> *bob* text                direct message you sent
//   [HH:MM] -- alice joined #room        notices (joined, left, server, connection)
//   [HH:MM] !! code: message             errors
// Continuation lines of a multi-line message are indented by four spaces.
import type { ChatMessage } from '../protocol/messages.js';

/** Follows a guest's name wherever one is shown. Names cannot contain it, so it is never part of one. */
export const GUEST_MARK = '~';

/** C0 (except tab), DEL, C1, and the Unicode bidi embedding/override/isolate controls. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Invisible characters that can make one name look like another, or hide what starts a line: zero-width
 * spaces and joiners, word joiner and invisible operators, the BOM, soft hyphen, Mongolian vowel
 * separator. Inside ordinary text some are legitimate (a ZWJ builds an emoji), so they are spelled out
 * only in names and at the start of a line.
 */
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]/g;
// eslint-disable-next-line no-control-regex
const LEADING_INVISIBLE = /^[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]+/;

function spell(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x20) return '^' + String.fromCharCode(code + 0x40);
  if (code === 0x7f) return '^?';
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/**
 * Replaces each unsafe character with a visible, inert spelling: ESC -> ^[, U+202E -> <U+202E>; and
 * invisible ones at the start (where they could pass a line off as something else).
 */
export function neutralise(s: string): string {
  return s.replace(UNSAFE, spell).replace(LEADING_INVISIBLE, (run) => [...run].map(spell).join(''));
}

/** For names (users, rooms): every invisible character is spelled out, wherever it is. */
export function neutraliseName(s: string): string {
  return s.replace(UNSAFE, spell).replace(INVISIBLE, spell);
}

export interface Style {
  dim(s: string): string;
  bold(s: string): string;
  nick(s: string): string;
  red(s: string): string;
  /** A line that mentions you. */
  hilite(s: string): string;
}

const plain: Style = { dim: (s) => s, bold: (s) => s, nick: (s) => s, red: (s) => s, hilite: (s) => s };
const NICK_COLOURS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];
const sgr = (n: number, s: string): string => `\u001b[${n}m${s}\u001b[0m`;
const ansi: Style = {
  dim: (s) => sgr(2, s),
  bold: (s) => sgr(1, s),
  red: (s) => sgr(31, s),
  hilite: (s) => `\u001b[1;33m${s}\u001b[0m`,
  nick: (s) => {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
    return sgr(NICK_COLOURS[h % NICK_COLOURS.length]!, s);
  },
};

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function pickStyle(isTty: boolean, env: NodeJS.ProcessEnv): Style {
  return isTty && !env.NO_COLOR ? ansi : plain;
}

export function clock(ts: string | Date): string {
  const d = typeof ts === 'string' ? new Date(ts) : ts;
  if (Number.isNaN(d.getTime())) return '--:--';
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function body(text: string): string {
  return text
    .split('\n')
    .map((line) => neutralise(line))
    .join('\n    ');
}

/** A user's name as shown: neutralised, and marked when a guest. */
export function userName(name: string, guest: boolean | undefined): string {
  return neutraliseName(name) + (guest ? GUEST_MARK : '');
}

/** `guest`: the sender is to be marked as a guest (default: as the message says); `mention`: it names you. */
export function formatMessage(m: ChatMessage, me: string | undefined, currentRoom: string | undefined, st: Style, guest = m.guest === true, mention = false): string {
  const line = formatMessageLine(m, me, currentRoom, st, guest);
  if (!mention) return line;
  // The body after the sender, highlighted (the time and the nick keep their own colours).
  const at = line.indexOf('> ') >= 0 && m.room !== undefined && !m.action ? line.indexOf('> ') + 2 : line.indexOf('] ') + 2;
  return line.slice(0, at) + st.hilite(line.slice(at));
}

/** True when `text` names `me` as a word (case-insensitively), the way irssi highlights. */
export function mentions(text: string, me: string | undefined): boolean {
  if (me === undefined || me === '') return false;
  const esc = me.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_-])${esc}($|[^A-Za-z0-9_-])`, 'i').test(text);
}

function formatMessageLine(m: ChatMessage, me: string | undefined, currentRoom: string | undefined, st: Style, guest: boolean): string {
  const t = st.dim(`[${clock(m.ts)}]`);
  const from = userName(m.from, guest);
  if (m.room === undefined) {
    const mine = me !== undefined && m.from.toLowerCase() === me.toLowerCase();
    const who = mine ? `-> *${neutraliseName(m.to ?? '')}*` : st.bold(`*${from}*`);
    return `${t} ${m.action ? `${who} * ${from} ${body(m.text)}` : `${who} ${body(m.text)}`}`;
  }
  const where = currentRoom !== undefined && m.room.toLowerCase() === currentRoom.toLowerCase() ? '' : `[#${neutraliseName(m.room)}] `;
  const nick = st.nick(neutraliseName(m.from)) + (guest ? GUEST_MARK : '');
  if (m.action) return `${t} ${where}* ${nick} ${body(m.text)}`;
  return `${t} ${where}<${nick}> ${body(m.text)}`;
}

export function formatNotice(text: string, st: Style, ts: string | Date = new Date()): string {
  return `${st.dim(`[${clock(ts)}]`)} ${st.dim('--')} ${body(text)}`;
}

export function formatError(code: string, message: string, st: Style, retryAfterMs?: number): string {
  const wait = retryAfterMs === undefined ? '' : ` (try again in ${waitText(retryAfterMs)})`;
  return `${st.dim(`[${clock(new Date())}]`)} ${st.red('!!')} ${neutralise(code)}: ${body(message)}${wait}`;
}

/** 1500 -> "1.5 s", 42000 -> "42 s", 125000 -> "2 min 5 s". */
export function waitText(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${Math.ceil(s * 10) / 10} s`;
  const whole = Math.ceil(s);
  return whole < 60 ? `${whole} s` : `${Math.floor(whole / 60)} min${whole % 60 ? ` ${whole % 60} s` : ''}`;
}
