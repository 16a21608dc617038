// The one message-oriented connection interface between transports and the hub: the hub never knows
// whether a peer is a TCP line stream or a WebSocket, and a transport never sees the hub's state.
import type { ErrorCode } from '../protocol/errors.js';
import type { Outgoing } from './outgoing.js';

export type TransportName = 'tcp' | 'ws';

/** What the hub holds of a connection. Implemented by each transport. */
export interface Peer {
  readonly transport: TransportName;
  /** host:port of the other end, for logs. */
  readonly remote: string;
  /** Queues one event. Never throws; a closed peer drops it. */
  send(event: Outgoing): void;
  /**
   * Ends the connection after what is queued has been written. `code` says why (for the WebSocket
   * close code and for logs); undefined is a normal close.
   */
  close(code?: ErrorCode | 'shutdown' | 'bye'): void;
}

/** What a transport holds of the hub for one connection. */
export interface Session {
  /** One complete JSON text: a TCP line or a WebSocket text message. */
  receive(json: string): void;
  /** A transport-level problem the client should hear about (a line too long, bad UTF-8). */
  reject(code: ErrorCode, message: string, fatal?: boolean): void;
  /** The connection is gone; called exactly once by the transport. */
  disconnected(): void;
}
