// The slash commands, declared in one table: name, usage, help, and how the arguments become a
// request (or a local action). Parsing and validation live here; main.ts only dispatches.
import type { Outbound } from '../protocol/client-core.js';
import { LIMITS } from '../protocol/messages.js';
import { searchTerms } from '../protocol/search-terms.js';
import { isValidName } from '../protocol/validate.js';
import { GUEST_MARK } from './render.js';
import { COMMAND_ALIASES } from '../protocol/command-aliases.js';

export interface CommandContext {
  /** The room plain lines go to (the current window's, when it is a room's). */
  current: string | undefined;
  /** The other party, when the current window is a direct conversation's: plain lines go to them. */
  query?: string | undefined;
  /** Oldest seq shown in the current room, for paging back. */
  oldestShown: number | undefined;
  /** The last search answered, with the cursor of its next (older) page when it has one. */
  lastSearch?: LastSearch | undefined;
}

/** What `/search` alone continues: the same query and scope, below `next`. */
export interface LastSearch {
  query: string;
  room?: string;
  with?: string;
  next: number | undefined;
}

export type CommandResult =
  | { kind: 'request'; req: Outbound; switchTo?: string }
  | { kind: 'help' }
  | { kind: 'quit' }
  /** Account commands: main.ts gets the passwords (asked without echo, or from --password-file). */
  | { kind: 'register' }
  | { kind: 'password' }
  | { kind: 'logout'; all: boolean }
  /** Windows (terminal only): switch to window N; open a conversation window; close the current one. */
  | { kind: 'window'; n: number }
  | { kind: 'query'; name: string }
  /** Hide a user's messages on this client; `name` undefined lists who is hidden. */
  | { kind: 'ignore'; name: string | undefined }
  | { kind: 'unignore'; name: string }
  /** `code` is what went wrong (usage, unknown command, not in a room, ...), `message` the detail. */
  | { kind: 'usage'; code: string; message: string };

interface Command {
  usage: string;
  help: string;
  run(args: string, ctx: CommandContext): CommandResult;
}

/** `/users *` asks for one page: the server may know more users than a terminal line can hold. */
const USERS_PAGE = 100;

/** The command was typed wrong: the message is the right form, shown once as "usage: /msg NAME TEXT". */
const usage = (form: string): CommandResult => ({ kind: 'usage', code: 'usage', message: form });
/** Anything else that stops a command: `code` says what. */
const problem = (code: string, message: string): CommandResult => ({ kind: 'usage', code, message });
const NOT_IN_ROOM = (): CommandResult => problem('not in a room', '/join ROOM first, or switch to a room\'s window');
const request = (req: Outbound, switchTo?: string): CommandResult =>
  switchTo === undefined ? { kind: 'request', req } : { kind: 'request', req, switchTo };

function roomArg(args: string, ctx: CommandContext, optional: boolean, form: string): string | CommandResult {
  const room = args.trim().replace(/^#/, '') || (optional ? ctx.current : undefined);
  if (room === undefined) return optional ? NOT_IN_ROOM() : usage(form);
  if (!isValidName(room)) return problem('bad room', `"${room}" is not a room name: 1-32 letters, digits, _ - or .`);
  return room;
}

function nameArg(args: string, form: string): string | CommandResult {
  const name = args.trim();
  if (name === '' || /\s/.test(name)) return usage(form);
  if (!isValidName(name)) return problem('bad name', `"${name}" is not a user name`);
  return name;
}

const join: Command = {
  usage: '/join ROOM',
  help: 'join a room (created if new) in a window of its own; also /j',
  run(args, ctx) {
    const room = roomArg(args, ctx, false, '/join ROOM');
    return typeof room === 'string' ? request({ type: 'join', room }, room) : room;
  },
};
const leave: Command = {
  usage: '/leave [ROOM]',
  help: 'leave a room (default: the current one) and close its window; also /part',
  run(args, ctx) {
    const room = roomArg(args.trim().split(/\s+/)[0] ?? '', ctx, true, '/leave [ROOM]');
    return typeof room === 'string' ? request({ type: 'leave', room }) : room;
  },
};
const users: Command = {
  usage: '/users [ROOM]',
  help: `who is in a room; /users * lists the first ${USERS_PAGE} users the server knows; also /w`,
  run(args, ctx) {
    if (args.trim() === '*') return request({ type: 'who', limit: USERS_PAGE });
    const room = roomArg(args, ctx, true, '/users [ROOM]');
    return typeof room === 'string' ? request({ type: 'who', room }) : room;
  },
};
const msg: Command = {
  usage: '/msg NAME TEXT',
  help: 'send a direct message (delivered later if they are offline); also /m',
  run(args) {
    const m = /^\s*(\S+)\s+([\s\S]+)$/.exec(args);
    if (!m) return usage('/msg NAME TEXT');
    if (!isValidName(m[1]!)) return problem('bad name', `"${m[1]}" is not a user name`);
    return request({ type: 'dm', to: m[1]!, text: m[2]! });
  },
};
const query: Command = {
  usage: '/query NAME',
  help: 'open a window for a direct conversation with NAME: plain lines there go to them; also /q',
  run(args) {
    const name = nameArg(args, '/query NAME');
    return typeof name === 'string' ? { kind: 'query', name } : name;
  },
};
const whois: Command = {
  usage: '/whois NAME',
  help: 'whether NAME is online, an account, away, and in which rooms; also /wi',
  run(args) {
    const name = nameArg(args, '/whois NAME');
    return typeof name === 'string' ? request({ type: 'whois', name }) : name;
  },
};
const names: Command = {
  usage: '/names [ROOM]',
  help: "the members of a room (default: the current one), with who is away; also /n",
  run(args, ctx) {
    const room = roomArg(args, ctx, true, '/names [ROOM]');
    return typeof room === 'string' ? request({ type: 'who', room }) : room;
  },
};
const rooms: Command = { usage: '/rooms', help: 'list rooms and how many are in each; also /list', run: () => request({ type: 'rooms' }) };
const topic: Command = {
  usage: '/topic [TEXT]',
  help: "show the current room's topic, or set it to TEXT (/topic -delete clears it); also /t",
  run(args, ctx) {
    if (ctx.current === undefined) return NOT_IN_ROOM();
    const text = args.trim();
    if (text === '') return request({ type: 'topic', room: ctx.current });
    if (text === '-delete') return request({ type: 'topic', room: ctx.current, text: '' });
    if (/[\r\n]/.test(text) || [...text].length > LIMITS.topicMaxChars) return problem('bad topic', `a topic is one line of at most ${LIMITS.topicMaxChars} characters`);
    return request({ type: 'topic', room: ctx.current, text });
  },
};
const away: Command = {
  usage: '/away [TEXT]',
  help: 'mark yourself away with TEXT shown to others; /away alone marks you back',
  run(args) {
    const text = args.trim();
    if (text === '') return request({ type: 'away' });
    if ([...text].length > LIMITS.awayMaxChars) return problem('bad away', `an away message is at most ${LIMITS.awayMaxChars} characters`);
    return request({ type: 'away', text });
  },
};
const windowCmd: Command = {
  usage: '/window N',
  help: 'switch to window N (Alt-1..Alt-9 and Alt-0 for 10 do the same)',
  run(args) {
    const a = args.trim().replace(/^goto\s+/i, '');
    const n = Number(a);
    if (a === '' || !Number.isInteger(n) || n < 1) return usage('/window N');
    return { kind: 'window', n };
  },
};
const ignore: Command = {
  usage: '/ignore [NAME]',
  help: "hide NAME's messages on this client (they are not told); /ignore alone lists whom",
  run(args) {
    if (args.trim() === '') return { kind: 'ignore', name: undefined };
    const name = nameArg(args, '/ignore [NAME]');
    return typeof name === 'string' ? { kind: 'ignore', name } : name;
  },
};
const unignore: Command = {
  usage: '/unignore NAME',
  help: "show NAME's messages again",
  run(args) {
    const name = nameArg(args, '/unignore NAME');
    return typeof name === 'string' ? { kind: 'unignore', name } : name;
  },
};

const search: Command = {
  usage: '/search [-here] WORDS',
  help: 'find messages with all these words in your rooms and DMs (-here: this window only), newest first; /search alone shows older matches',
  run(args, ctx) {
    let words = args.trim();
    if (words === '') {
      const last = ctx.lastSearch;
      if (!last) return usage('/search [-here] WORDS');
      if (last.next === undefined) return problem('no more', `no older matches for "${last.query}"`);
      const { next, ...again } = last;
      return request({ type: 'search', ...again, before: next });
    }
    let scope: { room: string } | { with: string } | object = {};
    if (/^-here(\s|$)/.test(words)) {
      words = words.slice(5).trim();
      if (ctx.current !== undefined) scope = { room: ctx.current };
      else if (ctx.query !== undefined) scope = { with: ctx.query };
      else return NOT_IN_ROOM();
    }
    // The server refuses these too; said here it costs no round trip and reads better.
    const terms = searchTerms(words).length;
    if (terms === 0) return usage('/search [-here] WORDS (letters or digits to look for)');
    if (words.length > LIMITS.searchQueryMaxChars || terms > LIMITS.searchMaxTerms) {
      return problem('bad search', `at most ${LIMITS.searchMaxTerms} words and ${LIMITS.searchQueryMaxChars} characters`);
    }
    return request({ type: 'search', query: words, ...scope });
  },
};

export const COMMANDS: Record<string, Command> = {
  join,
  leave,
  rooms,
  users,
  names,
  msg,
  query,
  whois,
  topic,
  away,
  me: {
    usage: '/me ACTION',
    help: 'an action in the current room: * you ACTION',
    run(args, ctx) {
      if (args.trim() === '') return usage('/me ACTION');
      if (ctx.current === undefined && ctx.query !== undefined) return request({ type: 'dm', to: ctx.query, text: args.trim(), action: true });
      if (ctx.current === undefined) return NOT_IN_ROOM();
      return request({ type: 'say', room: ctx.current, text: args.trim(), action: true });
    },
  },
  history: {
    usage: '/history [N]',
    help: 'show N (default 20) messages of the current room or conversation older than the oldest on screen',
    run(args, ctx) {
      const where = ctx.current !== undefined ? { room: ctx.current } : ctx.query !== undefined ? { with: ctx.query } : undefined;
      if (where === undefined) return NOT_IN_ROOM();
      const n = args.trim() === '' ? 20 : Number(args.trim());
      if (!Number.isInteger(n) || n < 1 || n > LIMITS.maxHistory) return problem('usage', `/history [N], N from 1 to ${LIMITS.maxHistory}`);
      const req: Outbound = ctx.oldestShown === undefined ? { type: 'history', ...where, limit: n } : { type: 'history', ...where, limit: n, before: ctx.oldestShown };
      return request(req);
    },
  },
  search,
  window: windowCmd,
  ignore,
  unignore,
  time: { usage: '/time', help: "the server's time", run: () => request({ type: 'time' }) },
  register: {
    usage: '/register',
    help: 'make your name an account (asks for a password twice); this device stays logged in',
    run: (args) => (args.trim() === '' ? { kind: 'register' } : usage('/register (the password is asked for, never typed on the line)')),
  },
  password: {
    usage: '/password',
    help: "change your account's password; your other devices are logged out",
    run: (args) => (args.trim() === '' ? { kind: 'password' } : usage('/password (the passwords are asked for, never typed on the line)')),
  },
  logout: {
    usage: '/logout [all]',
    help: "log this device out and quit; with all, every device's login ends",
    run(args) {
      const a = args.trim().toLowerCase();
      if (a === '' || a === 'all') return { kind: 'logout', all: a === 'all' };
      return usage('/logout or /logout all');
    },
  },
  help: { usage: '/help', help: 'this list', run: () => ({ kind: 'help' }) },
  quit: { usage: '/quit', help: 'leave Parley', run: () => ({ kind: 'quit' }) },
};

/** The short names irssi users type: each runs the command it names (shared with the browser). */
export const ALIASES: Readonly<Record<string, string>> = COMMAND_ALIASES;

/** Every command and alias, for tab completion. */
export function commandNames(): string[] {
  return [...Object.keys(COMMANDS), ...Object.keys(ALIASES)].sort();
}

/** Turns one input line into what to do. Plain text goes to the current room (or conversation). */
export function interpret(line: string, ctx: CommandContext): CommandResult | undefined {
  if (line.trim() === '') return undefined;
  if (line.startsWith('/') && !line.startsWith('//')) {
    const m = /^\/(\S+)\s?([\s\S]*)$/.exec(line);
    if (!m) return problem('unknown command', '"/" alone; /help lists the commands, and // starts a line with a slash');
    const word = m[1]!.toLowerCase();
    const cmd = COMMANDS[ALIASES[word] ?? word];
    if (!cmd) return problem('unknown command', `/${m[1]}; /help lists them`);
    return cmd.run(m[2]!, ctx);
  }
  // "//text" sends "/text": a way to start a message with a slash.
  const text = line.startsWith('//') ? line.slice(1) : line;
  if (ctx.current === undefined && ctx.query !== undefined) return request({ type: 'dm', to: ctx.query, text });
  if (ctx.current === undefined) return NOT_IN_ROOM();
  return request({ type: 'say', room: ctx.current, text });
}

export function helpText(): string {
  return (
    Object.values(COMMANDS)
      .map((c) => `  ${c.usage.padEnd(16)} ${c.help}`)
      .join('\n') +
    `\n  Names marked ${GUEST_MARK} are guests: no account, anyone may take the name once they leave.` +
    '\n  On a terminal: Tab completes names, commands and #rooms; Alt-1..9 switch windows.'
  );
}
