// RPL_ISUPPORT (005): what a client may assume about this server. The limits are Parley's own (names of
// 1-32 characters, 100 rooms per connection, topic and away lengths), so a client never offers what
// the hub would refuse.
import { LIMITS } from '../../protocol/messages.js';

/** Targets per command: more is ERR_TOOMANYTARGETS, so one line cannot fan out without bound. */
export const TARGMAX = { PRIVMSG: 4, NOTICE: 4, TAGMSG: 4, JOIN: 10, PART: 10, NAMES: 1, WHOIS: 1, LIST: 10 } as const;

/** Messages one CHATHISTORY command may ask for (and the most one batch holds). */
export const CHATHISTORY_MAX = LIMITS.maxHistory;

export function isupportTokens(network: string): string[] {
  return [
    `AWAYLEN=${LIMITS.awayMaxChars}`,
    'CASEMAPPING=ascii',
    `CHANLIMIT=#:${LIMITS.maxRoomsPerConnection}`,
    'CHANMODES=,,,nt',
    `CHANNELLEN=${LIMITS.nameMaxLength + 1}`,
    'CHANTYPES=#',
    `CHATHISTORY=${CHATHISTORY_MAX}`,
    'MSGREFTYPES=msgid,timestamp',
    `MAXTARGETS=${TARGMAX.PRIVMSG}`,
    `NETWORK=${network}`,
    `NICKLEN=${LIMITS.nameMaxLength}`,
    `TARGMAX=${Object.entries(TARGMAX)
      .map(([k, v]) => `${k}:${v}`)
      .join(',')}`,
    `TOPICLEN=${LIMITS.topicMaxChars}`,
    'UTF8ONLY',
  ];
}

/** At most 13 tokens per 005 line, as RFC 2812 and clients expect. */
export function isupportLines(tokens: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < tokens.length; i += 13) out.push(tokens.slice(i, i + 13));
  return out;
}
