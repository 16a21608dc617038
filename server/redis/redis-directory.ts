// The hub's Directory on Redis: name leases, online users and room members across nodes
// (presence-scripts.ts holds the rules). This node heartbeats every fifth of its TTL (--node-timeout-ms,
// default NODE_TTL_MS), promising to renew within the TTL; a node that stops (kill -9, a cut network)
// stops counting once that passes, and the next heartbeat of any node purges its sessions and tells its
// rooms their users left, so with the defaults a dead node's users are gone from presence within
// NODE_TTL_MS + HEARTBEAT_MS (12 s).
//
// Everything this node registered is mirrored here, so after Redis comes back (possibly empty) the
// node claims its sessions and memberships again.
import { nameKey, nameSkeleton } from '../../protocol/names.js';
import type { Bus } from '../bus.js';
import { RequestError } from '../hub/context.js';
import type { Directory, RemoteMember, RemoteUser } from '../hub/directory.js';
import type { Logger } from '../log.js';
import { Outgoing } from '../outgoing.js';
import { roomConv } from '../store/store.js';
import { asArray, asInt, type RedisClient } from './client.js';
import type { RespValue } from './resp.js';
import { keys } from './keys.js';
import { CLAIM, LEAVE_ROOM, PURGE, RELEASE } from './presence-scripts.js';

export const HEARTBEAT_MS = 2000;
export const NODE_TTL_MS = 10_000;

interface Session {
  key: string;
  name: string;
  account: boolean;
}

interface Membership {
  roomName: string;
  name: string;
  guest: boolean;
}

export class RedisDirectory implements Directory {
  readonly shared = true;
  private readonly sessions = new Map<number, Session>();
  private readonly rooms = new Map<number, Map<string, Membership>>();
  /** Away messages of users with sessions here, to set again after a reconnect. */
  private readonly away = new Map<string, string>();
  /** Sessions here per user key: a user's away is forgotten here with its last one. */
  private readonly perKey = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;
  private liveNodes: { at: number; nodes: Promise<Set<string>> } | undefined;
  /**
   * Releases and room leaves that failed while Redis was away, done again once it is back: a session
   * of a live node that is never released would hold its name for as long as the node lives.
   */
  private owed: (() => Promise<unknown>)[] = [];
  private beatFailing = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly node: string,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly ttlMs: number = NODE_TTL_MS,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(
      () =>
        void this.beat().then(
          () => (this.beatFailing = false),
          (err: Error) => {
            // Once per outage: the link logs the loss itself.
            if (!this.beatFailing) this.log.warn(`redis: heartbeat: ${err.message}`);
            this.beatFailing = true;
          },
        ),
      Math.round((this.ttlMs * HEARTBEAT_MS) / NODE_TTL_MS),
    );
    this.heartbeat.unref();
    this.redis.onUp(() => void this.reassert().catch((err: Error) => this.log.warn(`redis: re-registering presence: ${err.message}`)));
  }

  /** Leaves the cluster: this node's sessions and memberships go at once, not after the TTL. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    try {
      await this.redis.command(['ZADD', keys.nodes, 0, this.node]);
      await this.purge();
    } catch {
      // Redis unreachable: the other nodes purge us after the TTL.
    }
  }

  private sid(session: number): string {
    return `${this.node}/${session}`;
  }

  async claim(session: number, key: string, name: string, account: boolean): Promise<RequestError | undefined> {
    const r = asArray(await this.runClaim(session, key, name, account));
    if (r[0] === 1) {
      if (!this.sessions.has(session)) this.perKey.set(key, (this.perKey.get(key) ?? 0) + 1);
      this.sessions.set(session, { key, name, account });
      return undefined;
    }
    const holder = typeof r[2] === 'string' ? r[2] : name;
    return r[1] === 'lookalike'
      ? new RequestError('name_taken', `${name} looks too much like ${holder}, which is taken; choose another name`)
      : new RequestError('name_taken', `${holder} is already online`);
  }

  release(session: number): void {
    const s = this.sessions.get(session);
    if (!s) return;
    this.sessions.delete(session);
    const left = (this.perKey.get(s.key) ?? 1) - 1;
    if (left > 0) this.perKey.set(s.key, left);
    else {
      this.perKey.delete(s.key);
      this.away.delete(s.key);
    }
    for (const roomKey of [...(this.rooms.get(session)?.keys() ?? [])]) this.leftRoom(session, roomKey);
    this.owe(() => this.redis.eval(RELEASE, [keys.lease(s.key), keys.leaseSkeletons, keys.nodeSessions(this.node)], [this.sid(session), s.key]));
  }

  async online(userKeys: readonly string[]): Promise<Map<string, RemoteUser>> {
    const out = new Map<string, RemoteUser>();
    if (userKeys.length === 0) return out;
    const [live, leases] = await Promise.all([this.live(), Promise.all(userKeys.map((k) => this.redis.command(['HGETALL', keys.lease(k)])))]);
    userKeys.forEach((k, i) => {
      const f = asArray(leases[i] ?? null);
      let name: string | undefined;
      let kind: string | undefined;
      let holder: string | undefined;
      let away: string | undefined;
      for (let j = 0; j + 1 < f.length; j += 2) {
        const field = f[j];
        const value = f[j + 1];
        if (typeof field !== 'string' || typeof value !== 'string') continue;
        if (field === 'name') name = value;
        else if (field === 'kind') kind = value;
        else if (field === 'away') away = value;
        else if (field.startsWith('s:') && live.has(value)) holder = field.slice(2);
      }
      if (holder === undefined || name === undefined) return;
      const user: RemoteUser = { name, account: kind === 'a', live: kind === 'a' ? `@${k}` : `~${holder}` };
      if (away !== undefined) user.away = away;
      out.set(k, user);
    });
    return out;
  }

  async nextLiveSeq(session: number, key: string, account: boolean, other: RemoteUser): Promise<number> {
    const mine = account ? `@${key}` : `~${this.sid(session)}`;
    const pair = mine < other.live ? `${mine}|${other.live}` : `${other.live}|${mine}`;
    const [seq] = await Promise.all([this.redis.command(['INCR', keys.liveDm(pair)]), this.redis.command(['EXPIRE', keys.liveDm(pair), 86_400])]);
    return asInt(seq ?? null);
  }

  setAway(key: string, text: string | undefined): void {
    if (text === undefined) this.away.delete(key);
    else this.away.set(key, text);
    this.owe(() => this.redis.command(text === undefined ? ['HDEL', keys.lease(key), 'away'] : ['HSET', keys.lease(key), 'away', text]));
  }

  joinedRoom(session: number, roomKey: string, roomName: string, name: string, guest: boolean): void {
    let mine = this.rooms.get(session);
    if (!mine) this.rooms.set(session, (mine = new Map()));
    mine.set(roomKey, { roomName, name, guest });
    this.registerMembership(session, roomKey, { roomName, name, guest }).catch((err: Error) => this.log.warn(`redis: joining ${roomName}: ${err.message}`));
  }

  leftRoom(session: number, roomKey: string): void {
    const mine = this.rooms.get(session);
    if (!mine?.delete(roomKey)) return;
    if (mine.size === 0) this.rooms.delete(session);
    this.owe(() => this.redis.eval(LEAVE_ROOM, [keys.roomMembers(roomKey), keys.nodeRooms(this.node), keys.activeRooms], [this.sid(session), roomKey]));
  }

  async roomMembers(roomKey: string): Promise<RemoteMember[]> {
    const [live, all] = await Promise.all([this.live(), this.redis.command(['HVALS', keys.roomMembers(roomKey)])]);
    const seen = new Map<string, RemoteMember>();
    for (const v of asArray(all)) {
      if (typeof v !== 'string') continue;
      const [node, name, guest] = v.split('|');
      // This server's own members the hub knows itself.
      if (node === undefined || name === undefined || node === this.node || !live.has(node)) continue;
      const k = nameKey(name);
      if (!seen.has(k)) seen.set(k, { name, guest: guest === 'g' });
    }
    const aways = await Promise.all([...seen.keys()].map((k) => this.redis.command(['HGET', keys.lease(k), 'away'])));
    const members = [...seen.values()];
    members.forEach((m, i) => {
      const away = aways[i];
      if (typeof away === 'string') m.away = away;
    });
    return members;
  }

  async activeRooms(): Promise<{ key: string; name: string; users: string[] }[]> {
    const f = asArray(await this.redis.command(['HGETALL', keys.activeRooms]));
    const rooms: { key: string; name: string }[] = [];
    for (let i = 0; i + 1 < f.length; i += 2) {
      const [key, name] = [f[i], f[i + 1]];
      if (typeof key === 'string' && typeof name === 'string') rooms.push({ key, name });
    }
    const counts = await Promise.all(rooms.map((r) => this.roomMembers(r.key)));
    return rooms.map((r, i) => ({ ...r, users: counts[i]!.map((m) => nameKey(m.name)) })).filter((r) => r.users.length > 0);
  }

  // ---- internals ----

  /** Runs a write that must happen eventually: if Redis cannot take it now, again after reconnecting. */
  private owe(write: () => Promise<unknown>): void {
    write().catch(() => this.owed.push(write));
  }

  private runClaim(session: number, key: string, name: string, account: boolean): Promise<RespValue> {
    return this.redis.eval(
      CLAIM,
      [keys.lease(key), keys.leaseSkeletons, keys.nodes, keys.nodeSessions(this.node)],
      [key, name, account ? 'a' : 'g', this.sid(session), this.node, Date.now(), nameSkeleton(name), keys.lease('')],
    );
  }

  private async registerMembership(session: number, roomKey: string, m: Membership): Promise<void> {
    await Promise.all([
      this.redis.command(['HSET', keys.roomMembers(roomKey), this.sid(session), `${this.node}|${m.name}|${m.guest ? 'g' : 'a'}`]),
      this.redis.command(['HSET', keys.nodeRooms(this.node), `${roomKey}|${this.sid(session)}`, '1']),
      this.redis.command(['HSETNX', keys.activeRooms, roomKey, m.roomName]),
    ]);
  }

  /** Nodes alive now; cached for a moment, since every presence read needs it. */
  private live(): Promise<Set<string>> {
    const now = Date.now();
    if (this.liveNodes && now - this.liveNodes.at < 500) return this.liveNodes.nodes;
    const nodes = this.redis
      .command(['ZRANGEBYSCORE', keys.nodes, now, '+inf'])
      .then((r) => new Set(asArray(r).filter((n): n is string => typeof n === 'string')));
    nodes.catch(() => {
      if (this.liveNodes?.nodes === nodes) this.liveNodes = undefined;
    });
    this.liveNodes = { at: now, nodes };
    return nodes;
  }

  private async beat(): Promise<void> {
    await this.redis.command(['ZADD', keys.nodes, Date.now() + this.ttlMs, this.node]);
    await this.purge();
  }

  private async purge(): Promise<void> {
    const gone = asArray(await this.redis.eval(PURGE, [keys.nodes, keys.leaseSkeletons, keys.activeRooms], [Date.now(), keys.prefix]));
    for (let i = 0; i + 2 < gone.length; i += 3) {
      const [room, roomName, name] = [gone[i], gone[i + 1], gone[i + 2]];
      if (typeof room !== 'string' || typeof roomName !== 'string' || typeof name !== 'string') continue;
      this.log.info(`redis: ${name} left ${roomName} with a node that stopped heartbeating`);
      this.bus.publish({
        kind: 'room',
        room,
        conv: roomConv(room),
        out: new Outgoing({ type: 'left', room: roomName, name, ts: new Date().toISOString(), reason: 'disconnect' }),
      });
    }
  }

  /** After a reconnect (Redis may have restarted empty, or purged us while we were cut off). */
  private async reassert(): Promise<void> {
    await this.redis.command(['ZADD', keys.nodes, Date.now() + this.ttlMs, this.node]);
    const owed = this.owed;
    this.owed = [];
    for (const write of owed) this.owe(write);
    for (const [session, s] of this.sessions) {
      const r = asArray(await this.runClaim(session, s.key, s.name, s.account));
      if (r[0] !== 1) this.log.warn(`redis: ${s.name} was taken elsewhere while this node was cut off; its session here keeps it locally`);
    }
    for (const [session, mine] of this.rooms) for (const [roomKey, m] of mine) await this.registerMembership(session, roomKey, m);
    for (const [key, text] of this.away) await this.redis.command(['HSET', keys.lease(key), 'away', text]);
  }
}
