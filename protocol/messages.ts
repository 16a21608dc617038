// Parley protocol v1: the shapes of every request a client sends and every event a server sends.
// docs/protocol.md is the normative description; this file is its executable twin.
import type { ErrorCode } from './errors.js';

export const PROTOCOL_VERSION = 1;

export const LIMITS = {
  /** Names of users and rooms: 1-32 of letters, digits, `_`, `-`, `.`. */
  nameMaxLength: 32,
  /** Text of a message, in Unicode code points. */
  textMaxChars: 4000,
  /** A request `id` that is a string may be at most this long. */
  idMaxLength: 64,
  /** A message id (`mid` of say and dm): 1-64 characters. */
  midMaxLength: 64,
  /** The `client` field of hello is informational and capped so it cannot bloat logs. */
  clientMaxLength: 128,
  /** History returned when a join does not say how much it wants. */
  defaultHistory: 50,
  /** The most history one join or history request returns. */
  maxHistory: 1000,
  /** Users per `who` page without a room: default and most. */
  defaultWhoPage: 100,
  maxWhoPage: 500,
  /** Rooms one connection may be in at once. */
  maxRoomsPerConnection: 100,
  /** Room topics and away messages, in characters. */
  topicMaxChars: 390,
  awayMaxChars: 300,
  /** An emoji of a reaction, in UTF-16 units (one grapheme with its modifiers fits). */
  emojiMaxLength: 16,
  /** Distinct emoji on one message. */
  maxReactionsPerMessage: 20,
  /** `search`: the query in characters, the words in it, and results per page (default and most). */
  searchQueryMaxChars: 200,
  searchMaxTerms: 10,
  defaultSearchPage: 20,
  maxSearchPage: 100,
  /** A longer word is compared by its first this many characters (search-terms.ts). */
  searchWordMaxChars: 64,
  /** Passwords: the default minimum (--min-password-length) and the maximum, in characters. */
  minPasswordLength: 8,
  maxPasswordLength: 1024,
  /** Longest token or password field accepted at all; longer is bad_request, not a login attempt. */
  secretMaxLength: 4096,
  /** Default cap on one TCP line or WebSocket message, in bytes. */
  defaultMaxMessageBytes: 65536,
} as const;

export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

/** A request id: echoed back as `re` on the one direct reply to that request. */
export type RequestId = string | number;

// ---- Requests: client -> server ----

interface Base {
  id?: RequestId;
}
/** Without password or token: a guest session, unless the name belongs to an account (auth_required). */
export interface HelloRequest extends Base {
  type: 'hello';
  name: string;
  protocol?: number;
  client?: string;
  /** Logs into the account `name`. */
  password?: string;
  /** A token from an earlier welcome or register: logs in without the password. */
  token?: string;
}
/** Makes the guest's current name an account; answered with ack {token}. */
export interface RegisterRequest extends Base {
  type: 'register';
  password: string;
}
/** Changes the account's password; every other token of the account is revoked. */
export interface PasswordRequest extends Base {
  type: 'password';
  old: string;
  new: string;
}
/** With `text`: sets the room's topic (empty clears it). Without: asks for it. */
export interface TopicRequest extends Base {
  type: 'topic';
  room: string;
  text?: string;
}
/** With `text`: marks the user away with that message. Without: back. */
export interface AwayRequest extends Base {
  type: 'away';
  text?: string;
}
/** What is known about one user. */
export interface WhoisRequest extends Base {
  type: 'whois';
  name: string;
}
/** Revokes this connection's token, or with `all` every token of the account. */
export interface LogoutRequest extends Base {
  type: 'logout';
  all?: boolean;
}
export interface JoinRequest extends Base {
  type: 'join';
  room: string;
  /** How many of the latest messages to receive (0-1000, default 50). */
  history?: number;
  /** Receive every retained message with seq greater than this instead (resume). */
  since?: number;
}
export interface LeaveRequest extends Base {
  type: 'leave';
  room: string;
}
export interface SayRequest extends Base {
  type: 'say';
  room: string;
  text: string;
  /** An emote (`/me waves`): clients render it as `* alice waves`. */
  action?: boolean;
  /** The client's own id for this message (1-64 characters): a resend with the same mid is stored once. */
  mid?: string;
}
export interface DmRequest extends Base {
  type: 'dm';
  to: string;
  text: string;
  action?: boolean;
  mid?: string;
}
/** With `room`: its members. Without: known users, a page at a time, in name order after `after`. */
export interface WhoRequest extends Base {
  type: 'who';
  room?: string;
  after?: string;
  limit?: number;
}
export interface RoomsRequest extends Base {
  type: 'rooms';
}
/** Exactly one of `room` (a room the user is in) or `with` (the other side of a direct conversation). */
export interface HistoryRequest extends Base {
  type: 'history';
  room?: string;
  with?: string;
  /** Page back: messages with seq strictly less than this (default: newest). */
  before?: number;
  /** Page forward: messages with seq strictly greater than this; the page then starts at the oldest. */
  after?: number;
  /** Only messages stored strictly before this time (ISO 8601 UTC): a bound like `before`, found by time. */
  beforeTs?: string;
  /** Only messages stored strictly after this time: a bound like `after` (the page starts at the oldest). */
  afterTs?: string;
  limit?: number;
}
export interface TimeRequest extends Base {
  type: 'time';
}
export interface PingRequest extends Base {
  type: 'ping';
}
export interface ByeRequest extends Base {
  type: 'bye';
}
/** The sender is typing in a room (`room`) or to a user (`to`): exactly one. Ephemeral, never stored. */
export interface TypingRequest extends Base {
  type: 'typing';
  room?: string;
  to?: string;
}
/** The user has read up to `seq` in a room (`room`) or a direct conversation (`with`): exactly one. */
export interface ReadRequest extends Base {
  type: 'read';
  room?: string;
  with?: string;
  seq: number;
}
/** Every read marker of the user; answered with `reads`. */
export interface ReadsRequest extends Base {
  type: 'reads';
}
/** Changes the text of one's own stored message `seq` of a room (`room`) or direct conversation (`to`). */
export interface EditRequest extends Base {
  type: 'edit';
  room?: string;
  to?: string;
  seq: number;
  text: string;
}
/** Deletes one's own stored message: it keeps its seq, without its text. */
export interface DeleteRequest extends Base {
  type: 'delete';
  room?: string;
  to?: string;
  seq: number;
}
/** Adds (react) or takes back (unreact) the user's reaction `emoji` to a stored message. */
export interface ReactRequest extends Base {
  type: 'react' | 'unreact';
  room?: string;
  to?: string;
  seq: number;
  emoji: string;
}
/**
 * Finds stored messages containing every word of `query`: in one room the user is in (`room`), in one
 * of its direct conversations (`with`), or, with neither, in all of those at once. Answered with
 * `results`, newest first; `before` is the `next` of an earlier `results`, for the page after it.
 */
export interface SearchRequest extends Base {
  type: 'search';
  query: string;
  room?: string;
  with?: string;
  before?: number;
  limit?: number;
}
/** The answer to a server `ping` event (TCP liveness); no reply. */
export interface PongRequest extends Base {
  type: 'pong';
}

export type Request =
  | HelloRequest
  | JoinRequest
  | LeaveRequest
  | SayRequest
  | DmRequest
  | WhoRequest
  | RoomsRequest
  | HistoryRequest
  | TimeRequest
  | PingRequest
  | PongRequest
  | RegisterRequest
  | PasswordRequest
  | LogoutRequest
  | TopicRequest
  | AwayRequest
  | WhoisRequest
  | TypingRequest
  | ReadRequest
  | ReadsRequest
  | EditRequest
  | DeleteRequest
  | (ReactRequest & { type: 'react' })
  | (ReactRequest & { type: 'unreact' })
  | SearchRequest
  | ByeRequest;

export type RequestType = Request['type'];

// ---- Events: server -> client ----

/** A chat message, in a room (`room`) or direct (`to`). */
export interface ChatMessage {
  type: 'message';
  room?: string;
  to?: string;
  from: string;
  text: string;
  seq: number;
  ts: string;
  action?: true;
  /** The sender was a guest (no account) when they said it. */
  guest?: true;
  /** Names of known users the text mentions as `@name` (server's spelling). */
  mentions?: string[];
  /** When the text was last edited (the text is the edited one). */
  editedTs?: string;
  /** The author deleted it: it keeps its seq, its text is "". */
  deleted?: true;
  /** Emoji to the names of who reacted with it. */
  reactions?: Record<string, string[]>;
}

export interface WelcomeEvent {
  type: 'welcome';
  protocol: number;
  name: string;
  session: string;
  server: string;
  time: string;
  /** True for an account session, false for a guest. */
  account: boolean;
  /** For an account: the token to log in with next time (keep it, not the password). */
  token?: string;
  re?: RequestId;
}
export interface MembersEvent {
  type: 'members';
  room: string;
  users: string[];
  /** Those of `users` who are guests (no account). */
  guests?: string[];
  /** Away messages of those of `users` who are away. */
  away?: Record<string, string>;
  re?: RequestId;
}
/** A room's history (`room`), or a direct conversation's (`with`, the other user), never both. */
export interface HistoryEvent {
  type: 'history';
  room?: string;
  with?: string;
  messages: ChatMessage[];
  /** True when older messages exist before the first one listed. */
  more?: boolean;
  re?: RequestId;
}
export interface JoinedEvent {
  type: 'joined';
  room: string;
  name: string;
  ts: string;
  guest?: true;
}
export interface LeftEvent {
  type: 'left';
  room: string;
  name: string;
  ts: string;
  reason?: 'disconnect';
}
export interface AckEvent {
  type: 'ack';
  re: RequestId;
  seq?: number;
  /** After register: the new account's token. */
  token?: string;
}
export interface UserInfo {
  name: string;
  online: boolean;
  /** ISO time the user was last connected, for offline users the server knows. */
  lastSeen?: string;
  /** The user is a guest (no account). */
  guest?: true;
  away?: string;
}
export interface UsersEvent {
  type: 'users';
  room?: string;
  users: UserInfo[];
  /** Without `room`: true when more users follow the last one listed (ask again with `after`). */
  more?: boolean;
  re?: RequestId;
}
export interface RoomInfo {
  name: string;
  members: number;
}
export interface RoomsEvent {
  type: 'rooms';
  rooms: RoomInfo[];
  re?: RequestId;
}
export interface TimeEvent {
  type: 'time';
  time: string;
  re?: RequestId;
}
export interface PongEvent {
  type: 'pong';
  re?: RequestId;
}
/** A room's topic: on join (when set), as the answer to `topic {room}`, and to every member when set. */
export interface TopicEvent {
  type: 'topic';
  room: string;
  /** Empty when the room has no topic. */
  text: string;
  by?: string;
  ts?: string;
  re?: RequestId;
}
/** A user in a room one shares went away (`text`) or came back (no `text`). */
export interface AwayEvent {
  type: 'away';
  name: string;
  text?: string;
}
/** The answer to whois. */
export interface UserEvent {
  type: 'user';
  name: string;
  online: boolean;
  /** The name belongs to an account. */
  account: boolean;
  away?: string;
  /** Rooms the user is in on this server (while online). */
  rooms?: string[];
  lastSeen?: string;
  re?: RequestId;
}
/** `name` is typing in `room`, or to the recipient (`to`, the recipient's own name). */
export interface TypingEvent {
  type: 'typing';
  room?: string;
  to?: string;
  name: string;
}
/** A read marker: on join (after members), and to the user's other sessions when it moves. */
export interface ReadEvent {
  type: 'read';
  room?: string;
  with?: string;
  seq: number;
}
export interface ReadMarkerInfo {
  room?: string;
  with?: string;
  seq: number;
}
/** The answer to `reads`: every marker of the user, rooms first. */
export interface ReadsEvent {
  type: 'reads';
  markers: ReadMarkerInfo[];
  re?: RequestId;
}
/**
 * Which message an amendment is about: `room`, or for a direct message `to` and `from` exactly as the
 * message carried them (so each side finds the conversation as it does for messages).
 */
interface MessageAbout {
  room?: string;
  to?: string;
  from?: string;
  seq: number;
}
export interface EditedEvent extends MessageAbout {
  type: 'edited';
  text: string;
  editedTs: string;
}
export interface DeletedEvent extends MessageAbout {
  type: 'deleted';
}
/** A message's reactions after a change: emoji to who reacted with it (the same for every recipient). */
export interface ReactionsEvent extends MessageAbout {
  type: 'reactions';
  counts: Record<string, string[]>;
}
/**
 * One search result: the message in its latest state, as history gives it. A room message carries
 * `room`; a direct one `to` and `from` as always, and `with`, the other side of the conversation
 * from the searcher's point of view (the server's spelling), so a client files it without working it out.
 */
export type SearchResult = ChatMessage & { with?: string };
/** The answer to `search`: the matching messages, newest first. */
export interface ResultsEvent {
  type: 'results';
  messages: SearchResult[];
  /** The words searched for, as the server compares them (search-terms.ts): what clients highlight. */
  terms: string[];
  /** True when older matches exist: ask again with `before: next`. */
  more: boolean;
  /** With `more`: the cursor for the next (older) page. */
  next?: number;
  re?: RequestId;
}
/** The server asks a quiet TCP connection for a sign of life: answer with a `pong` request. */
export interface PingEvent {
  type: 'ping';
}
export interface ByeEvent {
  type: 'bye';
  reason: 'client' | 'shutdown' | string;
  re?: RequestId;
}
export interface ErrorEvent {
  type: 'error';
  code: ErrorCode;
  message: string;
  re?: RequestId;
  fatal?: true;
  /** With rate_limited: how long to wait before trying again. */
  retryAfterMs?: number;
}

export type ServerEvent =
  | ChatMessage
  | WelcomeEvent
  | MembersEvent
  | HistoryEvent
  | JoinedEvent
  | LeftEvent
  | AckEvent
  | UsersEvent
  | RoomsEvent
  | TimeEvent
  | PongEvent
  | PingEvent
  | TopicEvent
  | AwayEvent
  | UserEvent
  | TypingEvent
  | ReadEvent
  | ReadsEvent
  | EditedEvent
  | DeletedEvent
  | ReactionsEvent
  | ResultsEvent
  | ByeEvent
  | ErrorEvent;

export type ServerEventType = ServerEvent['type'];
