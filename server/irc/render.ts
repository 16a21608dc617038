// The hub's shared events as IRC lines: chat messages, joins, parts, topic changes and away changes.
// These are the fan-out path (one event, every member of a room), so each is rendered once per tag
// variant and the bytes are cached on the Outgoing (like the JSON codec's encoders): a connection picks
// its variant by the tags it negotiated (server-time, message-tags for msgid) and every connection of
// a variant is handed the same Buffer.
import type { ChatMessage, ServerEvent } from '../../protocol/messages.js';
import type { Encoder, Outgoing } from '../outgoing.js';
import { escapeTagValue, formatLine, formatFitted, MAX_BODY_BYTES } from './message.js';
import { dmMsgid, roomMsgid } from './msgid.js';
import { channelOf, userSource } from './names.js';
import { splitText } from './split.js';

/** Which tags a rendering carries: a bit each, so the variants are 0-3. */
export const Tags = { time: 1, msgid: 2 } as const;
export const TAG_VARIANTS = 4;

const ACTION_OVERHEAD = '\x01ACTION \x01'.length;

export class IrcRenderer {
  /** One encoder per tag variant; identity is the Outgoing cache key. */
  readonly encoders: readonly Encoder<Buffer>[];

  constructor(
    /** The server's name, the source of its own lines. */
    readonly serverName: string,
    /** The host part of every user's `nick!user@host`. */
    readonly userHost: string,
  ) {
    const encoders: Encoder<Buffer>[] = [];
    for (let v = 0; v < TAG_VARIANTS; v++) encoders.push((out: Outgoing) => linesToBytes(this.lines(out.event, v) ?? []));
    this.encoders = encoders;
  }

  source(name: string): string {
    return userSource(name, this.userHost);
  }

  /** The msgid of a stored message (rooms and direct conversations alike). */
  msgid(m: ChatMessage): string {
    return m.room !== undefined ? roomMsgid(m.room, m.seq) : dmMsgid(m.from, m.to ?? m.from, m.seq);
  }

  /** The IRC lines of a shared event (without CR LF), or undefined for an event with no IRC form here. */
  lines(ev: ServerEvent, tags: number): string[] | undefined {
    switch (ev.type) {
      case 'message':
        return this.messageLines(ev, tags);
      case 'joined':
        return [timed(formatLine(this.source(ev.name), 'JOIN', [channelOf(ev.room)]), ev.ts, tags)];
      case 'left':
        // A disconnect is said per room as a PART: the user may still be in other rooms through
        // another session, so a QUIT (which clients apply to every channel) would be wrong.
        return [
          timed(
            ev.reason === 'disconnect' ? formatFitted(this.source(ev.name), 'PART', [channelOf(ev.room)], 'disconnected') : formatLine(this.source(ev.name), 'PART', [channelOf(ev.room)]),
            ev.ts,
            tags,
          ),
        ];
      case 'topic':
        return [timed(formatFitted(this.source(ev.by ?? this.serverName), 'TOPIC', [channelOf(ev.room)], ev.text), ev.ts, tags)];
      case 'away':
        return [ev.text === undefined ? formatLine(this.source(ev.name), 'AWAY', []) : formatFitted(this.source(ev.name), 'AWAY', [], ev.text)];
      default:
        return undefined;
    }
  }

  /**
   * A chat message as PRIVMSG lines: each line of its text, each cut to fit 512 bytes between
   * characters. The msgid goes on the first line only (it names the message, not the line); every line
   * carries the time. An action is a CTCP ACTION on every line.
   */
  messageLines(m: ChatMessage, tags: number): string[] {
    const source = this.source(m.from);
    const target = m.room !== undefined ? channelOf(m.room) : (m.to ?? m.from);
    const head = `:${source} PRIVMSG ${target} :`;
    const room = MAX_BODY_BYTES - Buffer.byteLength(head, 'utf8') - (m.action ? ACTION_OVERHEAD : 0);
    const pieces = splitText(m.text, room);
    const time = (tags & Tags.time) !== 0 ? `time=${m.ts}` : undefined;
    const out: string[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const text = m.action ? `\x01ACTION ${pieces[i]}\x01` : pieces[i]!;
      const t: string[] = [];
      if (time) t.push(time);
      if (i === 0 && (tags & Tags.msgid) !== 0) t.push(`msgid=${escapeTagValue(this.msgid(m))}`);
      out.push(t.length > 0 ? `@${t.join(';')} ${head}${text}` : head + text);
    }
    return out;
  }
}

function timed(line: string, ts: string | undefined, tags: number): string {
  return ts !== undefined && (tags & Tags.time) !== 0 ? `@time=${ts} ${line}` : line;
}

export function linesToBytes(lines: readonly string[]): Buffer {
  return lines.length === 0 ? EMPTY : Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
}

const EMPTY = Buffer.alloc(0);
