// The slash commands, declared in one table: name, usage, help, and how the arguments become a
// request (or a local action). Parsing and validation live here; main.ts only dispatches.
import type { Outbound } from '../protocol/client-core.js';
import { LIMITS } from '../protocol/messages.js';
import { isValidName } from '../protocol/validate.js';
import { GUEST_MARK } from './render.js';

export interface CommandContext {
  /** The room plain lines go to. */
  current: string | undefined;
  /** Oldest seq shown in the current room, for paging back. */
  oldestShown: number | undefined;
}

export type CommandResult =
  | { kind: 'request'; req: Outbound; switchTo?: string }
  | { kind: 'help' }
  | { kind: 'quit' }
  /** Account commands: main.ts gets the passwords (asked without echo, or from --password-file). */
  | { kind: 'register' }
  | { kind: 'password' }
  | { kind: 'logout'; all: boolean }
  | { kind: 'usage'; message: string };

interface Command {
  usage: string;
  help: string;
  run(args: string, ctx: CommandContext): CommandResult;
}

/** `/users *` asks for one page: the server may know more users than a terminal line can hold. */
const USERS_PAGE = 100;

const usage = (message: string): CommandResult => ({ kind: 'usage', message });
const request = (req: Outbound, switchTo?: string): CommandResult =>
  switchTo === undefined ? { kind: 'request', req } : { kind: 'request', req, switchTo };

function roomArg(args: string, ctx: CommandContext, optional: boolean): string | CommandResult {
  const room = args.trim().replace(/^#/, '') || (optional ? ctx.current : undefined);
  if (room === undefined) return usage(optional ? 'not in a room; /join ROOM first' : 'which room?');
  if (!isValidName(room)) return usage(`"${room}" is not a room name: 1-32 letters, digits, _ - or .`);
  return room;
}

export const COMMANDS: Record<string, Command> = {
  join: {
    usage: '/join ROOM',
    help: 'join a room (created if new) and talk there',
    run(args, ctx) {
      const room = roomArg(args, ctx, false);
      return typeof room === 'string' ? request({ type: 'join', room }, room) : room;
    },
  },
  leave: {
    usage: '/leave [ROOM]',
    help: 'leave a room (default: the current one)',
    run(args, ctx) {
      const room = roomArg(args, ctx, true);
      return typeof room === 'string' ? request({ type: 'leave', room }) : room;
    },
  },
  rooms: { usage: '/rooms', help: 'list rooms and how many are in each', run: () => request({ type: 'rooms' }) },
  users: {
    usage: '/users [ROOM]',
    help: `who is in a room; /users * lists the first ${USERS_PAGE} users the server knows`,
    run(args, ctx) {
      if (args.trim() === '*') return request({ type: 'who', limit: USERS_PAGE });
      const room = roomArg(args, ctx, true);
      return typeof room === 'string' ? request({ type: 'who', room }) : room;
    },
  },
  msg: {
    usage: '/msg NAME TEXT',
    help: 'send a direct message (delivered later if they are offline)',
    run(args) {
      const m = /^\s*(\S+)\s+([\s\S]+)$/.exec(args);
      if (!m) return usage('usage: /msg NAME TEXT');
      if (!isValidName(m[1]!)) return usage(`"${m[1]}" is not a user name`);
      return request({ type: 'dm', to: m[1]!, text: m[2]! });
    },
  },
  me: {
    usage: '/me ACTION',
    help: 'an action in the current room: * you ACTION',
    run(args, ctx) {
      if (ctx.current === undefined) return usage('not in a room; /join ROOM first');
      if (args.trim() === '') return usage('usage: /me ACTION');
      return request({ type: 'say', room: ctx.current, text: args.trim(), action: true });
    },
  },
  history: {
    usage: '/history [N]',
    help: 'show N (default 20) older messages of the current room',
    run(args, ctx) {
      if (ctx.current === undefined) return usage('not in a room; /join ROOM first');
      const n = args.trim() === '' ? 20 : Number(args.trim());
      if (!Number.isInteger(n) || n < 1 || n > LIMITS.maxHistory) return usage(`N must be 1-${LIMITS.maxHistory}`);
      const req: Outbound = ctx.oldestShown === undefined ? { type: 'history', room: ctx.current, limit: n } : { type: 'history', room: ctx.current, limit: n, before: ctx.oldestShown };
      return request(req);
    },
  },
  time: { usage: '/time', help: "the server's time", run: () => request({ type: 'time' }) },
  register: {
    usage: '/register',
    help: 'make your name an account (asks for a password twice); this device stays logged in',
    run: (args) => (args.trim() === '' ? { kind: 'register' } : usage('usage: /register (the password is asked for, never typed on the line)')),
  },
  password: {
    usage: '/password',
    help: "change your account's password; your other devices are logged out",
    run: (args) => (args.trim() === '' ? { kind: 'password' } : usage('usage: /password (the passwords are asked for, never typed on the line)')),
  },
  logout: {
    usage: '/logout [all]',
    help: "log this device out and quit; with all, every device's login ends",
    run(args) {
      const a = args.trim().toLowerCase();
      if (a === '' || a === 'all') return { kind: 'logout', all: a === 'all' };
      return usage('usage: /logout or /logout all');
    },
  },
  help: { usage: '/help', help: 'this list', run: () => ({ kind: 'help' }) },
  quit: { usage: '/quit', help: 'leave Parley', run: () => ({ kind: 'quit' }) },
};

/** Turns one input line into what to do. Plain text goes to the current room. */
export function interpret(line: string, ctx: CommandContext): CommandResult | undefined {
  if (line.trim() === '') return undefined;
  if (line.startsWith('/') && !line.startsWith('//')) {
    const m = /^\/(\S+)\s?([\s\S]*)$/.exec(line)!;
    const cmd = COMMANDS[m[1]!.toLowerCase()];
    if (!cmd) return usage(`unknown command /${m[1]}; /help lists them`);
    return cmd.run(m[2]!, ctx);
  }
  if (ctx.current === undefined) return usage('not in a room; /join ROOM first');
  // "//text" sends "/text": a way to start a message with a slash.
  return request({ type: 'say', room: ctx.current, text: line.startsWith('//') ? line.slice(1) : line });
}

export function helpText(): string {
  return (
    Object.values(COMMANDS)
      .map((c) => `  ${c.usage.padEnd(16)} ${c.help}`)
      .join('\n') + `\n  Names marked ${GUEST_MARK} are guests: no account, anyone may take the name once they leave.`
  );
}
