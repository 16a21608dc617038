// Message ids (https://ircv3.net/specs/extensions/message-ids): opaque to clients, but this server reads
// its own back (CHATHISTORY msgid=…), so an id names the conversation and the seq: `r~general~42` for a
// room, `d~alice~bob~7` for the direct conversation of two users (keys sorted). `~` appears in no Parley
// name, and every character here is one a tag value carries unescaped.
import { isValidName, nameKey } from '../../protocol/names.js';

export type MsgRef = { room: string; seq: number } | { users: [string, string]; seq: number };

export function roomMsgid(room: string, seq: number): string {
  return `r~${nameKey(room)}~${seq}`;
}

export function dmMsgid(a: string, b: string, seq: number): string {
  const [x, y] = [nameKey(a), nameKey(b)].sort();
  return `d~${x}~${y}~${seq}`;
}

/** What one of our msgids names; undefined for anything else. Names come back as keys (lower case). */
export function parseMsgid(id: string): MsgRef | undefined {
  const parts = id.split('~');
  const seq = Number(parts[parts.length - 1]);
  if (!Number.isSafeInteger(seq) || seq < 1 || !/^\d+$/.test(parts[parts.length - 1]!)) return undefined;
  if (parts[0] === 'r' && parts.length === 3 && isKey(parts[1]!)) return { room: parts[1]!, seq };
  if (parts[0] === 'd' && parts.length === 4 && isKey(parts[1]!) && isKey(parts[2]!)) return { users: [parts[1]!, parts[2]!], seq };
  return undefined;
}

function isKey(s: string): boolean {
  return isValidName(s) && s === nameKey(s);
}
