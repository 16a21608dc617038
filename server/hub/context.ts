// What every part of the hub shares: its collaborators (store, bus, log, metrics, settings) and the two
// ways a part answers one client (a reply, an error). One object, handed to each part at construction,
// so no part reaches into another's state.
import type { ErrorCode } from '../../protocol/errors.js';
import type { RequestId, ServerEvent } from '../../protocol/messages.js';
import type { Bus } from '../bus.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Outgoing } from '../outgoing.js';
import type { AccountStore } from '../accounts/account-store.js';
import type { ReadStore } from '../kv/read-markers.js';
import type { TopicStore } from '../kv/room-topics.js';
import type { Store } from '../store/store.js';
import type { Client } from './client.js';
import { LocalDirectory, type Directory } from './directory.js';

export interface HubSettings {
  /** Sent in welcome.server. */
  serverName: string;
  /** A connection that has not said hello by then is closed with idle_timeout. */
  helloTimeoutMs: number;
  /** Shortest password accepted for a new account or a new password. */
  minPasswordLength: number;
}

/**
 * A request that ends in an error reply. Handlers throw it from async code (a failed store read is
 * `unavailable`); the dispatcher turns it into the error event. Anything else thrown is a bug: it is
 * logged and answered `internal`, and the server carries on.
 */
export class RequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** With rate_limited: when to try again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export class HubContext {
  constructor(
    readonly store: Store,
    readonly accounts: AccountStore,
    readonly topics: TopicStore,
    readonly reads: ReadStore,
    readonly bus: Bus,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly settings: HubSettings,
    /** Presence beyond this server (cluster mode); LocalDirectory knows of none. */
    readonly directory: Directory = new LocalDirectory(),
  ) {}

  reply(client: Client, event: ServerEvent, re: RequestId | undefined): void {
    if (re !== undefined) (event as { re?: RequestId }).re = re;
    client.peer.send(new Outgoing(event));
  }

  error(client: Client, code: ErrorCode, message: string, re?: RequestId, fatal = false, retryAfterMs?: number): void {
    this.metrics.error(code);
    const event: ServerEvent = { type: 'error', code, message };
    if (re !== undefined) event.re = re;
    if (fatal) event.fatal = true;
    if (retryAfterMs !== undefined) event.retryAfterMs = retryAfterMs;
    client.peer.send(new Outgoing(event));
    this.log.info(`error ${code} ${client.peer.transport} ${client.peer.remote}${client.name ? ` ${client.name}` : ''}: ${message}`);
    if (fatal) client.end(code);
  }

  /** A store read; its failure becomes `unavailable` for the request that needed it. */
  async read<T>(what: string, promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (err) {
      this.log.error(`store: ${what}: ${(err as Error).message}`);
      throw new RequestError('unavailable', `the server could not read ${what}; try again`);
    }
  }
}
