// The console-client transport: newline-delimited JSON over TCP. It turns bytes into lines, lines into
// Requests (the JSON codec) for the session, and the hub's events into lines; it knows nothing of
// rooms or users. Shaped like the WebSocket transport on purpose: the same send-buffer bound, pause
// and drain, and the same liveness sweep (a ping event to a quiet connection, idle_timeout to a
// silent one, so a peer that vanished without a FIN is noticed).
import { isUtf8 } from 'node:buffer';
import { createServer, type Server, type Socket } from 'node:net';
import type { PingEvent } from '../protocol/messages.js';
import { jsonLine, receiveText } from './codec/json.js';
import { LineSplitter, type LineSink } from './line-splitter.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { Outgoing } from './outgoing.js';
import type { CloseReason, Peer, Session } from './peer.js';
import { corkUntilNextTurn, livenessSweep, type LivenessMember, type LivenessSweep } from './ws/index.js';

export interface TcpOptions {
  maxMessageBytes: number;
  /**
   * Unsent bytes a connection may hold, this turn's included. An event sent while it holds more is not
   * queued: the connection is cut as a slow consumer. The liveness sweep checks it too. One event may
   * take it past the bound (a long history reply to a reader that keeps up), by at most one message.
   */
  maxBufferedBytes: number;
  /** Send a ping event to a connection from which nothing has been received for this long. */
  pingIntervalMs: number;
  /** Tell the session idle_timeout (fatal) about a connection silent for this long. */
  idleTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
  /** How long a closing connection may take to drain before it is destroyed; defaults to CLOSE_GRACE_MS. */
  closeGraceMs?: number;
}

/** How long a closing connection may take to drain before it is destroyed. */
export const CLOSE_GRACE_MS = 2000;

/** One event for every quiet connection there will ever be: serialised once, its line shared. */
const PING = new Outgoing<PingEvent>({ type: 'ping' });

/** What every connection of one transport shares; one object, so a peer holds one reference to it. */
interface Shared {
  readonly maxMessageBytes: number;
  readonly maxBufferedBytes: number;
  readonly closeGraceMs: number;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly sweep: LivenessSweep;
}

/**
 * Where a socket's listeners find their peer. The listeners are shared by every connection rather
 * than closures made per connection: `this` in a listener is the socket, which points back here.
 */
const kPeer = Symbol('TcpPeer');
interface PeerSocket extends Socket {
  [kPeer]: TcpPeer;
}

/**
 * One TCP client, seen from all sides: the hub's Peer, its line splitter's sink, and a member of the
 * liveness sweep. One object with methods rather than closures: idle connections are most of a
 * server's connections, and each closure would cost every one of them.
 */
class TcpPeer implements Peer, LineSink, LivenessMember {
  readonly transport = 'tcp' as const;
  /** Set right after construction: the hub makes the session from the peer. */
  session!: Session;
  /** LivenessMember: public only because the sweep reads and writes them. */
  lastHeard = Date.now();
  pinged = false;
  private readonly lines: LineSplitter;
  /** close() was called or the connection was cut: nothing more is sent or handed to the session. */
  private closing = false;
  private paused = false;
  /** A resume is due on the next turn (resume() never calls the session back synchronously). */
  private resumeScheduled = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private gone = false;

  constructor(
    private readonly socket: Socket,
    private readonly shared: Shared,
  ) {
    this.lines = new LineSplitter(shared.maxMessageBytes, this);
  }

  /** Built when logged rather than kept: a string per idle connection adds up (Node caches the address). */
  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  send(event: Outgoing): boolean {
    const socket = this.socket;
    if (this.closing || !socket.writable) return false;
    const bytes = event.encode(jsonLine);
    if (socket.writableLength >= this.shared.maxBufferedBytes) {
      this.cutSlowConsumer(bytes.length);
      return false;
    }
    corkUntilNextTurn(socket);
    socket.write(bytes);
    this.shared.metrics.bytesOut.tcp += bytes.length;
    return true;
  }

  /** TCP has no close codes: the reason only matters to the hub's own logs. */
  close(_reason?: CloseReason): void {
    if (this.closing) return;
    this.stopInput();
    this.socket.end();
    this.destroyAfterGrace();
  }

  pause(): void {
    if (this.paused || this.closing) return;
    this.paused = true;
    this.lines.pause();
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.resumeScheduled) return;
    this.resumeScheduled = true;
    setImmediate(TcpPeer.resumeNow, this);
  }

  private static resumeNow(peer: TcpPeer): void {
    peer.resumeScheduled = false;
    if (peer.paused || peer.closing) return;
    peer.lines.resume();
    // A request handled just now may have paused us again.
    if (!peer.paused) peer.socket.resume();
  }

  // ---- LineSink: public only because the splitter calls them ----

  line(bytes: Buffer): void {
    if (!isUtf8(bytes)) this.session.reject('bad_utf8', 'the line is not valid UTF-8');
    else receiveText(this.session, bytes.toString('utf8'));
  }

  tooLong(): void {
    this.session.reject('too_large', `line longer than ${this.shared.maxMessageBytes} bytes; discarded up to its newline`);
  }

  // ---- LivenessMember: public only because the sweep calls them ----

  livenessPing(): void {
    this.send(PING);
  }

  livenessTimeout(silentMs: number): void {
    if (this.closing) return;
    this.session.reject('idle_timeout', `silent for ${silentMs} ms`, undefined, true);
    // The session closes a connection on a fatal error; if it did not, it is closed anyway.
    this.destroyAfterGrace();
  }

  livenessCheck(): void {
    if (!this.closing && this.socket.writableLength > this.shared.maxBufferedBytes) this.cutSlowConsumer(0);
  }

  // ---- socket listeners, shared by all connections: `this` is the socket ----

  static onData(this: PeerSocket, chunk: Buffer): void {
    const peer = this[kPeer];
    peer.shared.metrics.bytesIn.tcp += chunk.length;
    // Any bytes are life; a pong is just a request the hub ignores.
    peer.lastHeard = Date.now();
    peer.pinged = false;
    if (!peer.closing) peer.lines.push(chunk);
  }

  static onDrain(this: PeerSocket): void {
    const peer = this[kPeer];
    if (!peer.closing) peer.session.drained();
  }

  /** A half-closed client has nothing more to say: answer what is queued and close our side. */
  static onEnd(this: PeerSocket): void {
    this[kPeer].close();
  }

  static onError(this: PeerSocket, err: Error): void {
    this[kPeer].shared.log.debug(`tcp socket error ${this.remoteAddress}: ${err.message}`);
  }

  static onClose(this: PeerSocket): void {
    this[kPeer].closed();
  }

  // ---- internals ----

  /** Nothing more is handed to the session, not even the rest of a chunk being split right now. */
  private stopInput(): void {
    this.closing = true;
    this.shared.sweep.delete(this);
    this.lines.pause();
    // Keep reading (and dropping) so the client's FIN is seen and the socket can close.
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /**
   * The client is not reading: queuing more would grow memory without bound. Nothing more can be said
   * to it (the queue is full), so it is cut off and the others carry on.
   */
  private cutSlowConsumer(more: number): void {
    if (this.closing) return;
    const { metrics, log, maxBufferedBytes } = this.shared;
    metrics.error('slow_consumer');
    log.warn(`slow consumer tcp ${this.remote}: ${this.socket.writableLength} bytes unsent and ${more} more would pass ${maxBufferedBytes}, closing`);
    this.stopInput();
    this.socket.destroy();
  }

  private destroyAfterGrace(): void {
    if (this.graceTimer || this.gone) return;
    this.graceTimer = setTimeout(TcpPeer.destroy, this.shared.closeGraceMs, this.socket);
    this.graceTimer.unref();
  }

  private static destroy(socket: Socket): void {
    socket.destroy();
  }

  private closed(): void {
    if (this.gone) return;
    this.gone = true;
    this.closing = true;
    this.shared.sweep.delete(this);
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.shared.metrics.connections.tcp--;
    this.session.disconnected();
  }
}

/** The TCP transport: a net.Server whose every connection gets a session from `connect`. */
export function createTcpTransport(connect: (peer: Peer) => Session, opts: TcpOptions): Server {
  const shared: Shared = {
    maxMessageBytes: opts.maxMessageBytes,
    maxBufferedBytes: opts.maxBufferedBytes,
    closeGraceMs: opts.closeGraceMs ?? CLOSE_GRACE_MS,
    log: opts.log,
    metrics: opts.metrics,
    sweep: livenessSweep(opts.pingIntervalMs, opts.idleTimeoutMs),
  };
  return createServer({ noDelay: true }, (s) => {
    const socket = s as PeerSocket;
    opts.metrics.connections.tcp++;
    opts.metrics.connectionsTotal.tcp++;
    socket.setKeepAlive(true, 30_000);
    const peer = new TcpPeer(socket, shared);
    socket[kPeer] = peer;
    socket.on('data', TcpPeer.onData);
    socket.on('drain', TcpPeer.onDrain);
    socket.on('end', TcpPeer.onEnd);
    socket.on('error', TcpPeer.onError);
    socket.on('close', TcpPeer.onClose);
    // In the sweep before the session exists, so a session that closes at once also leaves it.
    shared.sweep.add(peer);
    peer.session = connect(peer);
  });
}
