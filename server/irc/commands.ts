// The IRC command table, one row per command as in ergo's irc/commands.go: whether it is allowed before
// registration, how many parameters it needs (fewer is 461 ERR_NEEDMOREPARAMS before the handler runs),
// and its handler. A command not in the table is 421 ERR_UNKNOWNCOMMAND; one that needs registration
// and comes before it, 451 ERR_NOTREGISTERED. Handlers either answer here (CAP, PING, MODE, TIME) or
// turn the command into Parley requests and answer when the hub does (connection.ts).
import { LIMITS } from '../../protocol/messages.js';
import { capList, capNames, parseCapRequest } from './caps.js';
import { chathistory } from './chathistory.js';
import type { IrcConnection } from './connection.js';
import { TARGMAX } from './isupport.js';
import { formatLine } from './message.js';
import { channelOf, isChannel, isValidNick, ircKey, roomOf } from './names.js';
import { ERR, RPL } from './numerics.js';
import type { IrcMessage } from './message.js';
import type { Reply } from './reply.js';
import { SaslPlain } from './sasl.js';

export interface CommandSpec {
  /** Allowed before registration completes. */
  early: boolean;
  /** Parameters required; fewer is 461. */
  minParams: number;
  handle(c: IrcConnection, m: IrcMessage, r: Reply): void;
}

const row = (early: boolean, minParams: number, handle: CommandSpec['handle']): CommandSpec => ({ early, minParams, handle });

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  CAP: row(true, 1, cap),
  AUTHENTICATE: row(true, 1, authenticate),
  PASS: row(true, 1, pass),
  NICK: row(true, 0, nick),
  USER: row(true, 4, user),
  PING: row(true, 0, ping),
  PONG: row(true, 0, () => undefined),
  QUIT: row(true, 0, quit),
  JOIN: row(false, 1, join),
  PART: row(false, 1, part),
  PRIVMSG: row(false, 0, privmsg),
  NOTICE: row(false, 0, privmsg),
  TAGMSG: row(false, 1, tagmsg),
  TOPIC: row(false, 1, topic),
  NAMES: row(false, 0, names),
  WHO: row(false, 0, who),
  WHOIS: row(false, 1, whois),
  LIST: row(false, 0, list),
  AWAY: row(false, 0, away),
  LUSERS: row(false, 0, (c, _m, r) => c.lusers(r)),
  TIME: row(false, 0, time),
  MOTD: row(false, 0, (c, _m, r) => c.numeric(r, ERR.NOMOTD, 'MOTD File is missing')),
  MODE: row(false, 1, mode),
  CHATHISTORY: row(false, 1, chathistory),
  KICK: row(false, 2, (c, m, r) => c.errorNumeric(r, ERR.CHANOPRIVSNEEDED, m.params[0]!, 'Parley rooms have no operators: nobody can be kicked')),
  OPER: row(false, 2, (c, _m, r) => c.errorNumeric(r, ERR.NOOPERHOST, 'Parley has no IRC operators')),
};

// ---- registration ----

function cap(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const sub = m.params[0]!.toUpperCase();
  const who = c.registered ? c.nick : '*';
  switch (sub) {
    case 'LS':
      if (!c.registered) c.capNegotiating = true;
      if (Number(m.params[1]) >= 302) c.cap302 = true;
      return r.line(formatLine(c.serverName, 'CAP', [who, 'LS', capList(c.cap302).join(' ')]));
    case 'LIST':
      return r.line(formatLine(c.serverName, 'CAP', [who, 'LIST', capNames(c.caps).join(' ')]));
    case 'REQ': {
      if (!c.registered) c.capNegotiating = true;
      const asked = m.params[1] ?? '';
      const change = parseCapRequest(asked);
      if (!change) return r.line(formatLine(c.serverName, 'CAP', [who, 'NAK', asked]));
      c.caps = (c.caps | change.add) & ~change.remove;
      return r.line(formatLine(c.serverName, 'CAP', [who, 'ACK', asked]));
    }
    case 'END':
      if (c.registered || !c.capNegotiating) return;
      c.capNegotiating = false;
      return c.tryRegister(r);
    default:
      return c.numeric(r, ERR.INVALIDCAPCMD, sub, 'Invalid CAP command');
  }
}

function authenticate(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const arg = m.params[0]!;
  if (c.registered || c.name !== undefined) {
    if (c.account) return c.numeric(r, ERR.SASLALREADY, 'You have already authenticated using SASL');
    return c.numeric(r, ERR.SASLFAIL, 'SASL authentication failed: log in before registration completes');
  }
  if (c.helloInFlight) return c.numeric(r, ERR.SASLFAIL, 'SASL authentication failed: a login is already in progress');
  if (arg === '*') {
    const was = c.sasl !== undefined;
    c.sasl = undefined;
    c.numeric(r, ERR.SASLABORTED, 'SASL authentication aborted');
    if (was) c.tryRegister(r);
    return;
  }
  if (!c.sasl) {
    if (arg.toUpperCase() !== 'PLAIN') {
      c.numeric(r, RPL.SASLMECHS, 'PLAIN', 'are available SASL mechanisms');
      return c.numeric(r, ERR.SASLFAIL, 'SASL authentication failed');
    }
    c.sasl = new SaslPlain();
    return r.line('AUTHENTICATE +');
  }
  const step = c.sasl.feed(arg);
  if (step.more) return;
  c.sasl = undefined;
  if ('error' in step) {
    if (step.error === 'too_long') c.numeric(r, ERR.SASLTOOLONG, 'SASL message too long');
    else c.numeric(r, ERR.SASLFAIL, 'SASL authentication failed');
    return c.tryRegister(r);
  }
  if (!isValidNick(step.creds.name)) return c.numeric(r, ERR.SASLFAIL, 'SASL authentication failed');
  c.saslLogin(r, step.creds.name, step.creds.password);
}

function pass(c: IrcConnection, m: IrcMessage, r: Reply): void {
  if (c.registered) return c.numeric(r, ERR.ALREADYREGISTERED, 'You may not reregister');
  c.pass = m.params[0];
}

function nick(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const wanted = m.params[0];
  if (wanted === undefined || wanted === '') return c.numeric(r, ERR.NONICKNAMEGIVEN, 'No nickname given');
  if (!isValidNick(wanted)) return c.numeric(r, ERR.ERRONEUSNICKNAME, wanted, 'Erroneous nickname: 1-32 letters, digits, _ - or .');
  if (c.registered) {
    if (wanted === c.name) return;
    return c.numeric(r, ERR.NONICKCHANGE, `Cannot change nickname to ${wanted}: Parley names are fixed for a session (reconnect with the new nick)`);
  }
  c.wantedNick = wanted;
  c.tryRegister(r);
}

function user(c: IrcConnection, m: IrcMessage, r: Reply): void {
  if (c.registered) return c.numeric(r, ERR.ALREADYREGISTERED, 'You may not reregister');
  c.user = m.params[0];
  c.tryRegister(r);
}

function ping(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const token = m.params[0];
  if (token === undefined || token === '') return c.numeric(r, ERR.NOORIGIN, 'No origin specified');
  r.line(formatLine(c.serverName, 'PONG', [c.serverName, token]));
}

function quit(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const why = m.params[0];
  c.request(r, { type: 'bye' }, (ev) => {
    if (ev.type === 'bye') c.write(formatLine(c.serverName, 'ERROR', [`Closing Link: ${c.name ?? c.wantedNick ?? '*'} (${why ? `Quit: ${why}` : 'Client Quit'})`]));
    return true;
  });
}

// ---- channels ----

/** A comma list of targets, or undefined (after 407) when it has more than `max`. */
function targets(c: IrcConnection, r: Reply, list: string, max: number, command: string): string[] | undefined {
  const all = list.split(',').filter((t) => t !== '');
  if (all.length > max) {
    c.errorNumeric(r, ERR.TOOMANYTARGETS, all[max]!, `Too many targets: ${command} takes at most ${max}`);
    return undefined;
  }
  return all;
}

/** The room of a channel target, or undefined after the numeric that says why not. */
function roomTarget(c: IrcConnection, r: Reply, channel: string): string | undefined {
  const room = roomOf(channel);
  if (room !== undefined) return room;
  if (!isChannel(channel)) c.errorNumeric(r, ERR.NOSUCHCHANNEL, channel, 'No such channel');
  else c.errorNumeric(r, ERR.BADCHANNAME, channel, 'Illegal channel name: # then 1-32 letters, digits, _ - or .');
  return undefined;
}

function join(c: IrcConnection, m: IrcMessage, r: Reply): void {
  if (m.params[0] === '0') {
    for (const name of [...c.channels.values()]) c.part(r, name);
    return;
  }
  const list = targets(c, r, m.params[0]!, TARGMAX.JOIN, 'JOIN');
  // Keys (the second parameter) are accepted and ignored: Parley rooms have none.
  for (const channel of list ?? []) {
    const room = roomTarget(c, r, channel);
    if (room !== undefined) c.join(r, room);
  }
}

function part(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const list = targets(c, r, m.params[0]!, TARGMAX.PART, 'PART');
  for (const channel of list ?? []) {
    const room = roomTarget(c, r, channel);
    if (room !== undefined) c.part(r, room);
  }
}

function topic(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const room = roomTarget(c, r, m.params[0]!);
  if (room === undefined) return;
  if (m.params.length >= 2) return c.setTopic(r, room, cutChars(m.params[1]!, LIMITS.topicMaxChars));
  c.request(r, { type: 'topic', room }, (ev) => {
    if (ev.type === 'topic') {
      if (ev.text === '') c.numeric(r, RPL.NOTOPIC, channelOf(ev.room), 'No topic is set');
      else c.topicNumerics(r, ev.room, ev.text, ev.by, ev.ts);
    } else if (ev.type === 'error') c.failLine(r, 'TOPIC', ev.code, [channelOf(room)], ev.message);
    return true;
  });
}

function names(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const first = m.params[0]?.split(',')[0];
  const room = first === undefined ? undefined : roomOf(first);
  if (room === undefined) return c.numeric(r, RPL.ENDOFNAMES, first ?? '*', 'End of /NAMES list');
  c.request(r, { type: 'who', room }, (ev) => {
    if (ev.type === 'users') c.names(r, ev.room ?? room, ev.users.map((u) => u.name));
    else if (ev.type === 'error') c.numeric(r, RPL.ENDOFNAMES, channelOf(room), 'End of /NAMES list');
    return true;
  });
}

// ---- messages ----

function privmsg(c: IrcConnection, m: IrcMessage, r: Reply): void {
  if (m.params.length === 0 || m.params[0] === '') return c.errorNumeric(r, ERR.NORECIPIENT, `No recipient given (${m.command})`);
  let text = m.params[1];
  if (text === undefined || text === '') return c.errorNumeric(r, ERR.NOTEXTTOSEND, 'No text to send');
  let action = false;
  if (text.charCodeAt(0) === 1) {
    // CTCP: ACTION is Parley's action; other queries (VERSION, PING…) have no one to answer them.
    const ctcp = /^\x01ACTION ([^\x01]*)\x01?$/.exec(text);
    if (!ctcp) return;
    text = ctcp[1]!;
    if (text === '') return c.errorNumeric(r, ERR.NOTEXTTOSEND, 'No text to send');
    action = true;
  }
  const list = targets(c, r, m.params[0]!, TARGMAX.PRIVMSG, m.command);
  for (const target of list ?? []) {
    if (isChannel(target)) {
      const room = roomTarget(c, r, target);
      if (room !== undefined) c.say(r, { room }, text, action);
    } else if (!isValidNick(target)) {
      c.errorNumeric(r, ERR.NOSUCHNICK, target, 'No such nick/channel');
    } else {
      c.say(r, { to: target }, text, action);
    }
  }
}

/** TAGMSG carries only client tags, which Parley does not store or relay: checked, then dropped. */
function tagmsg(c: IrcConnection, m: IrcMessage, r: Reply): void {
  for (const target of targets(c, r, m.params[0]!, TARGMAX.TAGMSG, 'TAGMSG') ?? []) {
    if (isChannel(target)) roomTarget(c, r, target);
    else if (!isValidNick(target)) c.errorNumeric(r, ERR.NOSUCHNICK, target, 'No such nick/channel');
  }
}

// ---- users ----

function who(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const mask = m.params[0] ?? '*';
  const end = (): void => c.numeric(r, RPL.ENDOFWHO, mask, 'End of WHO list');
  const host = c.renderer.userHost;
  const whoLine = (channel: string, name: string, away: boolean): void =>
    c.numeric(r, RPL.WHOREPLY, channel, name, host, c.serverName, name, away ? 'G' : 'H', `0 ${name}`);
  const room = roomOf(mask);
  if (room !== undefined) {
    c.request(r, { type: 'who', room }, (ev) => {
      if (ev.type === 'users') for (const u of ev.users) whoLine(channelOf(ev.room ?? room), u.name, u.away !== undefined);
      end();
      return true;
    });
  } else if (isValidNick(mask)) {
    c.request(r, { type: 'whois', name: mask }, (ev) => {
      if (ev.type === 'user' && ev.online) whoLine('*', ev.name, ev.away !== undefined);
      end();
      return true;
    });
  } else {
    // Masks with wildcards would list everyone who ever connected: not offered.
    end();
  }
}

function whois(c: IrcConnection, m: IrcMessage, r: Reply): void {
  // WHOIS [server] nick[,nick]: TARGMAX=WHOIS:1.
  const asked = (m.params.length >= 2 ? m.params[1]! : m.params[0]!).split(',')[0]!;
  const end = (name: string): void => c.numeric(r, RPL.ENDOFWHOIS, name, 'End of /WHOIS list');
  if (!isValidNick(asked)) {
    c.errorNumeric(r, ERR.NOSUCHNICK, asked, 'No such nick/channel');
    return end(asked);
  }
  c.request(r, { type: 'whois', name: asked }, (ev) => {
    if (ev.type === 'user' && ev.online) {
      const name = ev.name;
      c.numeric(r, RPL.WHOISUSER, name, name, c.renderer.userHost, '*', name);
      for (const line of chunkWords((ev.rooms ?? []).map(channelOf), 400)) c.numeric(r, RPL.WHOISCHANNELS, name, line);
      c.numeric(r, RPL.WHOISSERVER, name, c.serverName, c.shared.network);
      if (ev.away !== undefined) c.numeric(r, RPL.AWAY, name, ev.away);
      if (ev.account) c.numeric(r, RPL.WHOISACCOUNT, name, name, 'is logged in as');
      end(name);
    } else if (ev.type === 'user') {
      c.numeric(r, ERR.NOSUCHNICK, ev.name, ev.lastSeen ? `${ev.name} is offline (last seen ${ev.lastSeen})` : `${ev.name} is offline`);
      end(ev.name);
    } else {
      c.numeric(r, ERR.NOSUCHNICK, asked, 'No such nick/channel');
      end(asked);
    }
    return true;
  });
}

function list(c: IrcConnection, m: IrcMessage, r: Reply): void {
  // LIST #a,#b filters by name; other ELIST conditions (>3, C<10) are ignored.
  const only = m.params[0] !== undefined && isChannel(m.params[0]) ? new Set(m.params[0].split(',').map((ch) => ircKey(ch.slice(1)))) : undefined;
  if (only && only.size > TARGMAX.LIST) return void c.errorNumeric(r, ERR.TOOMANYTARGETS, m.params[0]!, `Too many targets: LIST takes at most ${TARGMAX.LIST}`);
  c.request(r, { type: 'rooms' }, (ev) => {
    if (ev.type !== 'rooms') {
      c.numeric(r, RPL.LISTEND, 'End of /LIST');
      return true;
    }
    const rooms = only ? ev.rooms.filter((x) => only.has(ircKey(x.name))) : ev.rooms;
    // Topics come from the topic store itself: one read each instead of one hub request per room.
    r.hold();
    void Promise.all(rooms.map((x) => c.shared.topicOf(ircKey(x.name)).catch(() => undefined))).then((topics) => {
      c.numeric(r, RPL.LISTSTART, 'Channel', 'Users  Name');
      rooms.forEach((x, i) => c.numeric(r, RPL.LIST, channelOf(x.name), String(x.members), topics[i]?.text ?? ''));
      c.numeric(r, RPL.LISTEND, 'End of /LIST');
      r.release();
    });
    return true;
  });
}

function away(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const text = m.params[0] === undefined || m.params[0] === '' ? undefined : cutChars(m.params[0], LIMITS.awayMaxChars);
  c.request(r, text === undefined ? { type: 'away' } : { type: 'away', text }, (ev) => {
    if (ev.type === 'ack') {
      if (text === undefined) c.numeric(r, RPL.UNAWAY, 'You are no longer marked as being away');
      else c.numeric(r, RPL.NOWAWAY, 'You have been marked as being away');
    } else if (ev.type === 'error') c.failLine(r, 'AWAY', ev.code, [], ev.message);
    return true;
  });
}

/** RFC 2812's form (server, then the time as text): clients print the extra fields of the newer form raw. */
function time(c: IrcConnection, _m: IrcMessage, r: Reply): void {
  c.numeric(r, RPL.TIME, c.serverName, new Date().toISOString());
}

/** Enough MODE for clients not to break: channels are +nt and have no lists; users have +i only. */
function mode(c: IrcConnection, m: IrcMessage, r: Reply): void {
  const target = m.params[0]!;
  if (isChannel(target)) {
    const room = roomTarget(c, r, target);
    if (room === undefined) return;
    const change = m.params[1];
    if (change === undefined) return c.numeric(r, RPL.CHANNELMODEIS, channelOf(room), '+nt');
    const listQuery = /^\+?([beI])$/.exec(change);
    if (listQuery && m.params.length === 2) {
      const [code, what] = listQuery[1] === 'b' ? [RPL.ENDOFBANLIST, 'ban'] : listQuery[1] === 'e' ? [RPL.ENDOFEXCEPTLIST, 'exception'] : [RPL.ENDOFINVITELIST, 'invite'];
      return c.numeric(r, code, channelOf(room), `End of channel ${what} list`);
    }
    return c.errorNumeric(r, ERR.CHANOPRIVSNEEDED, channelOf(room), "You're not channel operator: Parley rooms have no operators");
  }
  if (ircKey(target) !== c.key) return c.errorNumeric(r, ERR.USERSDONTMATCH, "Can't change mode for other users");
  const change = m.params[1];
  if (change === undefined) return c.numeric(r, RPL.UMODEIS, c.invisible ? '+i' : '+');
  let adding = true;
  let applied = '';
  let sign = '';
  for (const ch of change) {
    if (ch === '+' || ch === '-') {
      adding = ch === '+';
      continue;
    }
    if (ch !== 'i') return c.errorNumeric(r, ERR.UMODEUNKNOWNFLAG, 'Unknown MODE flag');
    if (c.invisible === adding) continue;
    c.invisible = adding;
    const s = adding ? '+' : '-';
    applied += (s === sign ? '' : s) + ch;
    sign = s;
  }
  if (applied !== '') r.line(formatLine(c.source, 'MODE', [c.nick, applied]));
}

/** The first `max` characters (code points) of `text`. */
function cutChars(text: string, max: number): string {
  return text.length <= max ? text : Array.from(text).slice(0, max).join('');
}

/** Space-joined words in lines of at most `max` bytes. */
function chunkWords(words: readonly string[], max: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of words) {
    if (line !== '' && Buffer.byteLength(line) + 1 + Buffer.byteLength(w) > max) {
      out.push(line);
      line = '';
    }
    line = line === '' ? w : `${line} ${w}`;
  }
  if (line !== '') out.push(line);
  return out;
}
