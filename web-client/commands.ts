// Turns what was typed into the composer into an intent. Pure: no DOM, no socket, so it is easy to
// reason about and the app decides what each intent means for the current conversation.
//
// One vocabulary with the console (console-client/commands.ts): the same command, or irssi alias,
// means the same thing in both clients (test/web/commands.test.ts holds them together). Commands that
// are about a terminal or a browser only say so rather than being unknown.
import { LIMITS } from '../protocol/messages.js';
import { isValidName } from '../protocol/validate.js';
import { COMMAND_ALIASES } from '../protocol/command-aliases.js';

export type Command =
  | { kind: 'say'; text: string; action: boolean }
  | { kind: 'join'; room: string }
  | { kind: 'leave'; room: string | undefined }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'query'; name: string }
  /** `room` undefined: the current room's members. */
  | { kind: 'names'; room: string | undefined }
  /** One page of every user the server knows (`/users *`). */
  | { kind: 'users' }
  | { kind: 'rooms' }
  | { kind: 'whois'; name: string }
  /** `text` undefined asks; "" clears. */
  | { kind: 'topic'; text: string | undefined }
  | { kind: 'away'; text: string | undefined }
  | { kind: 'history'; count: number }
  | { kind: 'window'; n: number }
  | { kind: 'ignore'; name: string | undefined }
  | { kind: 'unignore'; name: string }
  | { kind: 'search'; query: string }
  | { kind: 'clock'; clock24: boolean }
  | { kind: 'time' }
  | { kind: 'register' }
  | { kind: 'help' }
  | { kind: 'logout'; all: boolean }
  | { kind: 'quit' }
  | { kind: 'invalid'; message: string };

interface Spec {
  usage: string;
  help: string;
  run(rest: string): Command;
}

const invalid = (message: string): Command => ({ kind: 'invalid', message });
const usage = (form: string): Command => invalid(`Usage: ${form}`);

function room(rest: string): string | undefined {
  const r = rest.trim().split(/\s+/)[0]!.replace(/^#/, '');
  return r === '' ? undefined : r;
}

function oneName(rest: string, form: string, then: (name: string) => Command): Command {
  const name = rest.trim();
  if (name === '' || /\s/.test(name)) return usage(form);
  if (!isValidName(name)) return invalid(`"${name}" is not a user name`);
  return then(name);
}

const COMMANDS: Record<string, Spec> = {
  join: {
    usage: '/join ROOM',
    help: 'join (or create) a room; also /j',
    run(rest) {
      const r = room(rest);
      if (r === undefined || !isValidName(r)) return usage('/join ROOM (1-32 letters, digits, _ - .)');
      return { kind: 'join', room: r };
    },
  },
  leave: {
    usage: '/leave [ROOM]',
    help: 'leave this room or the one named; also /part',
    run(rest) {
      const r = room(rest);
      if (r !== undefined && !isValidName(r)) return invalid(`"${r}" is not a room name`);
      return { kind: 'leave', room: r };
    },
  },
  rooms: { usage: '/rooms', help: 'the rooms on this server; also /list', run: () => ({ kind: 'rooms' }) },
  users: {
    usage: '/users [ROOM]',
    help: 'who is in this room (or ROOM); /users * lists the first 100 users the server knows; also /w, /who',
    run(rest) {
      if (rest.trim() === '*') return { kind: 'users' };
      const r = room(rest);
      if (r !== undefined && !isValidName(r)) return invalid(`"${r}" is not a room name`);
      return { kind: 'names', room: r };
    },
  },
  names: {
    usage: '/names [ROOM]',
    help: 'the members of this room (or ROOM), with who is away; also /n',
    run(rest) {
      const r = room(rest);
      if (r !== undefined && !isValidName(r)) return invalid(`"${r}" is not a room name`);
      return { kind: 'names', room: r };
    },
  },
  msg: {
    usage: '/msg NAME TEXT',
    help: 'send a direct message; also /m',
    run(rest) {
      const m = /^\s*(\S+)\s+([\s\S]+)$/.exec(rest);
      if (!m || !isValidName(m[1]!)) return usage('/msg NAME TEXT');
      return { kind: 'msg', to: m[1]!, text: m[2]! };
    },
  },
  query: { usage: '/query NAME', help: 'open the direct conversation with NAME; also /q', run: (rest) => oneName(rest, '/query NAME', (name) => ({ kind: 'query', name })) },
  whois: { usage: '/whois NAME', help: 'whether NAME is online, an account, away, and in which rooms; also /wi', run: (rest) => oneName(rest, '/whois NAME', (name) => ({ kind: 'whois', name })) },
  topic: {
    usage: '/topic [TEXT]',
    help: "show this room's topic, or set it (/topic -delete clears it); also /t",
    run(rest) {
      const text = rest.trim();
      if (text === '') return { kind: 'topic', text: undefined };
      if (text === '-delete') return { kind: 'topic', text: '' };
      if (/[\r\n]/.test(text) || [...text].length > LIMITS.topicMaxChars) return invalid(`A topic is one line of at most ${LIMITS.topicMaxChars} characters.`);
      return { kind: 'topic', text };
    },
  },
  away: {
    usage: '/away [TEXT]',
    help: 'mark yourself away with TEXT shown to others; /away alone marks you back',
    run(rest) {
      const text = rest.trim();
      if (text === '') return { kind: 'away', text: undefined };
      if ([...text].length > LIMITS.awayMaxChars) return invalid(`An away message is at most ${LIMITS.awayMaxChars} characters.`);
      return { kind: 'away', text };
    },
  },
  me: {
    usage: '/me ACTION',
    help: 'say something in the third person: * you ACTION',
    run: (rest) => (rest.trim() === '' ? usage('/me ACTION') : { kind: 'say', text: rest.trim(), action: true }),
  },
  history: {
    usage: '/history [N]',
    help: 'show N (default 20) messages older than the oldest on screen',
    run(rest) {
      const n = rest.trim() === '' ? 20 : Number(rest.trim());
      if (!Number.isInteger(n) || n < 1 || n > LIMITS.maxHistory) return usage(`/history [N], N from 1 to ${LIMITS.maxHistory}`);
      return { kind: 'history', count: n };
    },
  },
  window: {
    usage: '/window N',
    help: 'open the Nth conversation of the sidebar (rooms first); also /win',
    run(rest) {
      const a = rest.trim().replace(/^goto\s+/i, '');
      const n = Number(a);
      if (a === '' || !Number.isInteger(n) || n < 1) return usage('/window N');
      return { kind: 'window', n };
    },
  },
  ignore: {
    usage: '/ignore [NAME]',
    help: "hide NAME's messages in this browser (they are not told); /ignore alone lists whom",
    run: (rest) => (rest.trim() === '' ? { kind: 'ignore', name: undefined } : oneName(rest, '/ignore [NAME]', (name) => ({ kind: 'ignore', name }))),
  },
  unignore: { usage: '/unignore NAME', help: "show NAME's messages again", run: (rest) => oneName(rest, '/unignore NAME', (name) => ({ kind: 'unignore', name })) },
  search: {
    usage: '/search WORDS',
    help: 'search the messages you can read; the matches are highlighted',
    run: (rest) => (rest.trim() === '' ? usage('/search WORDS') : { kind: 'search', query: rest.trim() }),
  },
  clock: {
    usage: '/clock [24|locale]',
    help: 'times as 24-hour HH:MM (as in the console), or as your locale writes them',
    run(rest) {
      const a = rest.trim().toLowerCase();
      if (a === '24') return { kind: 'clock', clock24: true };
      if (a === 'locale' || a === '12' || a === 'auto') return { kind: 'clock', clock24: false };
      return usage('/clock 24 or /clock locale');
    },
  },
  time: { usage: '/time', help: 'the server clock', run: () => ({ kind: 'time' }) },
  register: { usage: '/register', help: 'make your name an account (the form asks for the password)', run: () => ({ kind: 'register' }) },
  password: {
    usage: '/password',
    help: "change your account's password (in the console client for now)",
    run: () => invalid('Changing the password is done in the console client for now: parley --name YOU, then /password.'),
  },
  logout: {
    usage: '/logout [all]',
    help: 'sign out on this device (/logout all: on every device); also /signout',
    run(rest) {
      const a = rest.trim().toLowerCase();
      if (a !== '' && a !== 'all') return usage('/logout or /logout all');
      return { kind: 'logout', all: a === 'all' };
    },
  },
  help: { usage: '/help', help: 'this list', run: () => ({ kind: 'help' }) },
  quit: { usage: '/quit', help: 'leave Parley: disconnect this page (reload to come back); also /exit', run: () => ({ kind: 'quit' }) },
};

/** The console's aliases, and a few browser habits. */
export const ALIASES: Record<string, string> = {
  ...COMMAND_ALIASES,
  dm: 'msg',
  signout: 'logout',
  '?': 'help',
};

export function commandNames(): string[] {
  return [...Object.keys(COMMANDS), ...Object.keys(ALIASES)];
}

export const HELP: readonly string[] = [
  ...Object.values(COMMANDS).map((c) => `${c.usage}: ${c.help}`),
  'Enter sends, Shift+Enter starts a new line, //text sends text starting with /; Up in an empty box edits your last message',
  'Messages: arrow keys in the message list pick one; R reacts, E edits, Delete deletes (twice), Escape goes back',
];

export function parseInput(raw: string): Command | undefined {
  const text = raw.replace(/\s+$/, '');
  if (text.trim() === '') return undefined;
  if (!text.startsWith('/')) return { kind: 'say', text, action: false };
  // A doubled slash is an escape so people can still talk about paths and commands.
  if (text.startsWith('//')) return { kind: 'say', text: text.slice(1), action: false };
  const m = /^\/(\S+)(?:[ \t]+([\s\S]*))?$/.exec(text);
  const word = (m?.[1] ?? '').toLowerCase();
  const spec = COMMANDS[ALIASES[word] ?? word];
  if (!spec) return invalid(`Unknown command /${word}. Type /help for the list.`);
  return spec.run(m?.[2] ?? '');
}
