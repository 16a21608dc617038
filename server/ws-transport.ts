// The browser transport: WebSocket (our own RFC 6455 library in server/ws/) on the HTTP front's /ws.
// It turns text messages into Requests (the JSON codec) for the session, and the hub's events into
// frames; it knows nothing of rooms or users. Shaped like tcp.ts on purpose: same send-buffer bound,
// same pause and drain, same liveness sweep, same metrics, same corked writes.
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { receiveText, wsDeflateFrame, wsTextFrame } from './codec/json.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Outgoing } from './outgoing.js';
import type { CloseReason, Peer, Session } from './peer.js';
import { CloseCode, validateUpgrade, writeRejection, WsConnection, type WsConnectionHandlers } from './ws/index.js';

export interface WsTransportOptions {
  maxMessageBytes: number;
  /** Unsent bytes a connection may hold, this turn's included; past it the connection closes 1008. */
  maxBufferedBytes: number;
  allowedOrigins: string[];
  deflate: boolean;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
  /** How long the closing handshake may take; defaults to the library's CLOSE_TIMEOUT_MS. */
  closeTimeoutMs?: number;
}

export interface WsTransport {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  destroyAll(): void;
}

/** What the client hears as the close code when the hub ends its connection. */
export function closeCodeFor(code: CloseReason | undefined): number {
  switch (code) {
    case undefined:
    case 'bye':
      return CloseCode.NORMAL;
    case 'shutdown':
      return CloseCode.GOING_AWAY;
    // Same choice as a silent connection (connection.ts IDLE_CLOSE_CODE): give up, client may retry.
    case 'idle_timeout':
      return CloseCode.GOING_AWAY;
    case 'too_large':
      return CloseCode.TOO_BIG;
    case 'bad_utf8':
      return CloseCode.INVALID_PAYLOAD;
    default:
      // Anything else the hub deems fatal (protocol_unsupported, slow_consumer, ...) breaks our policy.
      return CloseCode.POLICY;
  }
}

/** What every connection of one transport shares; one object, so a peer holds one reference to it. */
interface Shared {
  readonly open: Set<WsConnection>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly maxBufferedBytes: number;
}

/**
 * One WebSocket client, seen from both sides: the hub's Peer, and the handlers of its WsConnection.
 * One object with methods rather than an object of closures: idle connections are most of a server's
 * connections, and each closure would cost every one of them.
 */
class WsPeer implements Peer, WsConnectionHandlers {
  readonly transport = 'ws' as const;
  /** Set right after construction: the connection is built with the peer as its handlers. */
  conn!: WsConnection;
  /** Set right after the connection: the hub makes the session from the peer. */
  session!: Session;

  constructor(
    private readonly socket: Socket,
    private readonly shared: Shared,
  ) {}

  /** Built when logged rather than kept: a string per idle connection adds up (Node caches the address). */
  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get bufferedBytes(): number {
    return this.conn.bufferedBytes;
  }

  send(event: Outgoing): boolean {
    const conn = this.conn;
    if (!conn.isOpen) return false;
    const bits = conn.deflateWindowBits;
    return conn.sendFrame(event.encode(bits === undefined ? wsTextFrame : wsDeflateFrame(bits)));
  }

  close(reason?: CloseReason): void {
    this.conn.close(closeCodeFor(reason), reason ?? '');
  }

  pause(): void {
    this.conn.pause();
  }

  resume(): void {
    this.conn.resume();
  }

  // ---- WsConnectionHandlers ----

  message(data: Buffer, binary: boolean): number | undefined {
    // The chat protocol is JSON text; binary has no meaning here (RFC 6455 7.4.1: 1003).
    if (binary) return CloseCode.UNSUPPORTED_DATA;
    receiveText(this.session, data.toString('utf8'));
    return undefined;
  }

  closed(code: number): void {
    const { open, metrics, log } = this.shared;
    open.delete(this.conn);
    metrics.connections.ws--;
    log.debug(`ws closed ${this.remote} code ${code}`);
    this.session.disconnected();
  }

  drained(): void {
    this.session.drained();
  }

  slowConsumer(): void {
    this.shared.metrics.error('slow_consumer');
    this.shared.log.warn(`slow consumer ws ${this.remote}: send buffer would pass ${this.shared.maxBufferedBytes} bytes, closing`);
  }

  bytesIn(n: number): void {
    this.shared.metrics.bytesIn.ws += n;
  }

  bytesOut(n: number): void {
    this.shared.metrics.bytesOut.ws += n;
  }
}

/** The WebSocket transport: `upgrade` takes the HTTP front's upgrade requests; each connection gets a session from `connect`. */
export function createWsTransport(connect: (peer: Peer) => Session, opts: WsTransportOptions): WsTransport {
  const open = new Set<WsConnection>();
  const { log, metrics } = opts;
  const shared: Shared = { open, log, metrics, maxBufferedBytes: opts.maxBufferedBytes };

  return {
    upgrade(req, duplex, head) {
      // http.Server hands over a net.Socket (a TLSSocket is one too); anything else we cannot cork.
      if (!(duplex instanceof Socket)) {
        duplex.destroy();
        return;
      }
      const socket = duplex;
      const result = validateUpgrade(req, { allowedOrigins: opts.allowedOrigins, deflate: opts.deflate });
      if (!result.ok) {
        log.debug(`ws handshake refused ${socket.remoteAddress}: ${result.status} ${result.reason}`);
        writeRejection(socket, result.status, result.reason, result.headers);
        return;
      }
      socket.write(result.response);
      metrics.connections.ws++;
      metrics.connectionsTotal.ws++;
      socket.setKeepAlive(true, 30_000);
      const peer = new WsPeer(socket, shared);
      const conn = new WsConnection(
        socket,
        {
          maxMessageBytes: opts.maxMessageBytes,
          maxBufferedBytes: opts.maxBufferedBytes,
          deflate: result.deflate,
          pingIntervalMs: opts.pingIntervalMs,
          idleTimeoutMs: opts.idleTimeoutMs,
          closeTimeoutMs: opts.closeTimeoutMs,
        },
        peer,
      );
      peer.conn = conn;
      open.add(conn);
      // The connection exists before the session, so the hub may send, pause or close from connect().
      peer.session = connect(peer);
      conn.start(head);
    },
    destroyAll() {
      for (const conn of open) conn.destroy();
    },
  };
}
