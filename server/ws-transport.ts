// The browser transport: WebSocket (our own RFC 6455 code in server/ws/) on the HTTP front's /ws.
// It turns text messages into hub calls and hub events into frames; it knows nothing of rooms or users.
// Shaped like tcp.ts on purpose: same slow-consumer rule, same metrics, same corked writes.
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../protocol/errors.js';
import type { Hub } from './hub.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Encoder, Outgoing } from './outgoing.js';
import type { Peer, Session } from './peer.js';
import { WsConnection, type WsConnectionHandlers } from './ws/connection.js';
import { DEFLATE_THRESHOLD, deflateMessage } from './ws/deflate.js';
import { CloseCode } from './ws/errors.js';
import { validateUpgrade, writeRejection } from './ws/handshake.js';
import { encodeFrame, Opcode } from './ws/sender.js';

export interface WsTransportOptions {
  maxMessageBytes: number;
  maxBufferedBytes: number;
  allowedOrigins: string[];
  deflate: boolean;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
}

export interface WsTransport {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  destroyAll(): void;
}

/** Shared by every WS peer: identity matters, it is the cache key for Outgoing.encode. */
const encodeText: Encoder<Buffer> = (json) => encodeFrame(Opcode.TEXT, Buffer.from(json, 'utf8'));

/**
 * One compressing encoder per server window size (at most 7: 9..15), so a broadcast is deflated once
 * per window size in use rather than once per recipient. Small messages come out uncompressed.
 */
const deflateEncoders = new Map<number, Encoder<Buffer>>();

function deflateEncoder(bits: number): Encoder<Buffer> {
  let enc = deflateEncoders.get(bits);
  if (!enc) {
    enc = (json) => {
      const raw = Buffer.from(json, 'utf8');
      return raw.length >= DEFLATE_THRESHOLD ? encodeFrame(Opcode.TEXT, deflateMessage(raw, bits), true) : encodeFrame(Opcode.TEXT, raw);
    };
    deflateEncoders.set(bits, enc);
  }
  return enc;
}

/** What the client hears as the close code when the hub ends its connection. */
export function closeCodeFor(code: ErrorCode | 'shutdown' | 'bye' | undefined): number {
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
  conn: WsConnection | undefined;
  /** Set right after construction: the hub makes the session from the peer. */
  session!: Session;

  constructor(
    private readonly socket: Socket,
    private readonly shared: Shared,
  ) {}

  /** Built when logged rather than kept: a string per idle connection adds up (Node caches the address). */
  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  send(event: Outgoing): void {
    const conn = this.conn;
    if (!conn || !conn.isOpen) return;
    const bits = conn.deflateWindowBits;
    conn.sendFrame(event.encode(bits === undefined ? encodeText : deflateEncoder(bits)));
  }

  close(code?: ErrorCode | 'shutdown' | 'bye'): void {
    this.conn?.close(closeCodeFor(code), code ?? '');
  }

  // ---- WsConnectionHandlers ----

  message(data: Buffer, binary: boolean): number | undefined {
    // The chat protocol is JSON text; binary has no meaning here (RFC 6455 7.4.1: 1003).
    if (binary) return CloseCode.UNSUPPORTED_DATA;
    this.session.receive(data.toString('utf8'));
    return undefined;
  }

  closed(code: number): void {
    const { open, metrics, log } = this.shared;
    if (this.conn) open.delete(this.conn);
    metrics.connections.ws--;
    log.debug(`ws closed ${this.remote} code ${code}`);
    this.session.disconnected();
  }

  slowConsumer(): void {
    this.shared.metrics.error('slow_consumer');
    this.shared.log.warn(`slow consumer ws ${this.remote}: send buffer over ${this.shared.maxBufferedBytes} bytes, closing`);
  }

  bytesIn(n: number): void {
    this.shared.metrics.bytesIn.ws += n;
  }

  bytesOut(n: number): void {
    this.shared.metrics.bytesOut.ws += n;
  }
}

export function createWsTransport(hub: Hub, opts: WsTransportOptions): WsTransport {
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
      peer.session = hub.connect(peer);
      const conn = new WsConnection(
        socket,
        {
          maxMessageBytes: opts.maxMessageBytes,
          maxBufferedBytes: opts.maxBufferedBytes,
          deflate: result.deflate,
          pingIntervalMs: opts.pingIntervalMs,
          idleTimeoutMs: opts.idleTimeoutMs,
        },
        peer,
      );
      peer.conn = conn;
      open.add(conn);
      conn.start(head);
    },
    destroyAll() {
      for (const conn of open) conn.destroy();
    },
  };
}
