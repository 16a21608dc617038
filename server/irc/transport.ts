// The IRC listener's transport: sockets in, an IrcConnection per client, Parley requests to the hub.
// Shaped like tcp.ts on purpose: listeners shared by every socket, a LineSplitter that accepts any
// chunking and bounds a line while it accumulates, the same liveness sweep (a PING to a quiet client,
// idle_timeout for a silent one), the same send-buffer bound (a client not reading is cut as a slow
// consumer), pause and resume for the hub's pacing, and corked writes.
//
// It takes any stream socket: createIrcTransport makes a plain net.Server, and ircSocketHandler is the
// per-socket half, ready for a tls.Server's 'secureConnection' when the TLS listener is wired.
import { createServer, type Server, type Socket } from 'node:net';
import type { Request } from '../../protocol/messages.js';
import type { Topic } from '../kv/room-topics.js';
import { LineSplitter, type LineSink } from '../line-splitter.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Outgoing } from '../outgoing.js';
import type { CloseReason, Peer, Session } from '../peer.js';
import { corkUntilNextTurn, livenessSweep, type LivenessMember, type LivenessSweep } from '../ws/index.js';
import { IrcConnection, type IrcLink, type IrcShared } from './connection.js';
import { MAX_LINE_BYTES } from './message.js';
import { IrcRenderer } from './render.js';

export interface IrcOptions {
  /** The name in numerics and the source of server lines (--server-name). */
  serverName: string;
  /** NETWORK= in ISUPPORT and the welcome. */
  network: string;
  /** Software and version for 002/004. */
  version: string;
  /** Messages replayed on join to clients without chathistory (--irc-replay); 0 = none. */
  replay: number;
  /** A connection not registered by then is closed (the hub's hello timeout). */
  registrationTimeoutMs: number;
  /** Unsent bytes a connection may hold, this turn's included; past it the client is cut as a slow consumer. */
  maxBufferedBytes: number;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  /** Read-only topic lookup for LIST. */
  topicOf: (roomKey: string) => Promise<Topic | undefined>;
  /** Numbers for LUSERS. */
  stats: () => { users: number; rooms: number; clients: number };
  log: Logger;
  metrics: Metrics;
  closeGraceMs?: number;
}

const CLOSE_GRACE_MS = 2000;

interface Shared {
  readonly irc: IrcShared;
  readonly maxBufferedBytes: number;
  /** Above this many unsent bytes, reading stops until they drain (commands answered here pace too). */
  readonly highWaterBytes: number;
  readonly closeGraceMs: number;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly sweep: LivenessSweep;
}

const kPeer = Symbol('IrcPeer');
interface PeerSocket extends Socket {
  [kPeer]: IrcPeer;
}

/** One IRC client seen from all sides: the hub's Peer, the splitter's sink, a liveness member, the connection's link. */
class IrcPeer implements Peer, LineSink, LivenessMember, IrcLink {
  readonly transport = 'irc' as const;
  session!: Session;
  readonly conn: IrcConnection;
  lastHeard = Date.now();
  pinged = false;
  private readonly lines: LineSplitter;
  /** Requests made by lines already read, waiting while the hub has the connection paused. */
  private readonly queue: Request[] = [];
  private closing = false;
  private hubPaused = false;
  /** Our own bound: unsent bytes over the high-water mark (e.g. a flood of PINGs answered here). */
  private selfPaused = false;
  private resumeScheduled = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private gone = false;

  constructor(
    private readonly socket: Socket,
    private readonly shared: Shared,
  ) {
    this.lines = new LineSplitter(MAX_LINE_BYTES, this);
    this.conn = new IrcConnection(shared.irc, this);
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** What is unsent, and what the connection holds back until registration completes. */
  get bufferedBytes(): number {
    return this.socket.writableLength + this.conn.heldBytes;
  }

  // ---- Peer ----

  send(event: Outgoing): boolean {
    if (this.closing) return false;
    this.conn.event(event);
    return !this.closing;
  }

  close(_reason?: CloseReason): void {
    if (this.closing) return;
    this.stopInput();
    this.socket.end();
    this.destroyAfterGrace();
  }

  pause(): void {
    if (this.hubPaused || this.closing) return;
    this.hubPaused = true;
    this.updateInput();
  }

  resume(): void {
    if (!this.hubPaused) return;
    this.hubPaused = false;
    this.scheduleResume();
  }

  // ---- IrcLink ----

  writeBytes(bytes: Buffer): void {
    const socket = this.socket;
    if (this.closing || !socket.writable || bytes.length === 0) return;
    if (socket.writableLength >= this.shared.maxBufferedBytes) return this.cutSlowConsumer(bytes.length);
    corkUntilNextTurn(socket);
    socket.write(bytes);
    this.shared.metrics.bytesOut.irc += bytes.length;
    if (!this.selfPaused && socket.writableLength > this.shared.highWaterBytes) {
      this.selfPaused = true;
      this.updateInput();
    }
  }

  toHub(req: Request): void {
    this.queue.push(req);
    this.pump();
  }

  // ---- LineSink ----

  line(bytes: Buffer): void {
    this.conn.line(bytes);
  }

  tooLong(): void {
    this.conn.tooLong();
  }

  // ---- LivenessMember ----

  livenessPing(): void {
    if (!this.closing) this.conn.ping();
  }

  livenessTimeout(silentMs: number): void {
    if (this.closing) return;
    this.session.reject('idle_timeout', `silent for ${Math.round(silentMs / 1000)} seconds`, undefined, true);
    this.destroyAfterGrace();
  }

  livenessCheck(): void {
    if (!this.closing && this.socket.writableLength > this.shared.maxBufferedBytes) this.cutSlowConsumer(0);
  }

  // ---- socket listeners, shared: `this` is the socket ----

  static onData(this: PeerSocket, chunk: Buffer): void {
    const peer = this[kPeer];
    peer.shared.metrics.bytesIn.irc += chunk.length;
    peer.lastHeard = Date.now();
    peer.pinged = false;
    if (!peer.closing) peer.lines.push(chunk);
  }

  static onDrain(this: PeerSocket): void {
    const peer = this[kPeer];
    if (peer.closing) return;
    if (peer.selfPaused) {
      peer.selfPaused = false;
      peer.scheduleResume();
    }
    peer.session.drained();
  }

  static onEnd(this: PeerSocket): void {
    this[kPeer].close();
  }

  static onError(this: PeerSocket, err: Error): void {
    this[kPeer].shared.log.debug(`irc socket error ${this.remoteAddress}: ${err.message}`);
  }

  static onClose(this: PeerSocket): void {
    this[kPeer].closed();
  }

  // ---- internals ----

  /** Hands queued requests to the hub until it pauses us; reads on only when none are left. */
  private pump(): void {
    while (this.queue.length > 0 && !this.hubPaused && !this.closing) this.session.receive(this.queue.shift()!);
    this.updateInput();
  }

  /** Reading goes on only while nobody holds it: the hub, our queue, our send buffer. */
  private updateInput(): void {
    const hold = this.closing || this.hubPaused || this.selfPaused || this.queue.length > 0;
    if (hold) {
      this.lines.pause();
      if (!this.closing) this.socket.pause();
    } else if (this.lines.isPaused) {
      this.scheduleResume();
    }
  }

  /** Resuming parses kept lines, which calls the hub: never synchronously from the hub's own call. */
  private scheduleResume(): void {
    if (this.resumeScheduled) return;
    this.resumeScheduled = true;
    setImmediate(IrcPeer.resumeNow, this);
  }

  private static resumeNow(peer: IrcPeer): void {
    peer.resumeScheduled = false;
    if (peer.closing) return;
    while (peer.queue.length > 0 && !peer.hubPaused) peer.session.receive(peer.queue.shift()!);
    if (peer.hubPaused || peer.selfPaused || peer.queue.length > 0) return;
    peer.lines.resume();
    if (!peer.lines.isPaused && !peer.hubPaused && !peer.selfPaused && peer.queue.length === 0 && !peer.closing) peer.socket.resume();
  }

  private stopInput(): void {
    this.closing = true;
    this.shared.sweep.delete(this);
    this.lines.pause();
    this.queue.length = 0;
    // Keep reading (and dropping) so the client's FIN is seen and the socket can close.
    this.socket.resume();
  }

  private cutSlowConsumer(more: number): void {
    if (this.closing) return;
    const { metrics, log, maxBufferedBytes } = this.shared;
    metrics.error('slow_consumer');
    log.warn(`slow consumer irc ${this.remote}: ${this.socket.writableLength} bytes unsent and ${more} more would pass ${maxBufferedBytes}, closing`);
    this.stopInput();
    this.socket.destroy();
  }

  private destroyAfterGrace(): void {
    if (this.graceTimer || this.gone) return;
    this.graceTimer = setTimeout(IrcPeer.destroy, this.shared.closeGraceMs, this.socket);
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
    this.shared.metrics.connections.irc--;
    this.conn.closed();
    this.session.disconnected();
  }
}

/**
 * The per-socket half of the listener: give it every accepted socket (a net.Server's 'connection', a
 * tls.Server's 'secureConnection'). All sockets of one handler share one renderer and one sweep.
 */
export function ircSocketHandler(connect: (peer: Peer) => Session, opts: IrcOptions): (socket: Socket) => void {
  const shared: Shared = {
    irc: {
      renderer: new IrcRenderer(opts.serverName, opts.serverName),
      serverName: opts.serverName,
      network: opts.network,
      version: opts.version,
      created: new Date().toUTCString(),
      replay: opts.replay,
      registrationTimeoutMs: opts.registrationTimeoutMs,
      topicOf: opts.topicOf,
      stats: opts.stats,
      log: opts.log,
    },
    maxBufferedBytes: opts.maxBufferedBytes,
    highWaterBytes: Math.min(256 * 1024, Math.floor(opts.maxBufferedBytes / 4)),
    closeGraceMs: opts.closeGraceMs ?? CLOSE_GRACE_MS,
    log: opts.log,
    metrics: opts.metrics,
    sweep: livenessSweep(opts.pingIntervalMs, opts.idleTimeoutMs),
  };
  return (s: Socket) => {
    const socket = s as PeerSocket;
    opts.metrics.connections.irc++;
    opts.metrics.connectionsTotal.irc++;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const peer = new IrcPeer(socket, shared);
    socket[kPeer] = peer;
    socket.on('data', IrcPeer.onData);
    socket.on('drain', IrcPeer.onDrain);
    socket.on('end', IrcPeer.onEnd);
    socket.on('error', IrcPeer.onError);
    socket.on('close', IrcPeer.onClose);
    shared.sweep.add(peer);
    peer.session = connect(peer);
  };
}

/** The plain-TCP IRC listener. */
export function createIrcTransport(connect: (peer: Peer) => Session, opts: IrcOptions): Server {
  return createServer({ noDelay: true }, ircSocketHandler(connect, opts));
}
