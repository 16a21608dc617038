// One connection as the hub sees it: the Session a transport calls, and the pacing that keeps what the
// connection costs bounded whatever its client does.
//
// Pacing: requests are served in order, one at a time. A request that waits for the store (a join, a
// history page) pauses the peer until it is done, so a client that sends 600 requests in one write has
// one of them in progress and the rest in its own kernel buffers. The peer is also paused while this
// connection's unsent output or its unfinished stored writes are over their bounds, and resumed when
// they drain; a timer re-checks while paused, so a lost drain cannot strand a connection. Long replies
// (resume, who, the inbox) are produced a page at a time, each page only once the previous one left.
import type { ErrorCode } from '../../protocol/errors.js';
import type { Request, RequestId } from '../../protocol/messages.js';
import type { CloseReason, Peer, Session } from '../peer.js';
import type { ReadMarker } from '../kv/read-markers.js';
import type { InboxDelivery } from './messaging.js';
import type { Allowance } from './rate-limits.js';
import type { Room } from './rooms.js';

/**
 * The bounds a connection is paced by, all well below the transport's slow-consumer bound (which cuts
 * a connection, and can only be reached by broadcasts it does not read): what its own requests cause
 * (replies, the echoes of its own messages) stops it from being read long before that.
 */
export interface Pacing {
  /** Unsent bytes above which the connection stops being read (and a page producer waits). */
  highWaterBytes: number;
  /** Unsent bytes below which it is read again. */
  lowWaterBytes: number;
  /** Messages on their way to disk before it stops being read. */
  maxPendingWrites: number;
  /** Bytes of text on their way to disk before it stops being read (each comes back as an echo). */
  maxPendingBytes: number;
}

/** Pacing for a transport that cuts connections at `maxBufferedBytes` unsent bytes. */
export function pacingFor(maxBufferedBytes: number): Pacing {
  const highWaterBytes = Math.min(256 * 1024, Math.floor(maxBufferedBytes / 4));
  return { highWaterBytes, lowWaterBytes: Math.floor(highWaterBytes / 4), maxPendingWrites: 64, maxPendingBytes: highWaterBytes };
}

/** How often a paused connection is re-checked in case no drain is ever reported. */
const RECHECK_MS = 100;

const NO_ROOMS: readonly Room[] = [];
let nextClientId = 1;

/** What a Client needs of the hub: where requests go and who to tell when it leaves. */
export interface ClientOwner {
  readonly pacing: Pacing;
  dispatch(client: Client, req: Request): void;
  rejected(client: Client, code: ErrorCode, message: string, re: RequestId | undefined, fatal: boolean): void;
  disconnected(client: Client): void;
}

export class Client implements Session {
  name: string | undefined;
  key: string | undefined;
  /** An account session (false: a guest). Meaningful once registered. */
  account = false;
  /** The id of the token this session logged in with or was given, for logout. */
  tokenId: string | undefined;
  /** Guests only: the seq of each live-only direct conversation, by the other side's identity. */
  liveDmSeq: Map<string, number> | undefined;
  /** Guests only: read markers, kept for this session (an account's are stored: kv/read-markers.ts). */
  reads: Map<string, ReadMarker> | undefined;
  /** Guests only: `conv#seq` of the messages this connection wrote, so it may edit or delete them. */
  authored: Set<string> | undefined;
  /** A guest's own rate-limit buckets (an account's are shared: rate-limits.ts). Made on first use. */
  allowance: Allowance | undefined;
  /** Unique per connection: a guest's identity in its live-only DMs. */
  readonly id = nextClientId++;
  /**
   * The rooms this client is in, replaced (never grown) on join and leave so it is always exactly sized.
   * Not a Map: most clients sit in one or two rooms, and a Map's table cost every idle connection
   * ~260 bytes. Membership is asked of the room, so nothing searches this list.
   */
  rooms: readonly Room[] = NO_ROOMS;
  helloTimer: NodeJS.Timeout | undefined;
  gone = false;
  /** Set while the offline inbox is being delivered: live DMs to this user wait for it (messaging.ts). */
  inbox: InboxDelivery | undefined;
  private busy = false;
  private pendingWrites = 0;
  private pendingBytes = 0;
  private paused = false;
  private waiters: (() => void)[] | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: ClientOwner,
    readonly peer: Peer,
  ) {}

  // ---- Session: called by the transport ----

  receive(req: Request): void {
    if (!this.gone) this.owner.dispatch(this, req);
  }

  reject(code: ErrorCode, message: string, re?: RequestId, fatal = false): void {
    if (!this.gone) this.owner.rejected(this, code, message, re, fatal);
  }

  drained(): void {
    this.flow();
  }

  disconnected(): void {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
    this.wakeWaiters();
    this.owner.disconnected(this);
  }

  // ---- used by the hub's parts ----

  /**
   * The hub ends this connection (bye, a fatal error): the transport drains and closes it, and the hub
   * forgets it now rather than when the socket is gone. A peer that vanished takes the transport a grace
   * period to give up on, and meanwhile its name must already be free and nothing delivered to it.
   */
  end(reason: CloseReason): void {
    this.endedBy = reason;
    this.peer.close(reason);
    this.disconnected();
  }

  /** Why the hub ended this connection, when it did (bye, a fatal error); undefined when it just went. */
  endedBy: CloseReason | undefined;

  get registered(): boolean {
    return this.name !== undefined;
  }

  setRooms(rooms: readonly Room[]): void {
    this.rooms = rooms.length === 0 ? NO_ROOMS : rooms;
  }

  /** Forgets the timer as well: a cleared Timeout still held here would cost every client for its whole session. */
  stopHelloTimer(): void {
    clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
  }

  /** An asynchronous request: nothing more is read from this connection until it settles. */
  runExclusive(work: Promise<void>): void {
    this.busy = true;
    this.flow();
    void work.finally(() => {
      this.busy = false;
      this.flow();
    });
  }

  /** A message of `bytes` (UTF-16 length of its text: close enough to bound) is on its way to disk. */
  writeStarted(bytes: number): void {
    this.pendingWrites++;
    this.pendingBytes += bytes;
    const p = this.owner.pacing;
    if (this.pendingWrites > p.maxPendingWrites || this.pendingBytes > p.maxPendingBytes) this.flow();
  }

  writeDone(bytes: number): void {
    this.pendingWrites--;
    this.pendingBytes -= bytes;
    if (this.paused) this.flow();
  }

  /** Resolves once the connection has room for another page of output (or is gone: check `gone`). */
  roomToWrite(): Promise<void> {
    if (this.gone || this.peer.bufferedBytes <= this.owner.pacing.lowWaterBytes) return Promise.resolve();
    return new Promise((resolve) => {
      (this.waiters ??= []).push(resolve);
      this.armRecheck();
    });
  }

  /** Called after anything that may change the pressure on this connection. */
  flow(): void {
    if (this.gone) return;
    const p = this.owner.pacing;
    const buffered = this.peer.bufferedBytes;
    if (this.waiters && buffered <= p.lowWaterBytes) this.wakeWaiters();
    const overloaded =
      this.busy ||
      this.pendingWrites > p.maxPendingWrites ||
      this.pendingBytes > p.maxPendingBytes ||
      buffered > (this.paused ? p.lowWaterBytes : p.highWaterBytes);
    if (overloaded && !this.paused) {
      this.paused = true;
      this.peer.pause();
    } else if (!overloaded && this.paused) {
      this.paused = false;
      this.peer.resume();
    }
    if (this.paused || this.waiters) this.armRecheck();
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) for (const w of waiters) w();
  }

  private armRecheck(): void {
    if (this.recheckTimer || this.gone) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      this.flow();
    }, RECHECK_MS);
    this.recheckTimer.unref();
  }
}

/** A client that has said hello: the hub's parts that need a name take this type, so none asserts one. */
export type RegisteredClient = Client & { name: string; key: string };

export function isRegistered(client: Client): client is RegisteredClient {
  return client.name !== undefined && client.key !== undefined;
}
