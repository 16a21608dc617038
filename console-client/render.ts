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

/** Replaces each unsafe character with a visible, inert spelling: ESC -> ^[, U+202E -> <U+202E>. */
export function neutralise(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    if (code < 0x20) return '^' + String.fromCharCode(code + 0x40);
    if (code === 0x7f) return '^?';
    return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
  });
}

export interface Style {
  dim(s: string): string;
  bold(s: string): string;
  nick(s: string): string;
  red(s: string): string;
}

const plain: Style = { dim: (s) => s, bold: (s) => s, nick: (s) => s, red: (s) => s };
const NICK_COLOURS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];
const sgr = (n: number, s: string): string => `\u001b[${n}m${s}\u001b[0m`;
const ansi: Style = {
  dim: (s) => sgr(2, s),
  bold: (s) => sgr(1, s),
  red: (s) => sgr(31, s),
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
  return neutralise(name) + (guest ? GUEST_MARK : '');
}

/** `guest`: the sender is to be marked as a guest (default: as the message says). */
export function formatMessage(m: ChatMessage, me: string | undefined, currentRoom: string | undefined, st: Style, guest = m.guest === true): string {
  const t = st.dim(`[${clock(m.ts)}]`);
  const from = userName(m.from, guest);
  if (m.room === undefined) {
    const mine = me !== undefined && m.from.toLowerCase() === me.toLowerCase();
    const who = mine ? `-> *${neutralise(m.to ?? '')}*` : st.bold(`*${from}*`);
    return `${t} ${m.action ? `${who} * ${from} ${body(m.text)}` : `${who} ${body(m.text)}`}`;
  }
  const where = currentRoom !== undefined && m.room.toLowerCase() === currentRoom.toLowerCase() ? '' : `[#${neutralise(m.room)}] `;
  const nick = st.nick(neutralise(m.from)) + (guest ? GUEST_MARK : '');
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
