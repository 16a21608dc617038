// Turns what was typed into the composer into an intent. Pure: no DOM, no socket, so it is easy to
// reason about and the app decides what each intent means for the current conversation.
import { isValidName } from '../protocol/validate.js';

export type Command =
  | { kind: 'say'; text: string; action: boolean }
  | { kind: 'join'; room: string }
  | { kind: 'leave'; room: string | undefined }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'users' }
  | { kind: 'rooms' }
  | { kind: 'time' }
  | { kind: 'help' }
  | { kind: 'logout'; all: boolean }
  | { kind: 'invalid'; message: string };

export const HELP: readonly string[] = [
  '/join ROOM: join (or create) a room',
  '/leave [ROOM]: leave this room or the one named',
  '/msg NAME TEXT: send a direct message',
  '/me ACTION: say something in the third person',
  '/users: the first 100 users the server knows, online or not',
  '/rooms: the rooms on this server',
  '/time: the server clock',
  '/logout: sign out on this device (/logout all: on every device)',
  '/help: this list',
  'Enter sends, Shift+Enter starts a new line, //text sends text starting with /',
];

export function parseInput(raw: string): Command | undefined {
  const text = raw.replace(/\s+$/, '');
  if (text.trim() === '') return undefined;
  if (!text.startsWith('/')) return { kind: 'say', text, action: false };
  // A doubled slash is an escape so people can still talk about paths and commands.
  if (text.startsWith('//')) return { kind: 'say', text: text.slice(1), action: false };
  const m = /^\/(\S+)(?:[ \t]+([\s\S]*))?$/.exec(text);
  const cmd = (m?.[1] ?? '').toLowerCase();
  const rest = (m?.[2] ?? '').trim();
  switch (cmd) {
    case 'join':
    case 'j': {
      const room = rest.replace(/^#/, '');
      if (!isValidName(room)) return { kind: 'invalid', message: 'Usage: /join ROOM (1-32 letters, digits, _ - .)' };
      return { kind: 'join', room };
    }
    case 'leave':
    case 'part': {
      const room = rest.replace(/^#/, '');
      if (room !== '' && !isValidName(room)) return { kind: 'invalid', message: `"${room}" is not a room name` };
      return { kind: 'leave', room: room === '' ? undefined : room };
    }
    case 'msg':
    case 'dm': {
      const mm = /^(\S+)\s+([\s\S]+)$/.exec(rest);
      if (!mm || !isValidName(mm[1]!)) return { kind: 'invalid', message: 'Usage: /msg NAME TEXT' };
      return { kind: 'msg', to: mm[1]!, text: mm[2]! };
    }
    case 'me':
      if (rest === '') return { kind: 'invalid', message: 'Usage: /me ACTION' };
      return { kind: 'say', text: rest, action: true };
    case 'users':
    case 'who':
      return { kind: 'users' };
    case 'rooms':
    case 'list':
      return { kind: 'rooms' };
    case 'time':
      return { kind: 'time' };
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'logout':
    case 'signout':
      if (rest !== '' && rest.toLowerCase() !== 'all') return { kind: 'invalid', message: 'Usage: /logout or /logout all' };
      return { kind: 'logout', all: rest.toLowerCase() === 'all' };
    default:
      return { kind: 'invalid', message: `Unknown command /${cmd}. Type /help for the list.` };
  }
}
