// The browser transport: WebSocket (our own RFC 6455 library in server/ws/) on the HTTP front's /ws.
// It turns text messages into Requests (the JSON codec) for the session, and the hub's events into
// frames; it knows nothing of rooms or users. Shaped like tcp.ts on purpose: same send-buffer bound,
// same pause and drain, same liveness sweep, same metrics, same corked writes.
//
// A WebSocket arrives by one of two roads: an HTTP/1.1 Upgrade (plain or TLS socket), or an extended
// CONNECT on an HTTP/2 stream (RFC 8441, https.ts routes it here). After the handshake both are the
// same WsConnection over a Duplex. Each counts against the connection caps, checked after the
// handshake is found valid and before it is accepted, so a refused client reads 503 and why.
import type { IncomingMessage } from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { receiveText, wsDeflateFrame, wsTextFrame } from './codec/json.js';
import type { ConnectionLimits } from './conn-limits.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Outgoing } from './outgoing.js';
import type { CloseReason, Peer, Session } from './peer.js';
import {
  acceptExtendedConnect,
  CloseCode,
  refuseExtendedConnect,
  validateExtendedConnect,
  validateUpgrade,
  writeRejection,
  WsConnection,
  type DeflateParams,
  type HandshakeOptions,
  type WsConnectionHandlers,
} from './ws/index.js';

export interface WsTransportOptions {
  maxMessageBytes: number;
  /** Unsent bytes a connection may hold, this turn's included; past it the connection closes 1008. */
  maxBufferedBytes: number;
  allowedOrigins: string[];
  /** The server's origin rule (its public names); without it, the library's (same host, or listed). */
  originAllowed?: (origin: string | undefined) => boolean;
  /** The connection caps; without them, none. */
  limits?: ConnectionLimits;
  deflate: boolean;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
  /** How long the closing handshake may take; defaults to the library's CLOSE_TIMEOUT_MS. */
  closeTimeoutMs?: number;
}

export interface WsTransport {
  /** An HTTP/1.1 Upgrade to /ws. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** An HTTP/2 extended CONNECT to /ws (RFC 8441): the stream becomes the WebSocket. */
  connectStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
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
  readonly limits: ConnectionLimits | undefined;
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
    /** The TCP (or TLS) socket underneath, for its address: for HTTP/2, the session's. */
    private readonly socket: Socket,
    private readonly shared: Shared,
    /** What this connection counts as in the caps; released when it closes. */
    private readonly limitKey: string | undefined,
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
    const { open, metrics, log, limits } = this.shared;
    open.delete(this.conn);
    if (this.limitKey !== undefined) limits?.release(this.limitKey);
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

/** The WebSocket transport: `upgrade` and `connectStream` take handshakes; each connection gets a session from `connect`. */
export function createWsTransport(connect: (peer: Peer) => Session, opts: WsTransportOptions): WsTransport {
  const open = new Set<WsConnection>();
  const { log, metrics, limits } = opts;
  const shared: Shared = { open, log, metrics, maxBufferedBytes: opts.maxBufferedBytes, limits };
  const originAllowed = opts.originAllowed;
  const handshake: HandshakeOptions = {
    allowedOrigins: opts.allowedOrigins,
    deflate: opts.deflate,
    ...(originAllowed ? { originAllowed: (origin: string | undefined) => originAllowed(origin) } : {}),
  };

  /** Counts the connection, or says why not (503: the server is fine, just full for this client). */
  const admit = (address: string | undefined): { ok: true; key: string | undefined } | { ok: false; reason: string } => {
    if (!limits) return { ok: true, key: undefined };
    const a = limits.admit(address);
    if (a.ok) return a;
    metrics.refused(a.refusal.scope);
    log.info(`refused ws ${address}: ${a.refusal.message}`);
    return { ok: false, reason: a.refusal.message };
  };

  /** Both roads end here: a handshake answered, a Duplex carrying frames. */
  const start = (duplex: Duplex, addr: Socket, deflate: DeflateParams | undefined, head: Buffer, key: string | undefined): void => {
    metrics.connections.ws++;
    metrics.connectionsTotal.ws++;
    const peer = new WsPeer(addr, shared, key);
    const conn = new WsConnection(
      duplex,
      {
        maxMessageBytes: opts.maxMessageBytes,
        maxBufferedBytes: opts.maxBufferedBytes,
        deflate,
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
  };

  return {
    upgrade(req, duplex, head) {
      // http.Server hands over a net.Socket (a TLSSocket is one too): its address is what the caps count.
      if (!(duplex instanceof Socket)) {
        duplex.destroy();
        return;
      }
      const socket = duplex;
      const result = validateUpgrade(req, handshake);
      if (!result.ok) {
        log.debug(`ws handshake refused ${socket.remoteAddress}: ${result.status} ${result.reason}`);
        writeRejection(socket, result.status, result.reason, result.headers);
        return;
      }
      const admitted = admit(socket.remoteAddress);
      if (!admitted.ok) {
        writeRejection(socket, 503, admitted.reason, {});
        return;
      }
      socket.write(result.response);
      socket.setKeepAlive(true, 30_000);
      metrics.wsOver.http1++;
      start(socket, socket, result.deflate, head, admitted.key);
    },
    connectStream(stream, headers) {
      const addr = stream.session?.socket;
      if (!addr) {
        stream.destroy();
        return;
      }
      const result = validateExtendedConnect(headers, handshake);
      if (!result.ok) {
        log.debug(`ws (http/2) handshake refused ${addr.remoteAddress}: ${result.status} ${result.reason}`);
        refuseExtendedConnect(stream, result.status, result.reason, result.headers);
        return;
      }
      const admitted = admit(addr.remoteAddress);
      if (!admitted.ok) {
        refuseExtendedConnect(stream, 503, admitted.reason, {});
        return;
      }
      acceptExtendedConnect(stream, result.headers);
      metrics.wsOver.http2++;
      log.debug(`ws over http/2 from ${addr.remoteAddress}:${addr.remotePort}`);
      start(stream, addr, result.deflate, Buffer.alloc(0), admitted.key);
    },
    destroyAll() {
      for (const conn of open) conn.destroy();
    },
  };
}
