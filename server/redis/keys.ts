// Every Redis key and channel Parley uses, in one place. A conversation's keys share the hash tag
// `{c:<conv>}`, so the one script that stores a message touches one slot (Redis Cluster-ready); the
// DM script also queues the message in the recipient's inbox (`{u:<user>}`), the one exception,
// documented in README (one Redis primary serves a Parley cluster).
import type { ConvKey } from '../store/store.js';

const P = 'parley';

export const keys = {
  /** Hash: s = last seq, e = epoch, t = last ts (ms). */
  meta: (conv: ConvKey): string => `${P}:{c:${conv}}:meta`,
  /** Stream: one entry per message, id `<seq>-0`, fields d (the draft as JSON) and t (ts in ms). */
  log: (conv: ConvKey): string => `${P}:{c:${conv}}:log`,
  /** Hash seq -> the message's edits, deletion and reactions (change records, one JSON line each). */
  amends: (conv: ConvKey): string => `${P}:{c:${conv}}:amends`,
  /** String `seq|ts`: a client's message id already stored in this conversation by this sender. */
  mid: (conv: ConvKey, fromKey: string, mid: string): string => `${P}:{c:${conv}}:mid:${fromKey}:${mid}`,
  /** Sorted set of `conv#seq` (score: ts) waiting for a user who was offline. */
  inbox: (userKey: string): string => `${P}:{u:${userKey}}:inbox`,
  /** Hash room key -> display name: the rooms that have stored history. */
  rooms: `${P}:rooms`,
  /** Known users: hash key -> first spelling, hash key -> last seen, sorted set of keys (paging). */
  userName: `${P}:users:name`,
  userSeen: `${P}:users:seen`,
  userKeys: `${P}:users:keys`,
  /** Accounts. */
  account: (key: string): string => `${P}:{a:${key}}:account`,
  accountTokens: (key: string): string => `${P}:{a:${key}}:tokens`,
  accountList: `${P}:accounts`,
  accountSkeletons: `${P}:accounts:skeletons`,
  claims: `${P}:accounts:claims`,
  token: (id: string): string => `${P}:token:${id}`,
  /** Hash conv (`r:<room>` or `w:<user>`) -> `seq|display name`: an account's read markers. */
  reads: (key: string): string => `${P}:{a:${key}}:reads`,
  /** Hash room key -> topic JSON. */
  topics: `${P}:topics`,
  /** Sorted set of node ids, score: the time (ms) by which the node promises its next heartbeat. */
  nodes: `${P}:nodes`,
  /** Hash session id -> user key: a node's sessions, for purging it if it dies. */
  nodeSessions: (node: string): string => `${P}:node:${node}:sessions`,
  /** Hash `<room key>|<session id>` -> 1: a node's room memberships, for the same. */
  nodeRooms: (node: string): string => `${P}:node:${node}:rooms`,
  /** Hash: name, kind (a|g), skel, and s:<session id> -> node for every session holding the name. */
  lease: (userKey: string): string => `${P}:lease:${userKey}`,
  /** Hash skeleton -> user key of the name holding it (look-alike names are refused while it is online). */
  leaseSkeletons: `${P}:leases:skeletons`,
  /** Hash session id -> `node|name|a or g`: room membership across nodes. */
  roomMembers: (roomKey: string): string => `${P}:{r:${roomKey}}:members`,
  /** Hash room key -> display name: rooms with members on some node. */
  activeRooms: `${P}:rooms:active`,
  /** Counter: the seq of a live-only DM conversation (a guest on either side) across servers. */
  liveDm: (pair: string): string => `${P}:live-dm:${pair}`,
  /** What the presence scripts build their own key names from. */
  prefix: `${P}:`,
};

export const channels = {
  /** Notices of stored messages, published by the append script. */
  notices: `${P}:notices`,
  /** Every other event for other nodes (joined, left, topic, away, live DMs). */
  events: `${P}:events`,
};
