// The one message-oriented connection interface between transports and the hub: the hub never knows
// whether a peer is a TCP line stream or a WebSocket, and a transport never sees the hub's state. Values
// cross it, never text: a transport decodes bytes into Requests with its codec before calling the
// session, and encodes the hub's Outgoing events itself.
import type { ErrorCode } from '../protocol/errors.js';
import type { Request, RequestId } from '../protocol/messages.js';
import type { Outgoing } from './outgoing.js';

export type TransportName = 'tcp' | 'ws' | 'irc';

/** Why the hub ends a connection: an error code, a shutdown, or the client's own bye. */
export type CloseReason = ErrorCode | 'shutdown' | 'bye';

/** What the hub holds of a connection. Implemented by each transport. */
export interface Peer {
  readonly transport: TransportName;
  /** host:port of the other end, for logs. */
  readonly remote: string;
  /**
   * Bytes handed to this connection and not yet taken by the kernel, this turn's included. The hub
   * paces what it produces (history pages, user lists) by it.
   */
  readonly bufferedBytes: number;
  /**
   * Queues one event; false when it was dropped (the connection is closing, or was just cut). Never
   * throws. A peer whose unsent bytes exceed the transport's bound (--max-buffered-bytes) is cut as a
   * slow consumer: broadcasts cannot wait. What a delivery counts on (a DM leaving the inbox) asks
   * for true.
   */
  send(event: Outgoing): boolean;
  /**
   * Ends the connection after what is queued has been written. `reason` says why (for the WebSocket
   * close code and for logs); undefined is a normal close.
   */
  close(reason?: CloseReason): void;
  /**
   * Stops handing requests to the session at once (even in the middle of a received chunk: the rest
   * is kept, not parsed) and stops reading the socket, so a client that sends faster than it is served
   * waits in its own kernel buffers, not in our memory.
   */
  pause(): void;
  /** Undoes pause(). Never calls the session back synchronously. */
  resume(): void;
}

/** What a transport holds of the hub for one connection. */
export interface Session {
  /** One decoded, validated request. */
  receive(req: Request): void;
  /**
   * Input that did not make a request: bad JSON, a failed validation, a line too long, bad UTF-8, or
   * the transport's own verdict (a silent connection: idle_timeout, fatal). `re` when the id was valid.
   */
  reject(code: ErrorCode, message: string, re?: RequestId, fatal?: boolean): void;
  /** bufferedBytes fell back below the transport's low-water mark after having been above it. */
  drained(): void;
  /** The connection is gone; called exactly once by the transport. */
  disconnected(): void;
}
