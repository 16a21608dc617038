// A conformance table for the IRC listener, modelled on irctest's cases (the suite ergo and InspIRCd run
// in CI, which cannot be installed here: it is a Python project, and only the npm and Debian registries
// are reachable). Each row is one case: the clients it needs, then steps run in order against the real
// server over raw sockets.
//
//   send      an IRC line from that client
//   expect    a regex the client's next line must match (lines are taken in order: a later `expect`
//             matches only lines after the one before it, so the order of replies is checked)
//   none      after a PING fence, no line since the last `expect` matches (what must not be sent)
//   closed    the server closed the connection
//   sendJson / expectJson   the same for a console (TCP JSON) client in the row
//
// Placeholders: {a} is client a's nick ({a^} upper-cased), {S} the server name, {C}/{D} channels of
// the row, {plain:a} SASL PLAIN for a's account. In regexes they are escaped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';
import { connectIrc, registerIrc, saslPlain, type IrcClient, type IrcLine, type RegisterOptions } from './helpers/irc-client.js';

const S = 'irc.test';

type ClientSpec = { irc: 'raw' } | ({ irc: 'registered'; nick?: string } & RegisterOptions) | { json: 'guest' | 'account'; nick?: string };

type Step =
  | { c: string; send: string }
  | { c: string; expect: string }
  | { c: string; none: string }
  | { c: string; closed: true }
  | { c: string; sendJson: Record<string, unknown> }
  | { c: string; expectJson: Record<string, unknown> };

interface Row {
  /** The case, named like irctest's where one exists. */
  name: string;
  clients: Record<string, ClientSpec>;
  steps: Step[];
}

const reg = (opts: RegisterOptions & { nick?: string } = {}): ClientSpec => ({ irc: 'registered', ...opts });
const raw: ClientSpec = { irc: 'raw' };
const ALL_CAPS = ['echo-message', 'server-time', 'message-tags', 'batch', 'labeled-response', 'away-notify'];

const ROWS: Row[] = [
  // ---- registration (RFC 2812 3.1, Modern IRC "Connection Registration") ----
  {
    name: 'registration: NICK and USER give 001-005, LUSERS and 422 (no MOTD)',
    clients: { r: raw },
    steps: [
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', send: 'USER u 0 * :Real Name' },
      { c: 'r', expect: '^:{S} 001 {r} :Welcome to the Parley IRC network, {r}!{r}@{S}$' },
      { c: 'r', expect: '^:{S} 002 {r} :Your host is {S}' },
      { c: 'r', expect: '^:{S} 003 {r} :' },
      { c: 'r', expect: '^:{S} 004 {r} {S} \\S+ i nt$' },
      { c: 'r', expect: '^:{S} 005 {r} .*CASEMAPPING=ascii .*CHANTYPES=# .*CHATHISTORY=1000 MSGREFTYPES=msgid,timestamp .*NICKLEN=32 .*:are supported by this server$' },
      { c: 'r', expect: '^:{S} 005 {r} UTF8ONLY :are supported' },
      { c: 'r', expect: '^:{S} 251 {r} :There are \\d+ users' },
      { c: 'r', expect: '^:{S} 255 {r} :I have \\d+ clients' },
      { c: 'r', expect: '^:{S} 422 {r} :MOTD File is missing$' },
    ],
  },
  {
    name: 'cap: CAP LS 302 lists values and holds registration until CAP END; REQ ACK; LIST',
    clients: { r: raw },
    steps: [
      { c: 'r', send: 'CAP LS 302' },
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', expect: '^:{S} CAP \\* LS :.*\\bbatch\\b.*draft/chathistory.*echo-message.*labeled-response.*message-tags.*sasl=PLAIN.*server-time' },
      { c: 'r', none: ' 001 ' },
      { c: 'r', send: 'CAP REQ :echo-message server-time' },
      { c: 'r', expect: '^:{S} CAP \\* ACK :echo-message server-time$' },
      { c: 'r', send: 'CAP LIST' },
      { c: 'r', expect: '^:{S} CAP \\* LIST :echo-message server-time$' },
      { c: 'r', send: 'CAP END' },
      { c: 'r', expect: '^:{S} 001 {r} ' },
      { c: 'r', send: 'CAP LIST' },
      { c: 'r', expect: '^:{S} CAP {r} LIST :echo-message server-time$' },
    ],
  },
  {
    name: 'cap: a REQ with an unknown cap is NAKed whole; -cap removes; LS without 302 has no values; bad subcommand 410',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'CAP REQ :echo-message no-such-cap' },
      { c: 'a', expect: '^:{S} CAP {a} NAK :echo-message no-such-cap$' },
      { c: 'a', send: 'CAP REQ :echo-message batch' },
      { c: 'a', expect: '^:{S} CAP {a} ACK :echo-message batch$' },
      { c: 'a', send: 'CAP REQ -batch' },
      { c: 'a', expect: '^:{S} CAP {a} ACK -batch$' },
      { c: 'a', send: 'CAP LIST' },
      { c: 'a', expect: '^:{S} CAP {a} LIST echo-message$' },
      { c: 'a', send: 'CAP LS' },
      { c: 'a', expect: '^:{S} CAP {a} LS :.* sasl server-time$' },
      { c: 'a', send: 'CAP FROB' },
      { c: 'a', expect: '^:{S} 410 {a} FROB :Invalid CAP command$' },
    ],
  },
  {
    name: 'registration: commands before it are 451, unknown ones 421, too few parameters 461',
    clients: { r: raw },
    steps: [
      { c: 'r', send: 'JOIN #x' },
      { c: 'r', expect: '^:{S} 451 \\* :You have not registered$' },
      { c: 'r', send: 'FROBNICATE' },
      { c: 'r', expect: '^:{S} 421 \\* FROBNICATE :Unknown command$' },
      { c: 'r', send: 'USER onlyone' },
      { c: 'r', expect: '^:{S} 461 \\* USER :Not enough parameters$' },
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', expect: '^:{S} 001 {r} ' },
      { c: 'r', send: 'PRIVMSG' },
      { c: 'r', expect: '^:{S} 411 {r} :No recipient given \\(PRIVMSG\\)$' },
      { c: 'r', send: 'TOPIC' },
      { c: 'r', expect: '^:{S} 461 {r} TOPIC :Not enough parameters$' },
    ],
  },
  {
    name: 'nick: 431 without one, 432 for names Parley refuses, then a good one registers',
    clients: { r: raw },
    steps: [
      { c: 'r', send: 'NICK' },
      { c: 'r', expect: '^:{S} 431 \\* :No nickname given$' },
      { c: 'r', send: 'NICK a!b' },
      { c: 'r', expect: '^:{S} 432 \\* a!b :Erroneous nickname' },
      { c: 'r', send: 'NICK #chan' },
      { c: 'r', expect: '^:{S} 432 \\* #chan :' },
      { c: 'r', send: `NICK ${'x'.repeat(33)}` },
      { c: 'r', expect: '^:{S} 432 \\* x{33} :' },
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', expect: '^:{S} 001 {r} ' },
    ],
  },
  {
    name: 'nick: 433 when in use, case-insensitively, over IRC or the console; the client may try again',
    clients: { a: reg(), j: { json: 'guest' }, r: raw },
    steps: [
      { c: 'r', send: 'NICK {a^}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', expect: '^:{S} 433 \\* {a^} :' },
      { c: 'r', send: 'NICK {j}' },
      { c: 'r', expect: '^:{S} 433 \\* {j} :' },
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', expect: '^:{S} 001 {r} ' },
    ],
  },
  {
    name: 'nick: NICK, USER and a second NICK in one write: 433 for the first, then registered as the second',
    clients: { a: reg(), r: raw },
    steps: [
      { c: 'r', send: 'NICK {a}\r\nUSER u 0 * :r\r\nNICK {r}' },
      { c: 'r', expect: '^:{S} 433 \\* {a} :' },
      { c: 'r', expect: '^:{S} 001 {r} ' },
    ],
  },
  {
    name: "nick: a registered account's name without credentials is 433 with the way in; a look-alike is 433",
    clients: { k: { json: 'account' }, a: reg({ nick: 'alice' }), r: raw },
    steps: [
      { c: 'r', send: 'NICK {k}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', expect: '^:{S} 433 \\* {k} :{k} is a registered account: log in with SASL PLAIN' },
      { c: 'r', send: 'NICK aIice' },
      { c: 'r', expect: '^:{S} 433 \\* aIice :.*looks too much like alice' },
    ],
  },
  {
    name: 'nick: after registration a change is 447 (Parley names are fixed); the same nick is nothing',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'NICK {a}' },
      { c: 'a', none: '' },
      { c: 'a', send: 'NICK other{a}' },
      { c: 'a', expect: '^:{S} 447 {a} :Cannot change nickname to other{a}' },
    ],
  },
  {
    name: 'registration: USER and PASS again are 462',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'USER u 0 * :again' },
      { c: 'a', expect: '^:{S} 462 {a} :You may not reregister$' },
      { c: 'a', send: 'PASS secret' },
      { c: 'a', expect: '^:{S} 462 {a} :' },
    ],
  },
  {
    name: 'ping: PONG with the token, before and after registration; 409 without one; PONG is silent',
    clients: { r: raw },
    steps: [
      { c: 'r', send: 'PING :early bird' },
      { c: 'r', expect: '^:{S} PONG {S} :early bird$' },
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', expect: ' 001 ' },
      { c: 'r', send: 'PING token' },
      { c: 'r', expect: '^:{S} PONG {S} token$' },
      { c: 'r', send: 'PING' },
      { c: 'r', expect: '^:{S} 409 {r} :No origin specified$' },
      { c: 'r', send: 'PONG :whatever' },
      { c: 'r', none: '' },
    ],
  },
  {
    name: 'quit: before registration it is answered with ERROR and the connection closes',
    clients: { r: raw },
    steps: [
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', send: 'QUIT :changed my mind' },
      { c: 'r', expect: '^:{S} ERROR :Closing Link: {r} \\(Quit: changed my mind\\)$' },
      { c: 'r', closed: true },
    ],
  },
  {
    name: 'quit: after registration, ERROR; the channel sees the user leave (PART: a QUIT is a bye, so no "disconnected")',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 {a} {C} ' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'a', expect: '^:{b}!{b}@{S} JOIN {C}$' },
      { c: 'b', send: 'QUIT' },
      { c: 'b', expect: '^:{S} ERROR :Closing Link: {b} \\(Client Quit\\)$' },
      { c: 'b', closed: true },
      { c: 'a', expect: '^:{b}!{b}@{S} PART {C}$' },
    ],
  },

  // ---- channels ----
  {
    name: 'join: own JOIN, then 353 with every member and 366; the others see the JOIN',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: '^:{a}!{a}@{S} JOIN {C}$' },
      { c: 'a', expect: '^:{S} 353 {a} = {C} :{a}$' },
      { c: 'a', expect: '^:{S} 366 {a} {C} :End of /NAMES list$' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: '^:{b}!{b}@{S} JOIN {C}$' },
      { c: 'b', expect: '^:{S} 353 {b} = {C} :({a} {b}|{b} {a})$' },
      { c: 'b', expect: '^:{S} 366 {b} {C} ' },
      { c: 'a', expect: '^:{b}!{b}@{S} JOIN {C}$' },
    ],
  },
  {
    name: 'join: a channel with a topic gives 332 and 333 between JOIN and the names',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'a', send: 'TOPIC {C} :Release on Friday' },
      { c: 'a', expect: '^:{a}!{a}@{S} TOPIC {C} :Release on Friday$' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: '^:{b}!{b}@{S} JOIN {C}$' },
      { c: 'b', expect: '^:{S} 332 {b} {C} :Release on Friday$' },
      { c: 'b', expect: '^:{S} 333 {b} {C} {a}!{a}@{S} \\d{10}$' },
      { c: 'b', expect: '^:{S} 353 {b} = {C} :' },
      { c: 'b', expect: '^:{S} 366 {b} {C} ' },
    ],
  },
  {
    name: 'join: several at once; joining again shows nothing; JOIN 0 parts every channel',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C},{D}' },
      { c: 'a', expect: '^:{a}!{a}@{S} JOIN {C}$' },
      { c: 'a', expect: ' 366 {a} {C} ' },
      { c: 'a', expect: '^:{a}!{a}@{S} JOIN {D}$' },
      { c: 'a', expect: ' 366 {a} {D} ' },
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', send: 'WHOIS {a}' },
      { c: 'a', expect: ' 318 {a} {a} ' },
      { c: 'a', none: ' JOIN | 353 ' },
      { c: 'a', send: 'JOIN 0' },
      { c: 'a', expect: '^:{a}!{a}@{S} PART {C}$' },
      { c: 'a', expect: '^:{a}!{a}@{S} PART {D}$' },
    ],
  },
  {
    name: 'join: 403 without #, 479 for a name Parley refuses, 407 past TARGMAX (10)',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'JOIN nohash' },
      { c: 'a', expect: '^:{S} 403 {a} nohash :No such channel$' },
      { c: 'a', send: 'JOIN #bad!name' },
      { c: 'a', expect: '^:{S} 479 {a} #bad!name :Illegal channel name' },
      { c: 'a', send: 'JOIN #a1,#a2,#a3,#a4,#a5,#a6,#a7,#a8,#a9,#a10,#a11' },
      { c: 'a', expect: '^:{S} 407 {a} #a11 :Too many targets' },
      { c: 'a', none: ' JOIN ' },
    ],
  },
  {
    name: 'join: past 100 channels (CHANLIMIT=#:100) the next is 405',
    clients: { a: reg() },
    steps: [
      ...Array.from({ length: 10 }, (_, k): Step => ({ c: 'a', send: `JOIN ${Array.from({ length: 10 }, (_, j) => `{C}x${k * 10 + j}`).join(',')}` })),
      { c: 'a', expect: ' 366 {a} {C}x99 ' },
      { c: 'a', send: 'JOIN {C}x100' },
      { c: 'a', expect: '^:{S} 405 {a} {C}x100 :at most 100 rooms per connection$' },
    ],
  },
  {
    name: 'part: every member sees PART; 442 for a channel one is not in; 403 for a non-channel',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: ' 366 ' },
      { c: 'b', send: 'PART {C} :bye all' },
      { c: 'b', expect: '^:{b}!{b}@{S} PART {C}$' },
      { c: 'a', expect: '^:{b}!{b}@{S} PART {C}$' },
      { c: 'b', send: 'PART {C}' },
      { c: 'b', expect: '^:{S} 442 {b} {C} :You\'re not on that channel$' },
      { c: 'b', send: 'PART nochan' },
      { c: 'b', expect: '^:{S} 403 {b} nochan :' },
    ],
  },
  {
    name: 'topic: 331 when none, set by a member (all see TOPIC, the console too), 332/333 after; 442 for outsiders',
    clients: { a: reg(), j: { json: 'guest' }, b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'j', sendJson: { type: 'join', room: '{C-}', history: 0 } },
      { c: 'j', expectJson: { type: 'members' } },
      { c: 'a', send: 'TOPIC {C}' },
      { c: 'a', expect: '^:{S} 331 {a} {C} :No topic is set$' },
      { c: 'a', send: 'TOPIC {C} :a new topic' },
      { c: 'a', expect: '^:{a}!{a}@{S} TOPIC {C} :a new topic$' },
      { c: 'j', expectJson: { type: 'topic', room: '{C-}', text: 'a new topic', by: '{a}' } },
      { c: 'b', send: 'TOPIC {C}' },
      { c: 'b', expect: '^:{S} 332 {b} {C} :a new topic$' },
      { c: 'b', expect: '^:{S} 333 {b} {C} {a}!{a}@{S} \\d+$' },
      { c: 'b', send: 'TOPIC {C} :not mine to set' },
      { c: 'b', expect: '^:{S} 442 {b} {C} :' },
      { c: 'j', sendJson: { type: 'topic', room: '{C-}', text: 'from the console' } },
      { c: 'a', expect: '^:{j}!{j}@{S} TOPIC {C} :from the console$' },
    ],
  },
  {
    name: 'names: 353/366 for a channel, asked from outside too; without a channel just 366 *',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'b', send: 'NAMES {C}' },
      { c: 'b', expect: '^:{S} 353 {b} = {C} :{a}$' },
      { c: 'b', expect: '^:{S} 366 {b} {C} :End of /NAMES list$' },
      { c: 'b', send: 'NAMES' },
      { c: 'b', expect: '^:{S} 366 {b} \\* :End of /NAMES list$' },
    ],
  },
  {
    name: 'who: 352 per member (H here, G away) then 315; WHO nick; a mask is just 315',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: ' 366 ' },
      { c: 'b', send: 'AWAY :lunch' },
      { c: 'b', expect: ' 306 ' },
      { c: 'a', send: 'WHO {C}' },
      { c: 'a', expect: '^:{S} 352 {a} {C} ({a} {S} {S} {a} H|{b} {S} {S} {b} G) :0 ' },
      { c: 'a', expect: '^:{S} 352 {a} {C} ({a} {S} {S} {a} H|{b} {S} {S} {b} G) :0 ' },
      { c: 'a', expect: '^:{S} 315 {a} {C} :End of WHO list$' },
      { c: 'a', send: 'WHO {b}' },
      { c: 'a', expect: '^:{S} 352 {a} \\* {b} {S} {S} {b} G :0 {b}$' },
      { c: 'a', expect: '^:{S} 315 {a} {b} :End of WHO list$' },
      { c: 'a', send: 'WHO *' },
      { c: 'a', expect: '^:{S} 315 {a} \\* :End of WHO list$' },
    ],
  },
  {
    name: 'whois: 311, 319, 312, 301 when away, 330 for an account, 318',
    clients: { k: { json: 'account' }, a: reg() },
    steps: [
      { c: 'k', sendJson: { type: 'join', room: '{C-}', history: 0 } },
      { c: 'k', expectJson: { type: 'members' } },
      { c: 'k', sendJson: { type: 'away', text: 'in a meeting', id: 'aw' } },
      { c: 'k', expectJson: { type: 'ack', re: 'aw' } },
      { c: 'a', send: 'WHOIS {k}' },
      { c: 'a', expect: '^:{S} 311 {a} {k} {k} {S} \\* :?{k}$' },
      { c: 'a', expect: '^:{S} 319 {a} {k} :?{C}$' },
      { c: 'a', expect: '^:{S} 312 {a} {k} {S} :?Parley$' },
      { c: 'a', expect: '^:{S} 301 {a} {k} :in a meeting$' },
      { c: 'a', expect: '^:{S} 330 {a} {k} {k} :is logged in as$' },
      { c: 'a', expect: '^:{S} 318 {a} {k} :End of /WHOIS list$' },
    ],
  },
  {
    name: 'whois: 401 and 318 for a nick never seen, an offline one, or one Parley cannot spell',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'WHOIS nobody{a}' },
      { c: 'a', expect: '^:{S} 401 {a} nobody{a} :No such nick/channel$' },
      { c: 'a', expect: '^:{S} 318 {a} nobody{a} :' },
      { c: 'a', send: 'WHOIS bad!nick' },
      { c: 'a', expect: '^:{S} 401 {a} bad!nick :' },
      { c: 'a', expect: '^:{S} 318 {a} bad!nick :' },
    ],
  },
  {
    name: 'list: 321, 322 with members and topic, 323; LIST #chan filters',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'a', send: 'TOPIC {C} :listed topic' },
      { c: 'a', expect: ' TOPIC ' },
      { c: 'b', send: 'LIST' },
      { c: 'b', expect: '^:{S} 321 {b} Channel :Users  Name$' },
      { c: 'b', expect: '^:{S} 322 {b} {C} 1 :listed topic$' },
      { c: 'b', expect: '^:{S} 323 {b} :End of /LIST$' },
      { c: 'b', send: 'LIST {C}' },
      { c: 'b', expect: '^:{S} 321 ' },
      { c: 'b', expect: '^:{S} 322 {b} {C} 1 :listed topic$' },
      { c: 'b', expect: '^:{S} 323 ' },
    ],
  },
  {
    name: 'mode: a channel is +nt (324), has empty lists (368), no operators (482); 403 for a bad one',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'a', send: 'MODE {C}' },
      { c: 'a', expect: '^:{S} 324 {a} {C} \\+nt$' },
      { c: 'a', send: 'MODE {C} b' },
      { c: 'a', expect: '^:{S} 368 {a} {C} :End of channel ban list$' },
      { c: 'a', send: 'MODE {C} +e' },
      { c: 'a', expect: '^:{S} 349 {a} {C} :End of channel exception list$' },
      { c: 'a', send: 'MODE {C} I' },
      { c: 'a', expect: '^:{S} 347 {a} {C} :End of channel invite list$' },
      { c: 'a', send: 'MODE {C} +o {a}' },
      { c: 'a', expect: '^:{S} 482 {a} {C} :' },
      { c: 'a', send: 'MODE nochan +i' },
      { c: 'a', expect: '^:{S} 502 {a} :' },
    ],
  },
  {
    name: 'mode: user modes are 221; +i is taken and echoed; unknown flags 501; other users 502',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'MODE {a}' },
      { c: 'a', expect: '^:{S} 221 {a} \\+$' },
      { c: 'a', send: 'MODE {a} +i' },
      { c: 'a', expect: '^:{a}!{a}@{S} MODE {a} \\+i$' },
      { c: 'a', send: 'MODE {a}' },
      { c: 'a', expect: '^:{S} 221 {a} \\+i$' },
      { c: 'a', send: 'MODE {a} +z' },
      { c: 'a', expect: '^:{S} 501 {a} :Unknown MODE flag$' },
      { c: 'a', send: 'MODE {b} +i' },
      { c: 'a', expect: '^:{S} 502 {a} :' },
    ],
  },
  {
    name: 'away: 306 then 305; a PRIVMSG to an away user is answered 301',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: ' 366 ' },
      { c: 'b', send: 'AWAY :gone fishing' },
      { c: 'b', expect: '^:{S} 306 {b} :You have been marked as being away$' },
      { c: 'a', send: 'PRIVMSG {b} :are you there?' },
      { c: 'a', expect: '^:{S} 301 {a} {b} :gone fishing$' },
      { c: 'b', send: 'AWAY' },
      { c: 'b', expect: '^:{S} 305 {b} :You are no longer marked as being away$' },
    ],
  },
  {
    name: 'lusers, time, motd; KICK has no operator to obey (482), OPER none to be (491)',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'LUSERS' },
      { c: 'a', expect: '^:{S} 251 {a} :There are \\d+ users and 0 invisible on 1 servers$' },
      { c: 'a', expect: '^:{S} 254 {a} \\d+ :channels formed$' },
      { c: 'a', expect: '^:{S} 255 {a} :I have \\d+ clients and 0 servers$' },
      { c: 'a', send: 'TIME' },
      { c: 'a', expect: '^:{S} 391 {a} {S} :?\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$' },
      { c: 'a', send: 'MOTD' },
      { c: 'a', expect: '^:{S} 422 {a} :MOTD File is missing$' },
      { c: 'a', send: 'KICK {C} {a}' },
      { c: 'a', expect: '^:{S} 482 {a} {C} :' },
      { c: 'a', send: 'OPER me secret' },
      { c: 'a', expect: '^:{S} 491 {a} :' },
    ],
  },

  // ---- messages ----
  {
    name: 'privmsg: channel members get it, the console too; without echo-message the sender gets nothing back',
    clients: { a: reg(), b: reg(), j: { json: 'guest' } },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: ' 366 ' },
      { c: 'j', sendJson: { type: 'join', room: '{C-}', history: 0 } },
      { c: 'j', expectJson: { type: 'members' } },
      { c: 'a', send: 'PRIVMSG {C} :hello, channel' },
      { c: 'b', expect: '^:{a}!{a}@{S} PRIVMSG {C} :hello, channel$' },
      { c: 'j', expectJson: { type: 'message', room: '{C-}', from: '{a}', text: 'hello, channel', seq: 1 } },
      { c: 'a', none: 'PRIVMSG' },
      { c: 'j', sendJson: { type: 'say', room: '{C-}', text: 'hello from the console' } },
      { c: 'a', expect: '^:{j}!{j}@{S} PRIVMSG {C} :hello from the console$' },
    ],
  },
  {
    name: 'echo-message: the sender gets its own message back, tagged like everyone else’s',
    clients: { a: reg({ caps: ['echo-message', 'message-tags', 'server-time'] }), b: reg({ caps: ['message-tags'] }) },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: ' 366 ' },
      { c: 'a', send: 'PRIVMSG {C} :echo me' },
      { c: 'a', expect: '^@time=\\S+;msgid=r~{C-}~1 :{a}!{a}@{S} PRIVMSG {C} :echo me$' },
      { c: 'b', expect: '^@msgid=r~{C-}~1 :{a}!{a}@{S} PRIVMSG {C} :echo me$' },
      { c: 'a', send: 'PRIVMSG {b} :a direct one' },
      { c: 'a', expect: '^@time=\\S+;msgid=d~\\S+~1 :{a}!{a}@{S} PRIVMSG {b} :a direct one$' },
      { c: 'b', expect: '^@msgid=d~\\S+~1 :{a}!{a}@{S} PRIVMSG {b} :a direct one$' },
    ],
  },
  {
    name: 'privmsg: to a nick is a DM, both ways, console included',
    clients: { a: reg(), j: { json: 'guest' } },
    steps: [
      { c: 'a', send: 'PRIVMSG {j} :hi console' },
      { c: 'j', expectJson: { type: 'message', to: '{j}', from: '{a}', text: 'hi console', guest: true } },
      { c: 'j', sendJson: { type: 'dm', to: '{a}', text: 'hi irc' } },
      { c: 'a', expect: '^:{j}!{j}@{S} PRIVMSG {a} :hi irc$' },
    ],
  },
  {
    name: 'privmsg errors: 412 no text, 401 unknown or offline nick, 403/479 bad channel, 404 not a member, 407 too many targets',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: 'PRIVMSG {C}' },
      { c: 'a', expect: '^:{S} 412 {a} :No text to send$' },
      { c: 'a', send: 'PRIVMSG nobody{a} :hello?' },
      { c: 'a', expect: '^:{S} 401 {a} nobody{a} :' },
      { c: 'a', send: 'PRIVMSG bad!nick :x' },
      { c: 'a', expect: '^:{S} 401 {a} bad!nick :No such nick/channel$' },
      { c: 'a', send: 'PRIVMSG #bad!chan :x' },
      { c: 'a', expect: '^:{S} 479 {a} #bad!chan :' },
      { c: 'a', send: 'PRIVMSG {C} :not joined' },
      { c: 'a', expect: '^:{S} 404 {a} {C} :Cannot send to {C}: join {C-} first$' },
      { c: 'a', send: 'PRIVMSG a,b,c,d,e :x' },
      { c: 'a', expect: '^:{S} 407 {a} e :Too many targets' },
    ],
  },
  {
    name: 'notice: delivered as a message; its errors are never answered',
    clients: { a: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'NOTICE {b} :a notice' },
      { c: 'b', expect: '^:{a}!{a}@{S} PRIVMSG {b} :a notice$' },
      { c: 'a', send: 'NOTICE nobody{a} :into the void' },
      { c: 'a', send: 'NOTICE {C} :not joined' },
      { c: 'a', send: 'WHOIS {a}' },
      { c: 'a', expect: ' 318 {a} {a} ' },
      { c: 'a', none: ' 401 | 404 ' },
    ],
  },
  {
    name: 'ctcp: ACTION is an action both ways; other CTCP queries go nowhere',
    clients: { a: reg(), b: reg(), j: { json: 'guest' } },
    steps: [
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: ' 366 ' },
      { c: 'j', sendJson: { type: 'join', room: '{C-}', history: 0 } },
      { c: 'j', expectJson: { type: 'members' } },
      { c: 'a', send: 'PRIVMSG {C} :\x01ACTION waves\x01' },
      { c: 'b', expect: '^:{a}!{a}@{S} PRIVMSG {C} :\x01ACTION waves\x01$' },
      { c: 'j', expectJson: { type: 'message', from: '{a}', text: 'waves', action: true } },
      { c: 'j', sendJson: { type: 'say', room: '{C-}', text: 'bows', action: true } },
      { c: 'b', expect: '^:{j}!{j}@{S} PRIVMSG {C} :\x01ACTION bows\x01$' },
      { c: 'a', send: 'PRIVMSG {b} :\x01VERSION\x01' },
      { c: 'a', send: 'PRIVMSG {C} :after the query' },
      { c: 'b', expect: 'PRIVMSG {C} :after the query$' },
      { c: 'b', none: 'VERSION' },
    ],
  },
  {
    name: 'privmsg: several targets at once (TARGMAX PRIVMSG:4)',
    clients: { a: reg(), b: reg(), c: reg() },
    steps: [
      { c: 'b', send: 'JOIN {C}' },
      { c: 'b', expect: ' 366 ' },
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'a', send: 'PRIVMSG {C},{c} :to both' },
      { c: 'b', expect: '^:{a}!{a}@{S} PRIVMSG {C} :to both$' },
      { c: 'c', expect: '^:{a}!{a}@{S} PRIVMSG {c} :to both$' },
    ],
  },

  // ---- IRCv3 ----
  {
    name: 'server-time and message-tags: time and msgid only for clients that asked; TAGMSG is accepted and not relayed',
    clients: { a: reg({ caps: ['message-tags'] }), t: reg({ caps: ['server-time'] }), p: reg() },
    steps: [
      { c: 't', send: 'JOIN {C}' },
      { c: 't', expect: ' 366 ' },
      { c: 'p', send: 'JOIN {C}' },
      { c: 'p', expect: ' 366 ' },
      { c: 'a', send: 'JOIN {C}' },
      { c: 'a', expect: ' 366 ' },
      { c: 'a', send: '@+draft/typing=active TAGMSG {C}' },
      { c: 'a', send: '@+client-only=x PRIVMSG {C} :tagged' },
      { c: 't', expect: '^@time=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z :{a}!{a}@{S} PRIVMSG {C} :tagged$' },
      { c: 'p', expect: '^:{a}!{a}@{S} PRIVMSG {C} :tagged$' },
      { c: 't', none: 'TAGMSG|client-only' },
    ],
  },
  {
    name: 'labeled-response: ACK for nothing, the label on a single line, a batch for several, on errors too',
    clients: { a: reg({ caps: ['labeled-response', 'batch', 'echo-message'] }), b: reg() },
    steps: [
      { c: 'a', send: '@label=p1 PING :x' },
      { c: 'a', expect: '^@label=p1 :{S} PONG {S} x$' },
      { c: 'a', send: '@label=n1 PONG :x' },
      { c: 'a', expect: '^@label=n1 :{S} ACK$' },
      { c: 'a', send: '@label=m1 PRIVMSG {b} :labelled' },
      { c: 'a', expect: '^@label=m1 :{a}!{a}@{S} PRIVMSG {b} :labelled$' },
      { c: 'a', send: '@label=w1 WHOIS {b}' },
      { c: 'a', expect: '^@label=w1 :{S} BATCH \\+(\\S+) labeled-response$' },
      { c: 'a', expect: '^@batch=\\S+ :{S} 311 {a} {b} ' },
      { c: 'a', expect: '^@batch=\\S+ :{S} 318 {a} {b} ' },
      { c: 'a', expect: '^:{S} BATCH -\\S+$' },
      { c: 'a', send: '@label=e1 PRIVMSG nobody{a} :x' },
      { c: 'a', expect: '^@label=e1 :{S} 401 {a} nobody{a} :' },
      { c: 'a', send: '@label=j1 JOIN {C}' },
      { c: 'a', expect: '^@label=j1 :{S} BATCH \\+\\S+ labeled-response$' },
      { c: 'a', expect: '^@batch=\\S+ :{a}!{a}@{S} JOIN {C}$' },
      { c: 'a', expect: '^@batch=\\S+ :{S} 366 ' },
    ],
  },
  {
    name: 'labeled-response: without echo-message a PRIVMSG is answered ACK',
    clients: { a: reg({ caps: ['labeled-response'] }), b: reg() },
    steps: [
      { c: 'a', send: '@label=q PRIVMSG {b} :no echo' },
      { c: 'a', expect: '^@label=q :{S} ACK$' },
      { c: 'b', expect: 'PRIVMSG {b} :no echo$' },
    ],
  },
  {
    name: 'away-notify: members with the cap see AWAY once, even when they share several channels',
    clients: { a: reg({ caps: ['away-notify'] }), p: reg(), b: reg() },
    steps: [
      { c: 'a', send: 'JOIN {C},{D}' },
      { c: 'a', expect: ' 366 {a} {D} ' },
      { c: 'p', send: 'JOIN {C}' },
      { c: 'p', expect: ' 366 ' },
      { c: 'b', send: 'JOIN {C},{D}' },
      { c: 'b', expect: ' 366 {b} {D} ' },
      { c: 'b', send: 'AWAY :brb' },
      { c: 'a', expect: '^:{b}!{b}@{S} AWAY :brb$' },
      { c: 'b', send: 'AWAY' },
      { c: 'a', expect: '^:{b}!{b}@{S} AWAY$' },
      { c: 'a', none: 'AWAY :brb' },
      { c: 'p', none: 'AWAY' },
    ],
  },
  {
    name: 'sasl: PLAIN logs into an account made over the console; 900, 903; the nick becomes the account',
    clients: { k: { json: 'account' }, r: raw },
    steps: [
      { c: 'r', send: 'CAP LS 302' },
      { c: 'r', send: 'NICK whatever{r}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', send: 'CAP REQ sasl' },
      { c: 'r', expect: ' CAP \\* ACK :?sasl$' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', expect: '^AUTHENTICATE \\+$' },
      { c: 'r', send: 'AUTHENTICATE {plain:k}' },
      { c: 'r', expect: '^:{S} 900 \\* {k}!{k}@{S} {k} :You are now logged in as {k}$' },
      { c: 'r', expect: '^:{S} 903 \\* :SASL authentication successful$' },
      { c: 'r', send: 'CAP END' },
      { c: 'r', expect: '^:{S} 001 {k} :Welcome' },
      { c: 'r', send: 'WHOIS {k}' },
      { c: 'r', expect: '^:{S} 330 {k} {k} {k} :is logged in as$' },
    ],
  },
  {
    name: 'sasl: a wrong password is 904; unknown mechanism 908 and 904; * aborts (906); registration then goes on as a guest',
    clients: { k: { json: 'account' }, r: raw },
    steps: [
      { c: 'r', send: 'CAP LS 302' },
      { c: 'r', send: 'CAP REQ sasl' },
      { c: 'r', send: 'AUTHENTICATE EXTERNAL' },
      { c: 'r', expect: '^:{S} 908 \\* PLAIN :are available SASL mechanisms$' },
      { c: 'r', expect: '^:{S} 904 \\* :SASL authentication failed$' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', expect: '^AUTHENTICATE \\+$' },
      { c: 'r', send: 'AUTHENTICATE {plain-wrong:k}' },
      { c: 'r', expect: '^:{S} 904 \\* :SASL authentication failed$' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', expect: '^AUTHENTICATE \\+$' },
      { c: 'r', send: 'AUTHENTICATE *' },
      { c: 'r', expect: '^:{S} 906 \\* :SASL authentication aborted$' },
      { c: 'r', send: 'NICK {r}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', send: 'CAP END' },
      { c: 'r', expect: '^:{S} 001 {r} ' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', expect: '^:{S} 904 {r} :SASL authentication failed: log in before registration completes$' },
    ],
  },
  {
    name: 'sasl: more than 8 KiB of AUTHENTICATE data is 905; an empty response is 904',
    clients: { r: raw },
    steps: [
      { c: 'r', send: 'CAP REQ sasl' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', expect: '^AUTHENTICATE \\+$' },
      ...Array.from({ length: 21 }, (): Step => ({ c: 'r', send: `AUTHENTICATE ${'A'.repeat(400)}` })),
      { c: 'r', expect: '^:{S} 905 \\* :SASL message too long$' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', send: 'AUTHENTICATE +' },
      { c: 'r', expect: '^:{S} 904 \\* :SASL authentication failed$' },
    ],
  },
  {
    name: 'sasl: AUTHENTICATE after a successful login is 907',
    clients: { k: { json: 'account' }, r: raw },
    steps: [
      { c: 'r', send: 'CAP REQ sasl' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', send: 'AUTHENTICATE {plain:k}' },
      { c: 'r', expect: ' 903 ' },
      { c: 'r', send: 'AUTHENTICATE PLAIN' },
      { c: 'r', expect: '^:{S} 907 \\* :You have already authenticated using SASL$' },
    ],
  },
  {
    name: 'pass: PASS logs into the account of the nick; a wrong one is 464 and ERROR',
    clients: { k: { json: 'account' }, r: raw, w: raw },
    steps: [
      { c: 'r', send: 'PASS pw-of-{k-lower}' },
      { c: 'r', send: 'NICK {k}' },
      { c: 'r', send: 'USER u 0 * :r' },
      { c: 'r', expect: '^:{S} 001 {k} ' },
      { c: 'w', send: 'PASS wrong-password' },
      { c: 'w', send: 'NICK {k}' },
      { c: 'w', send: 'USER u 0 * :w' },
      { c: 'w', expect: '^:{S} 464 \\* :Password incorrect$' },
      { c: 'w', expect: '^:{S} ERROR :Closing Link: {k} \\(Bad password\\)$' },
      { c: 'w', closed: true },
    ],
  },

  // ---- limits ----
  {
    name: 'input: 417 for a line over 512 bytes or tags over 4094; the connection goes on',
    clients: { a: reg() },
    steps: [
      { c: 'a', send: `PRIVMSG {a} :${'x'.repeat(600)}` },
      { c: 'a', expect: '^:{S} 417 {a} :Input line was too long$' },
      { c: 'a', send: `@a=${'y'.repeat(4100)} PING :t` },
      { c: 'a', expect: '^:{S} 417 {a} :Input line was too long$' },
      { c: 'a', send: `@a=${'y'.repeat(9000)} PING :t` },
      { c: 'a', expect: '^:{S} 417 {a} :Input line was too long$' },
      { c: 'a', send: 'PING :still here' },
      { c: 'a', expect: '^:{S} PONG {S} :still here$' },
    ],
  },
];

// ---- the runner ----

let server: RunningServer;
const open: { close(): void }[] = [];

beforeAll(async () => {
  server = await startServer(['--server-name', S]);
});
afterAll(async () => {
  for (const c of open) c.close();
  await server.stop();
});

type Conn = { kind: 'irc'; nick: string; c: IrcClient; cursor: number } | { kind: 'json'; nick: string; c: TcpClient; cursor: number };

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('IRC conformance table', () => {
  ROWS.forEach((row, i) => {
    it(row.name, async () => {
      const nicks: Record<string, string> = {};
      for (const [alias, spec] of Object.entries(row.clients)) nicks[alias] = ('nick' in spec && spec.nick) || `t${i}${alias}`;
      const vars = (text: string, re: boolean): string =>
        text.replace(/\{([a-zA-Z#^:-]+)\}/g, (whole, key: string) => {
          let value: string | undefined;
          if (key === 'S') value = S;
          else if (key === 'C' || key === 'D') value = `#${key.toLowerCase()}${i}room`;
          else if (key === 'C-' || key === 'D-') value = `${key[0]!.toLowerCase()}${i}room`;
          else if (key.startsWith('plain:')) value = saslPlain(nicks[key.slice(6)]!, `pw-of-${nicks[key.slice(6)]!.toLowerCase()}`);
          else if (key.startsWith('plain-wrong:')) value = saslPlain(nicks[key.slice(12)]!, 'not-the-password');
          else if (key.endsWith('^')) value = nicks[key.slice(0, -1)]?.toUpperCase();
          else if (key.endsWith('-lower')) value = nicks[key.slice(0, -6)]?.toLowerCase();
          else value = nicks[key];
          if (value === undefined) return whole;
          return re ? escape(value) : value;
        });
      const conns: Record<string, Conn> = {};
      for (const [alias, spec] of Object.entries(row.clients)) {
        const nick = nicks[alias]!;
        if ('json' in spec) {
          const c = spec.json === 'account' ? await accountTcp(server.tcpPort, nick) : await helloTcp(server.tcpPort, nick);
          open.push(c);
          conns[alias] = { kind: 'json', nick, c, cursor: c.events.length };
        } else {
          const c = spec.irc === 'raw' ? await connectIrc(server.ircPort!) : await registerIrc(server.ircPort!, nick, spec);
          open.push(c);
          conns[alias] = { kind: 'irc', nick, c, cursor: c.lines.length };
        }
      }
      let fence = 0;
      for (const [n, step] of row.steps.entries()) {
        const conn = conns[step.c]!;
        const where = `step ${n + 1} (${step.c})`;
        if ('send' in step) {
          if (conn.kind !== 'irc') throw new Error(`${where}: send is for IRC clients`);
          conn.c.send(vars(step.send, false));
        } else if ('expect' in step) {
          if (conn.kind !== 'irc') throw new Error(`${where}: expect is for IRC clients`);
          const re = new RegExp(vars(step.expect, true));
          const after = conn.cursor;
          const line = await conn.c.next((l) => conn.c.lines.indexOf(l) >= after && re.test(l.raw)).catch((e: Error) => {
            throw new Error(`${where}: expected ${re}\n${e.message}`);
          });
          conn.cursor = conn.c.lines.indexOf(line) + 1;
        } else if ('none' in step) {
          if (conn.kind !== 'irc') throw new Error(`${where}: none is for IRC clients`);
          const token = `fence${++fence}`;
          conn.c.send(`PING :${token}`);
          const pong = await conn.c.next((l) => l.command === 'PONG' && l.text === token);
          const end = conn.c.lines.indexOf(pong);
          const re = step.none === '' ? undefined : new RegExp(vars(step.none, true));
          const seen = conn.c.lines.slice(conn.cursor, end).filter((l: IrcLine) => l.command !== 'PONG' && (re === undefined || re.test(l.raw)));
          expect(seen.map((l) => l.raw), `${where}: nothing should match ${re ?? 'anything'}`).toEqual([]);
        } else if ('closed' in step) {
          if (conn.kind !== 'irc') throw new Error(`${where}: closed is for IRC clients`);
          await conn.c.closed();
        } else if ('sendJson' in step) {
          if (conn.kind !== 'json') throw new Error(`${where}: sendJson is for console clients`);
          conn.c.send(JSON.parse(vars(JSON.stringify(step.sendJson), false)) as unknown);
        } else {
          if (conn.kind !== 'json') throw new Error(`${where}: expectJson is for console clients`);
          const want = JSON.parse(vars(JSON.stringify(step.expectJson), false)) as Record<string, unknown>;
          const after = conn.cursor;
          const matches = (e: Event): boolean => Object.entries(want).every(([k, v]) => e[k] === v);
          const ev = await conn.c.next((e) => conn.c.events.indexOf(e) >= after && matches(e)).catch((e: Error) => {
            throw new Error(`${where}: expected ${JSON.stringify(want)}\n${e.message}`);
          });
          conn.cursor = conn.c.events.indexOf(ev) + 1;
        }
      }
    });
  });
});
