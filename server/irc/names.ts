// How Parley's names look on IRC. A room `general` is the channel `#general` (CHANTYPES=#); a user's
// nick is their Parley name, unchanged, so one person has one name on every transport. Parley names
// allow a leading digit or `-` and a `.`, which RFC 2812 nicks do not: they are sent as they are, always
// in a full `nick!user@host` source, which is what lets clients tell them from server names.
import { isValidName, nameKey } from '../../protocol/names.js';

export const CHANNEL_PREFIX = '#';

export function channelOf(room: string): string {
  return CHANNEL_PREFIX + room;
}

export function isChannel(target: string): boolean {
  return target.startsWith(CHANNEL_PREFIX);
}

/** The room a channel names, or undefined when it is not a valid room name after its `#`. */
export function roomOf(channel: string): string | undefined {
  const room = channel.slice(CHANNEL_PREFIX.length);
  return isChannel(channel) && isValidName(room) ? room : undefined;
}

/** A nick is valid when it is a valid Parley user name (NICKLEN=32). */
export function isValidNick(nick: string): boolean {
  return isValidName(nick);
}

/** The source of everything a user does: `alice!alice@host`. */
export function userSource(name: string, host: string): string {
  return `${name}!${name}@${host}`;
}

/** CASEMAPPING=ascii: the same key Parley uses. */
export function ircKey(name: string): string {
  return nameKey(name);
}
