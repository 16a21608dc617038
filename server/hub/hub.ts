// The transport-agnostic middle of the server, assembled from its parts: the dispatcher (the command
// table), presence (who is online), rooms (membership, join and resume), messaging (say, dm, the
// inbox) and history. A transport sees only connect() and the Session it returns; the hub sees
// connections only as Peers, persistence only as a Store, other servers only as a Bus. It imports no
// transport, no codec and no JSON: events leave as typed values and are encoded at the edge.
import type { ErrorCode } from '../../protocol/errors.js';
import { LIMITS, type Request, type RequestId } from '../../protocol/messages.js';
import { MemoryAccounts, type AccountStore } from '../accounts/account-store.js';
import { LoginGuard, type LoginGuardOptions } from '../accounts/login-guard.js';
import type { ScryptParams } from '../accounts/passwords.js';
import { LocalBus, type Bus, type BusEvent } from '../bus.js';
import { MemoryReads, type ReadStore } from '../kv/read-markers.js';
import { MemoryTopics, type TopicStore } from '../kv/room-topics.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Outgoing } from '../outgoing.js';
import type { Peer, Session } from '../peer.js';
import type { Store } from '../store/store.js';
import { Client, isRegistered, pacingFor, type ClientOwner, type Pacing } from './client.js';
import { HubContext, type HubSettings } from './context.js';
import { dispatch, type Parts } from './dispatcher.js';
import { Accounts } from './accounts.js';
import type { Directory } from './directory.js';
import { History } from './history.js';
import { Messaging } from './messaging.js';
import { Presence } from './presence.js';
import { defaultRateLimits, RateLimiter, type RateLimitSettings } from './rate-limits.js';
import { Rooms } from './rooms.js';
import { Typing } from './typing.js';
import { Reads } from './reads.js';
import { Amend } from './amend.js';
import { Search } from './search.js';

export interface HubOptions extends Omit<HubSettings, 'minPasswordLength'> {
  store: Store;
  accounts?: AccountStore;
  topics?: TopicStore;
  /** Read markers (default: in memory). */
  reads?: ReadStore;
  metrics: Metrics;
  log: Logger;
  bus?: Bus;
  /** Presence across servers (cluster mode); default: this server only. */
  directory?: Directory;
  /** Shortest password accepted (default 8). */
  minPasswordLength?: number;
  loginGuard?: LoginGuardOptions;
  /** scrypt cost for new hashes; tests lower it. */
  scrypt?: ScryptParams;
  /** Per-sender limits by cost class; null turns them off (--no-rate-limit). Default: defaultRateLimits(). */
  rateLimits?: RateLimitSettings | null;
  /** Rooms in all (--max-rooms); 0 = no cap. */
  maxRooms?: number;
  /** The transports' slow-consumer bound (--max-buffered-bytes): connections are paced well below it. */
  maxBufferedBytes?: number;
}

export const DEFAULT_MAX_ROOMS = 10_000;

export class Hub implements ClientOwner {
  readonly pacing: Pacing;
  private readonly clients = new Set<Client>();
  private readonly ctx: HubContext;
  private readonly parts: Parts;

  constructor(opts: HubOptions) {
    const ctx = new HubContext(opts.store, opts.accounts ?? new MemoryAccounts(), opts.topics ?? new MemoryTopics(), opts.reads ?? new MemoryReads(), opts.bus ?? new LocalBus(), opts.log, opts.metrics, {
      serverName: opts.serverName,
      helloTimeoutMs: opts.helloTimeoutMs,
      minPasswordLength: opts.minPasswordLength ?? LIMITS.minPasswordLength,
    }, opts.directory);
    const presence = new Presence(ctx);
    const rooms = new Rooms(ctx, presence, opts.maxRooms ?? DEFAULT_MAX_ROOMS);
    const messaging = new Messaging(ctx, rooms, presence);
    const history = new History(ctx, rooms, presence, messaging);
    const accounts = new Accounts(ctx, presence, new LoginGuard(opts.loginGuard), opts.scrypt);
    this.ctx = ctx;
    this.pacing = pacingFor(opts.maxBufferedBytes ?? 8 * 1024 * 1024);
    const limits = opts.rateLimits === null ? undefined : new RateLimiter(opts.rateLimits ?? defaultRateLimits());
    this.parts = { ctx, presence, rooms, messaging, history, accounts, typing: new Typing(ctx, rooms, presence), reads: new Reads(ctx, rooms, presence, messaging), amend: new Amend(ctx, rooms, messaging), search: new Search(ctx, rooms, presence, messaging), limits };
    ctx.bus.attach((event) => this.deliver(event));
    opts.metrics.gauges = () => {
      const usage = opts.store.usage();
      return { rooms: rooms.count, users: presence.count, knownUsers: usage.knownUsers, storeBytes: usage.bytes };
    };
  }

  /** Reads what the hub needs before the first connection (the rooms the store remembers). */
  async start(): Promise<void> {
    await this.parts.rooms.load();
  }

  /** A transport accepted a connection. */
  connect(peer: Peer): Session {
    const client = new Client(this, peer);
    this.clients.add(client);
    const { helloTimeoutMs } = this.ctx.settings;
    client.helloTimer = setTimeout(() => {
      if (!client.name) this.ctx.error(client, 'idle_timeout', `no hello within ${helloTimeoutMs} ms`, undefined, true);
    }, helloTimeoutMs);
    client.helloTimer.unref();
    this.ctx.log.info(`connect ${peer.transport} ${peer.remote}`);
    return client;
  }

  /** Graceful shutdown: everyone hears why, then every connection closes. */
  shutdown(): void {
    const bye = new Outgoing({ type: 'bye', reason: 'shutdown' });
    for (const client of this.clients) {
      client.peer.send(bye);
      client.peer.close('shutdown');
    }
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  // ---- ClientOwner: called by Client ----

  dispatch(client: Client, req: Request): void {
    dispatch(this.parts, client, req);
  }

  rejected(client: Client, code: ErrorCode, message: string, re: RequestId | undefined, fatal: boolean): void {
    this.ctx.error(client, code, message, re, fatal);
  }

  disconnected(client: Client): void {
    client.stopHelloTimer();
    this.clients.delete(client);
    if (isRegistered(client)) {
      this.parts.rooms.leaveAll(client);
      this.parts.presence.left(client);
      this.parts.limits?.left(client);
    }
    this.ctx.log.info(`disconnect ${client.peer.transport} ${client.peer.remote}${client.name ? ` ${client.name}` : ''}`);
  }

  private deliver(event: BusEvent): void {
    switch (event.kind) {
      case 'room':
        return this.parts.rooms.deliver(event);
      case 'user':
        return this.parts.messaging.deliver(event);
      case 'presence':
        // Our own users' presence is already known here; a second server would track others' from this.
        return;
      case 'end-sessions':
        return this.parts.accounts.endSessions(event.user, event.why, event.except);
      case 'resync':
        this.parts.rooms.refillAll();
        this.parts.messaging.redeliverInboxes(this.clients);
        return;
    }
  }
}
