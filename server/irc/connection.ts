// One IRC client, between its lines and the hub. Lines become commands (the table in commands.ts), and
// commands become Parley requests with ids; the hub's replies (matched by `re`) and its shared events
// become IRC lines. The hub knows nothing of IRC: everything IRC-shaped lives here and beside it —
// registration (NICK/USER/CAP/PASS/SASL, then one `hello`), echo suppression, labels and batches,
// joins rendered in IRC order, and the events held until registration completes.
//
// Order: requests reach the hub in the order the lines arrived (the transport queues them while the hub
// has paused the connection), and the hub answers each in order; so the state read here when a reply
// arrives is the state the hub saw. Commands answered here without the hub (PING, MODE, CAP) may
// overtake the answer to an earlier command still waiting on the hub, as on any IRC server with
// services; labeled-response is how a client matches them.
import type { ChatMessage, Request, ServerEvent } from '../../protocol/messages.js';
import type { Topic } from '../kv/room-topics.js';
import type { Logger } from '../log.js';
import type { Outgoing } from '../outgoing.js';
import { Cap } from './caps.js';
import { EchoMatcher } from './echo.js';
import { COMMANDS } from './commands.js';
import { isupportLines, isupportTokens } from './isupport.js';
import { formatFitted, formatLine, MAX_BODY_BYTES, parseLine } from './message.js';
import { channelOf, ircKey } from './names.js';
import { ERR, RPL } from './numerics.js';
import { Tags, type IrcRenderer } from './render.js';
import { Reply, type ReplySink } from './reply.js';
import type { SaslPlain } from './sasl.js';

/** What every IRC connection of one listener shares. */
export interface IrcShared {
  readonly renderer: IrcRenderer;
  readonly serverName: string;
  readonly network: string;
  /** Software and version, for 002/004 (e.g. parley/0.1.0). */
  readonly version: string;
  /** When the server started, for 003. */
  readonly created: string;
  /** Messages replayed on join to clients without chathistory (--irc-replay); 0 = none. */
  readonly replay: number;
  /** A connection not registered by then is closed. */
  readonly registrationTimeoutMs: number;
  /** Read-only view of room topics, for LIST (one read per room, not one hub request per room). */
  readonly topicOf: (roomKey: string) => Promise<Topic | undefined>;
  /** For LUSERS: users online, rooms with members, open client connections. */
  readonly stats: () => { users: number; rooms: number; clients: number };
  readonly log: Logger;
}

/** What the connection holds of its transport. */
export interface IrcLink {
  /** Lines, each with its CR LF. */
  writeBytes(bytes: Buffer): void;
  /** A request for the hub: handed on now, or queued (in order) while the hub has the connection paused. */
  toHub(req: Request): void;
  /** Ends the connection once what is queued has been written. */
  close(): void;
}

/** A hub reply handler: true once the request is finished (its Reply part is then released). */
export type OnReply = (ev: ServerEvent) => boolean;

interface Pending {
  reply: Reply;
  on: OnReply;
}

/** A join between its `members` and its `history`: the hub sends the topic in between. */
interface Joining {
  id: number;
  reply: Reply;
  room: string;
  users: string[];
  /** Already in the channel: an IRC server ignores a second JOIN, so nothing is shown. */
  silent: boolean;
}

/** Most conversations remembered for CHATHISTORY TARGETS. */
const MAX_ACTIVITY = 1000;
/** Labels longer than this are ignored (the spec's bound is 64 bytes). */
const MAX_LABEL_BYTES = 64;

export class IrcConnection implements ReplySink {
  /** The name registered with the hub (the nick), once welcomed. */
  name: string | undefined;
  key: string | undefined;
  /** Logged in to an account (SASL or PASS). */
  account = false;
  /** 001 has been sent. */
  registered = false;
  /** NICK and USER as the client sent them before registration. */
  wantedNick: string | undefined;
  user: string | undefined;
  pass: string | undefined;
  /** CAP LS or REQ before registration: it waits for CAP END. */
  capNegotiating = false;
  caps = 0;
  /** CAP LS 302 or later: values in LS, and cap-notify implied. */
  cap302 = false;
  sasl: SaslPlain | undefined;
  helloInFlight = false;
  invisible = false;
  /** Channels this connection is in, by room key, with their display names. */
  readonly channels = new Map<string, string>();
  /** For CHATHISTORY TARGETS: latest activity seen per conversation (channel or nick), oldest first. */
  readonly activity = new Map<string, { target: string; ts: string }>();

  private nextId = 1;
  private nextBatch = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly joining = new Map<string, Joining>();
  /** PART, TOPIC (set) in flight, per room key: their broadcast comes back before their ack. */
  private readonly leaving = new Map<string, Reply[]>();
  private readonly settingTopic = new Map<string, Reply[]>();
  /** Own says and dms in flight, matched to the messages that come back (echo.ts). */
  private readonly echoes = new EchoMatcher<Reply>({
    show: (out) => this.writeShared(out),
    echo: (reply, out, m) => this.echo(reply, out, m),
  });
  /** Events that arrived before registration completed (a SASL login's queued DMs). */
  private held: Outgoing[] | undefined;
  private heldEstimate = 0;
  /**
   * Away messages of users in rooms we share, as the hub told them (members, away events), so a PRIVMSG
   * to one is answered 301 as IRC clients expect. Forgotten when they leave a shared room (we may not
   * hear of their return after that).
   */
  private readonly awayOf = new Map<string, string>();
  /** Away changes already shown this turn: the hub tells each shared room, IRC shows it once. */
  private awaySeen: Set<string> | undefined;
  private registrationTimer: NodeJS.Timeout | undefined;
  private gone = false;

  constructor(
    readonly shared: IrcShared,
    private readonly link: IrcLink,
  ) {
    this.registrationTimer = setTimeout(() => this.registrationTimedOut(), shared.registrationTimeoutMs);
    this.registrationTimer.unref();
  }

  // ---- from the transport ----

  /** One received line (without CR LF). */
  line(bytes: Buffer): void {
    const parsed = parseLine(bytes);
    if (!parsed.ok) {
      if (parsed.code === 'input_too_long') this.tooLong();
      else if (parsed.code === 'bad_utf8') {
        this.write(formatLine(this.serverName, 'FAIL', [parsed.command, 'INVALID_UTF8', 'Message rejected: this server only accepts UTF-8']));
      }
      return;
    }
    const msg = parsed.msg;
    const label = this.has(Cap.labeledResponse) ? msg.tags?.get('label') : undefined;
    const reply = new Reply(this, label !== undefined && label !== '' && Buffer.byteLength(label) <= MAX_LABEL_BYTES ? label : undefined, msg.command === 'NOTICE');
    const command = COMMANDS[msg.command];
    if (!command) this.numeric(reply, ERR.UNKNOWNCOMMAND, msg.command, 'Unknown command');
    else if (!command.early && !this.registered) this.numeric(reply, ERR.NOTREGISTERED, 'You have not registered');
    else if (msg.params.length < command.minParams) this.numeric(reply, ERR.NEEDMOREPARAMS, msg.command, 'Not enough parameters');
    else command.handle(this, msg, reply);
    reply.release();
  }

  /** A line over the limits, refused whole. */
  tooLong(): void {
    this.write(formatLine(this.serverName, ERR.INPUTTOOLONG, [this.nick, 'Input line was too long']));
  }

  /** The hub's event for this connection. */
  event(out: Outgoing): void {
    if (this.gone) return;
    const ev = out.event;
    const re = 're' in ev ? ev.re : undefined;
    if (typeof re === 'number') {
      const p = this.pending.get(re);
      if (p) {
        if (p.on(ev)) this.settle(re);
        return;
      }
    }
    if (!this.registered && ev.type !== 'bye' && ev.type !== 'error') {
      (this.held ??= []).push(out);
      this.heldEstimate += ev.type === 'message' ? 200 + ev.text.length * 3 : 200;
      return;
    }
    this.unsolicited(out);
  }

  /** The liveness sweep found the client quiet: ask it for a sign of life. */
  ping(): void {
    this.write(formatLine(this.serverName, 'PING', [this.serverName]));
  }

  /** Bytes of events held until registration, counted as unsent so the hub paces what it queues. */
  get heldBytes(): number {
    return this.heldEstimate;
  }

  closed(): void {
    this.gone = true;
    clearTimeout(this.registrationTimer);
    this.registrationTimer = undefined;
  }

  // ---- ReplySink ----

  write(line: string): void {
    if (!this.gone) this.link.writeBytes(Buffer.from(line + '\r\n', 'utf8'));
  }

  nextBatchId(): string {
    return (this.nextBatch++).toString(36);
  }

  get batches(): boolean {
    return this.has(Cap.batch);
  }

  get serverName(): string {
    return this.shared.serverName;
  }

  // ---- for the command handlers ----

  /** The nick for numerics: `*` until registered. */
  get nick(): string {
    return this.registered && this.name !== undefined ? this.name : '*';
  }

  get renderer(): IrcRenderer {
    return this.shared.renderer;
  }

  has(cap: number): boolean {
    return (this.caps & cap) !== 0;
  }

  /** Which tags this client's copy of a shared event carries (render.ts). */
  get tagVariant(): number {
    return (this.has(Cap.serverTime) ? Tags.time : 0) | (this.has(Cap.messageTags) ? Tags.msgid : 0);
  }

  /** `:server CODE nick params…`; a trailing free text is cut to fit. */
  numeric(reply: Reply, code: string, ...params: string[]): void {
    reply.line(this.numericLine(code, params));
  }

  /** An error numeric: not sent for NOTICE. */
  errorNumeric(reply: Reply, code: string, ...params: string[]): void {
    reply.error(this.numericLine(code, params));
  }

  numericLine(code: string, params: readonly string[]): string {
    const line = formatLine(this.serverName, code, [this.nick, ...params]);
    if (Buffer.byteLength(line, 'utf8') <= MAX_BODY_BYTES) return line;
    return formatFitted(this.serverName, code, [this.nick, ...params.slice(0, -1)], params[params.length - 1] ?? '');
  }

  /** The client's own source, `nick!nick@host`. */
  get source(): string {
    return this.renderer.source(this.name ?? this.wantedNick ?? '*');
  }

  /** Sends a request to the hub; `on` gets its replies until it returns true. Returns the request id. */
  request(reply: Reply, req: Request, on: OnReply): number {
    const id = this.nextId++;
    req.id = id;
    reply.hold();
    this.pending.set(id, { reply, on });
    this.link.toHub(req);
    return id;
  }

  /** Ends the connection after an ERROR line. */
  closeWith(reason: string): void {
    this.write(formatLine(this.serverName, 'ERROR', [`Closing Link: ${this.name ?? this.wantedNick ?? '*'} (${reason})`]));
    this.link.close();
  }

  /** NICK, USER, CAP END or a finished SASL may complete registration. */
  tryRegister(reply: Reply): void {
    if (this.registered || this.helloInFlight || this.capNegotiating || this.wantedNick === undefined || this.user === undefined) return;
    if (this.sasl) return;
    if (this.name !== undefined) return this.completeRegistration(reply);
    const name = this.wantedNick;
    const password = this.pass;
    const viaPass = password !== undefined;
    this.helloInFlight = true;
    const req: Request = viaPass ? { type: 'hello', name, password, protocol: 1, client: 'irc' } : { type: 'hello', name, protocol: 1, client: 'irc' };
    this.request(reply, req, (ev) => {
      this.helloInFlight = false;
      if (ev.type === 'welcome') {
        this.loggedIn(ev.name, ev.account);
        this.completeRegistration(reply);
      } else if (ev.type === 'error') {
        this.helloRefused(reply, name, ev.code, ev.message, viaPass);
        // A NICK sent while this hello was on its way is the client's next try.
        if (!this.gone && this.wantedNick !== name) this.tryRegister(reply);
      }
      return true;
    });
  }

  /** SASL PLAIN is complete: log into the account now; registration still waits for CAP END, NICK and USER. */
  saslLogin(reply: Reply, name: string, password: string): void {
    this.helloInFlight = true;
    this.request(reply, { type: 'hello', name, password, protocol: 1, client: 'irc' }, (ev) => {
      this.helloInFlight = false;
      if (ev.type === 'welcome') {
        this.loggedIn(ev.name, ev.account);
        this.numeric(reply, RPL.LOGGEDIN, this.source, ev.name, `You are now logged in as ${ev.name}`);
        this.numeric(reply, RPL.SASLSUCCESS, 'SASL authentication successful');
        this.tryRegister(reply);
      } else if (ev.type === 'error') {
        this.numeric(reply, ERR.SASLFAIL, ev.code === 'rate_limited' ? `SASL authentication failed: ${ev.message}` : 'SASL authentication failed');
      }
      return true;
    });
  }

  /** The hub admitted this connection under `name`. */
  loggedIn(name: string, account: boolean): void {
    this.name = name;
    this.key = ircKey(name);
    this.account = account;
  }

  private helloRefused(reply: Reply, nick: string, code: string, message: string, viaPass: boolean): void {
    switch (code) {
      case 'bad_name':
        return this.numeric(reply, ERR.ERRONEUSNICKNAME, nick, 'Erroneous nickname');
      case 'name_taken':
        return this.numeric(reply, ERR.NICKNAMEINUSE, nick, message);
      case 'auth_required':
        return this.numeric(reply, ERR.NICKNAMEINUSE, nick, `${nick} is a registered account: log in with SASL PLAIN (or PASS), or choose another nick`);
      case 'bad_credentials':
        this.numeric(reply, ERR.PASSWDMISMATCH, 'Password incorrect');
        return this.closeWith('Bad password');
      default:
        this.numeric(reply, viaPass ? ERR.PASSWDMISMATCH : ERR.NICKNAMEINUSE, ...(viaPass ? [] : [nick]), message);
        if (code === 'rate_limited') this.closeWith(message);
    }
  }

  private completeRegistration(reply: Reply): void {
    if (this.registered || this.name === undefined) return;
    this.registered = true;
    clearTimeout(this.registrationTimer);
    this.registrationTimer = undefined;
    const { serverName, network, version, created } = this.shared;
    const nick = this.name;
    this.numeric(reply, RPL.WELCOME, `Welcome to the ${network} IRC network, ${this.source}`);
    this.numeric(reply, RPL.YOURHOST, `Your host is ${serverName}, running version ${version}`);
    this.numeric(reply, RPL.CREATED, `This server was created ${created}`);
    reply.line(formatLine(serverName, RPL.MYINFO, [nick, serverName, version, 'i', 'nt']));
    for (const tokens of isupportLines(isupportTokens(network))) reply.line(formatLine(serverName, RPL.ISUPPORT, [nick, ...tokens, 'are supported by this server']));
    this.lusers(reply);
    this.numeric(reply, ERR.NOMOTD, 'MOTD File is missing');
    const held = this.held;
    this.held = undefined;
    this.heldEstimate = 0;
    if (held) for (const out of held) this.unsolicited(out);
  }

  lusers(reply: Reply): void {
    const s = this.shared.stats();
    this.numeric(reply, RPL.LUSERCLIENT, `There are ${s.users} users and 0 invisible on 1 servers`);
    this.numeric(reply, RPL.LUSEROP, '0', 'operator(s) online');
    this.numeric(reply, RPL.LUSERCHANNELS, String(s.rooms), 'channels formed');
    this.numeric(reply, RPL.LUSERME, `I have ${s.clients} clients and 0 servers`);
    this.numeric(reply, RPL.LOCALUSERS, String(s.users), String(s.users), `Current local users ${s.users}, max ${s.users}`);
    this.numeric(reply, RPL.GLOBALUSERS, String(s.users), String(s.users), `Current global users ${s.users}, max ${s.users}`);
  }

  private registrationTimedOut(): void {
    this.registrationTimer = undefined;
    if (!this.registered && !this.gone) this.closeWith('Registration timed out');
  }

  // ---- joins, parts, topics, messages: hub requests whose effects come back as shared events ----

  join(reply: Reply, room: string): void {
    const key = ircKey(room);
    // A chathistory client fetches what it wants; one message tells TARGETS when the room last spoke.
    const history = this.has(Cap.chathistory) ? 1 : this.shared.replay;
    const id = this.request(reply, { type: 'join', room, history }, (ev) => {
      if (ev.type === 'members') {
        for (const [who, text] of Object.entries(ev.away ?? {})) this.awayOf.set(ircKey(who), text);
        const silent = this.channels.has(key);
        this.joining.set(key, { id, reply, room: ev.room, users: ev.users, silent });
        if (!silent) {
          this.channels.set(key, ev.room);
          reply.line(formatLine(this.source, 'JOIN', [channelOf(ev.room)]));
        }
        return false;
      }
      if (ev.type === 'error') {
        this.joinRefused(reply, room, ev.code, ev.message);
        return true;
      }
      return false;
    });
  }

  private joinRefused(reply: Reply, room: string, code: string, message: string): void {
    const channel = channelOf(room);
    if (code === 'too_many_rooms') this.numeric(reply, ERR.TOOMANYCHANNELS, channel, message);
    else if (code === 'bad_room') this.numeric(reply, ERR.BADCHANNAME, channel, 'Illegal channel name');
    else this.failLine(reply, 'JOIN', code, [channel], message);
  }

  /** `FAIL COMMAND CODE context… :message` for a hub error with no IRC numeric of its own. */
  failLine(reply: Reply, command: string, code: string, context: readonly string[], message: string): void {
    reply.error(formatFitted(this.serverName, 'FAIL', [command, code.toUpperCase(), ...context], message));
  }

  part(reply: Reply, room: string): void {
    const key = ircKey(room);
    const queue = this.leaving.get(key) ?? [];
    queue.push(reply);
    this.leaving.set(key, queue);
    this.request(reply, { type: 'leave', room }, (ev) => {
      if (ev.type !== 'ack' && ev.type !== 'error') return false;
      shiftQueue(this.leaving, key, reply);
      if (ev.type === 'error') {
        if (ev.code === 'not_member') this.numeric(reply, ERR.NOTONCHANNEL, channelOf(room), "You're not on that channel");
        else this.failLine(reply, 'PART', ev.code, [channelOf(room)], ev.message);
      }
      return true;
    });
  }

  setTopic(reply: Reply, room: string, text: string): void {
    const key = ircKey(room);
    const queue = this.settingTopic.get(key) ?? [];
    queue.push(reply);
    this.settingTopic.set(key, queue);
    this.request(reply, { type: 'topic', room, text }, (ev) => {
      if (ev.type !== 'ack' && ev.type !== 'error') return false;
      shiftQueue(this.settingTopic, key, reply);
      if (ev.type === 'error') {
        if (ev.code === 'not_member') this.numeric(reply, ERR.NOTONCHANNEL, channelOf(room), "You're not on that channel");
        else this.failLine(reply, 'TOPIC', ev.code, [channelOf(room)], ev.message);
      }
      return true;
    });
  }

  /** PRIVMSG/NOTICE to a channel (`room`) or a nick (`to`). The echo is matched to the ack (echo-message). */
  say(reply: Reply, target: { room: string } | { to: string }, text: string, action: boolean): void {
    const conv = 'room' in target ? `#${ircKey(target.room)}` : `@${ircKey(target.to)}`;
    const req: Request = 'room' in target ? { type: 'say', room: target.room, text } : { type: 'dm', to: target.to, text };
    if (action) req.action = true;
    this.echoes.sent(conv, reply);
    this.request(reply, req, (ev) => {
      if (ev.type !== 'ack' && ev.type !== 'error') return false;
      this.echoes.settled(conv, reply, ev.type === 'ack' ? ev.seq : undefined);
      if (ev.type === 'error') this.sendRefused(reply, 'room' in target ? channelOf(target.room) : target.to, ev.code, ev.message);
      else if ('to' in target) {
        const away = this.awayOf.get(ircKey(target.to));
        if (away !== undefined) this.errorNumeric(reply, RPL.AWAY, target.to, away);
      }
      return true;
    });
  }

  private sendRefused(reply: Reply, target: string, code: string, message: string): void {
    switch (code) {
      case 'no_such_user':
      case 'not_reachable':
        return this.errorNumeric(reply, ERR.NOSUCHNICK, target, message);
      case 'bad_text':
        return this.errorNumeric(reply, ERR.NOTEXTTOSEND, message);
      default:
        // not_member, rate_limited, unavailable: the message was not sent.
        return this.errorNumeric(reply, ERR.CANNOTSENDTOCHAN, target, `Cannot send to ${target}: ${message}`);
    }
  }

  // ---- shared and unsolicited events ----

  private unsolicited(out: Outgoing): void {
    const ev = out.event;
    switch (ev.type) {
      case 'message':
        return this.message(out, ev);
      case 'joined':
        // Our own JOIN was shown with the members; a second session's join is not announced.
        if (ircKey(ev.name) !== this.key) this.writeShared(out);
        return;
      case 'left':
        return this.left(out, ev.room, ev.name);
      case 'topic':
        return this.topic(out, ev.room, ev.text, ev.by, ev.ts);
      case 'away':
        return this.away(out, ev.name, ev.text);
      case 'history':
        if (ev.room !== undefined) this.joinDone(ircKey(ev.room), ev.messages);
        return;
      case 'bye':
        return this.closeWith(ev.reason === 'shutdown' ? 'Server shutting down' : 'Quit');
      case 'error':
        if (ev.fatal && ev.code === 'idle_timeout') return this.closeWith(this.registered ? `Ping timeout: ${ev.message}` : 'Registration timed out');
        if (ev.fatal) return this.closeWith(ev.message);
        return this.write(formatFitted(this.serverName, 'NOTICE', [this.nick], ev.message));
      default:
        return;
    }
  }

  private writeShared(out: Outgoing): void {
    this.link.writeBytes(out.encode(this.renderer.encoders[this.tagVariant]!));
  }

  private left(out: Outgoing, room: string, name: string): void {
    const key = ircKey(room);
    if (ircKey(name) !== this.key) {
      this.awayOf.delete(ircKey(name));
      return this.writeShared(out);
    }
    this.channels.delete(key);
    this.activity.delete(`#${key}`);
    const reply = this.leaving.get(key)?.[0];
    if (reply) for (const l of this.renderer.lines(out.event, this.tagVariant) ?? []) reply.line(l);
    else this.writeShared(out);
  }

  private topic(out: Outgoing, room: string, text: string, by: string | undefined, ts: string | undefined): void {
    const key = ircKey(room);
    const joining = this.joining.get(key);
    if (joining) {
      // The topic a join sends between members and history: 332/333 as part of the JOIN.
      if (!joining.silent && text !== '') this.topicNumerics(joining.reply, joining.room, text, by, ts);
      return;
    }
    const reply = by !== undefined && ircKey(by) === this.key ? this.settingTopic.get(key)?.[0] : undefined;
    if (reply) for (const l of this.renderer.lines(out.event, this.tagVariant) ?? []) reply.line(l);
    else this.writeShared(out);
  }

  topicNumerics(reply: Reply, room: string, text: string, by: string | undefined, ts: string | undefined): void {
    this.numeric(reply, RPL.TOPIC, channelOf(room), text);
    if (by !== undefined && ts !== undefined) this.numeric(reply, RPL.TOPICWHOTIME, channelOf(room), this.renderer.source(by), String(Math.floor(Date.parse(ts) / 1000)));
  }

  private away(out: Outgoing, name: string, text: string | undefined): void {
    const key = ircKey(name);
    if (text === undefined) this.awayOf.delete(key);
    else this.awayOf.set(key, text);
    if (!this.has(Cap.awayNotify) || key === this.key) return;
    // One event per shared room, all in one turn: shown once.
    const seen = `${key} ${text ?? ''}`;
    if (!this.awaySeen) {
      this.awaySeen = new Set();
      setImmediate(() => (this.awaySeen = undefined));
    }
    if (this.awaySeen.has(seen)) return;
    this.awaySeen.add(seen);
    this.writeShared(out);
  }

  /** The join's history arrived: names, then (for a client without chathistory) the replay. */
  private joinDone(key: string, messages: readonly ChatMessage[]): void {
    const j = this.joining.get(key);
    if (!j) return;
    this.joining.delete(key);
    const last = messages[messages.length - 1];
    if (last) this.noteActivity(`#${key}`, channelOf(j.room), last.ts);
    if (!j.silent) {
      this.names(j.reply, j.room, j.users);
      if (!this.has(Cap.chathistory)) {
        for (const m of messages) for (const l of this.renderer.messageLines(m, this.tagVariant & Tags.time)) j.reply.line(l);
      }
    }
    this.settle(j.id);
  }

  /** 353 lines (as many as the names need) and 366. */
  names(reply: Reply, room: string, users: readonly string[]): void {
    const channel = channelOf(room);
    const head = formatLine(this.serverName, RPL.NAMREPLY, [this.nick, '=', channel]);
    const room510 = 510 - Buffer.byteLength(head) - 2;
    let line = '';
    for (const u of users) {
      if (line !== '' && line.length + 1 + u.length > room510) {
        reply.line(`${head} :${line}`);
        line = '';
      }
      line = line === '' ? u : `${line} ${u}`;
    }
    if (line !== '') reply.line(`${head} :${line}`);
    this.numeric(reply, RPL.ENDOFNAMES, channel, 'End of /NAMES list');
  }

  private message(out: Outgoing, m: ChatMessage): void {
    const fromKey = ircKey(m.from);
    const mine = fromKey === this.key;
    const otherKey = m.room !== undefined ? undefined : mine ? ircKey(m.to ?? m.from) : fromKey;
    const conv = m.room !== undefined ? `#${ircKey(m.room)}` : `@${otherKey}`;
    this.noteActivity(conv, m.room !== undefined ? channelOf(m.room) : mine ? (m.to ?? m.from) : m.from, m.ts);
    this.echoes.message(conv, out, m, mine);
  }

  /** Our own message came back: the echo (echo-message), part of the command's response; else nothing. */
  private echo(reply: Reply, out: Outgoing, m: ChatMessage): void {
    const toSelf = m.room === undefined && ircKey(m.to ?? '') === this.key;
    if (this.has(Cap.echoMessage)) {
      if (reply.done) this.writeShared(out);
      else for (const l of this.renderer.messageLines(m, this.tagVariant)) reply.line(l);
    } else if (toSelf) {
      // A message to oneself is also a message received.
      this.writeShared(out);
    }
  }

  noteActivity(key: string, target: string, ts: string): void {
    this.activity.delete(key);
    this.activity.set(key, { target, ts });
    if (this.activity.size > MAX_ACTIVITY) this.activity.delete(this.activity.keys().next().value!);
  }

  private settle(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reply.release();
  }
}

function shiftQueue(map: Map<string, Reply[]>, key: string, reply: Reply): void {
  const q = map.get(key);
  if (!q) return;
  const at = q.indexOf(reply);
  if (at >= 0) q.splice(at, 1);
  if (q.length === 0) map.delete(key);
}
