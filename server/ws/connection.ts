// One WebSocket connection over a socket that has completed the handshake: it feeds the frame parser,
// answers control frames, runs the closing handshake, keeps the connection alive (or declares it dead),
// bounds what may queue for a slow reader, and lets its owner pause reading and learn when the send
// buffer has drained. What a message *means* is the owner's business: the chat transport and the echo
// server pass different `message` callbacks.
//
// The byte stream is any Duplex: a net.Socket after an HTTP/1.1 Upgrade, a TLSSocket, or an HTTP/2
// stream after an extended CONNECT (RFC 8441), whose DATA frames carry the WebSocket frames.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { corkUntilNextTurn } from './corker.js';
import { DEFLATE_THRESHOLD, deflateMessage, type DeflateParams } from './deflate.js';
import { CloseCode, type WsError } from './errors.js';
import { livenessSweep, type LivenessMember, type LivenessSweep } from './liveness.js';
import { Receiver, type ReceiverHandlers } from './receiver.js';
import { encodeClose, encodeFrame, Opcode } from './sender.js';

/** How long either side of the closing handshake waits for the other before destroying the socket. */
export const CLOSE_TIMEOUT_MS = 5000;

/**
 * Close code for a connection that has been silent for idleTimeoutMs. 1001 ("going away") rather than
 * 1008: silence breaks no policy (a sleeping laptop, a dead NAT mapping), the server is simply giving
 * up on the peer, and clients treat 1001 as "reconnect", which is what we want them to do.
 */
export const IDLE_CLOSE_CODE = CloseCode.GOING_AWAY;

export interface WsConnectionOptions {
  maxMessageBytes: number;
  /**
   * Unsent bytes the connection may hold, this turn's included. A frame sent while it holds more is not
   * queued: the connection is closed with 1008 (slow consumer). The liveness sweep checks it too. One
   * frame may take a connection past it (a long history reply to a reader that keeps up), by at most
   * one message: the owner paces its own replies well below the bound.
   */
  maxBufferedBytes: number;
  /** Negotiated permessage-deflate parameters, or undefined. */
  deflate: DeflateParams | undefined;
  /** Ping a connection from which nothing has been received for this long. */
  pingIntervalMs: number;
  /** Close a connection from which nothing has been received for this long. */
  idleTimeoutMs: number;
  /** Defaults to CLOSE_TIMEOUT_MS; tests shorten it. */
  closeTimeoutMs?: number;
}

export interface WsConnectionHandlers {
  /**
   * A complete message; text has already been checked to be valid UTF-8. Return a close code to
   * refuse the message (e.g. 1003 for binary where only text is spoken) and close the connection.
   */
  message(data: Buffer, binary: boolean): number | undefined;
  /** Called exactly once, when the socket has closed. `code` is 1006 when no close frame arrived. */
  closed(code: number, reason: string): void;
  /** The send buffer overflowed; the connection is being cut. */
  slowConsumer?(): void;
  /**
   * Everything queued has been handed to the kernel, after the send buffer had reached the socket's
   * writableHighWaterMark (the socket's 'drain'). Only while open.
   */
  drained?(): void;
  bytesIn?(n: number): void;
  bytesOut?(n: number): void;
}

type State = 'open' | 'closing' | 'closed';

/**
 * Where a socket's listeners find their connection. The listeners are shared by every connection (the
 * way the ws library does it) rather than closures made per connection: `this` in a listener is the
 * socket, and the socket points back at its connection here.
 */
const kConnection = Symbol('WsConnection');
interface ConnectionSocket extends Duplex {
  [kConnection]: WsConnection;
}

export class WsConnection implements ReceiverHandlers, LivenessMember {
  private state: State = 'open';
  private readonly receiver: Receiver;
  /** LivenessMember: public only because the sweep reads and writes them. */
  lastHeard = Date.now();
  pinged = false;
  private closeTimer: NodeJS.Timeout | undefined;
  private peerCode: number = CloseCode.ABNORMAL;
  private peerReason = '';
  /** The owner asked us to stop reading; see pause(). */
  private paused = false;
  /** A resume is due on the next turn (resume() never re-enters the owner synchronously). */
  private resumeScheduled = false;
  // Copied out of the options rather than keeping the object, which owners build per connection.
  private readonly deflate: DeflateParams | undefined;
  private readonly maxBufferedBytes: number;
  private readonly closeTimeoutMs: number;
  /** The sweep that checks this connection while it is open. */
  private readonly sweep: LivenessSweep;

  constructor(
    private readonly socket: Duplex,
    opts: WsConnectionOptions,
    private readonly handlers: WsConnectionHandlers,
  ) {
    this.deflate = opts.deflate;
    this.maxBufferedBytes = opts.maxBufferedBytes;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
    this.sweep = livenessSweep(opts.pingIntervalMs, opts.idleTimeoutMs);
    this.receiver = new Receiver({ maxMessageBytes: opts.maxMessageBytes, deflate: opts.deflate !== undefined }, this);
  }

  /**
   * Starts reading. Separate from the constructor so the owner can finish wiring (a hub Peer needs
   * the connection before the first message, which may already sit in `head`, is handled).
   */
  start(head: Buffer): void {
    const socket = this.socket as ConnectionSocket;
    socket[kConnection] = this;
    // Small frames must leave at once; an HTTP/2 stream has no Nagle of its own (its session's socket
    // is set up by whoever accepted it).
    if (socket instanceof Socket) socket.setNoDelay(true);
    socket.on('data', WsConnection.onSocketData);
    socket.on('drain', WsConnection.onSocketDrain);
    socket.on('end', WsConnection.onSocketEnd);
    socket.on('error', WsConnection.onSocketError);
    socket.on('close', WsConnection.onSocketClose);
    this.startLiveness();
    if (head.length > 0) this.onData(head);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Window bits our compressed frames must use, when deflate was negotiated. */
  get deflateWindowBits(): number | undefined {
    return this.deflate?.serverMaxWindowBits;
  }

  /** Bytes queued and not yet taken by the kernel, this turn's (still corked) included. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** Sends one message, compressed when negotiated and worth it. */
  send(data: Buffer, binary: boolean): boolean {
    const op = binary ? Opcode.BINARY : Opcode.TEXT;
    const d = this.deflate;
    if (d && data.length >= DEFLATE_THRESHOLD) return this.sendFrame(encodeFrame(op, deflateMessage(data, d.serverMaxWindowBits), true));
    return this.sendFrame(encodeFrame(op, data));
  }

  /**
   * Sends an already-encoded data frame (the broadcast fast path shares one Buffer among many
   * connections). False when it was dropped: the connection is closing or was just cut as slow.
   */
  sendFrame(frame: Buffer): boolean {
    if (this.state !== 'open') return false;
    return this.writeFrame(frame);
  }

  /**
   * Stops reading at once: no more messages or control frames are handled, even from the rest of a
   * chunk already received (it is kept, unparsed), and the socket is paused, so a client that sends
   * faster than it is served waits in its own kernel buffers. Silence is still measured from the last
   * bytes read, so a pause longer than idleTimeoutMs ends as an idle connection.
   */
  pause(): void {
    if (this.paused || this.state !== 'open') return;
    this.paused = true;
    this.receiver.pause();
    this.socket.pause();
  }

  /** Undoes pause() on the next turn: the owner is never called back from inside resume(). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.scheduleResume();
  }

  /** Starts the closing handshake; the socket goes when the peer answers or the timeout fires. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.state !== 'open') return;
    this.beginClosing(code, reason);
    this.armCloseTimer();
  }

  /** Immediate teardown, no handshake (shutdown after its grace period). */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- socket listeners, shared by all connections: `this` is the socket ----

  private static onSocketData(this: ConnectionSocket, chunk: Buffer): void {
    this[kConnection].onData(chunk);
  }

  private static onSocketDrain(this: ConnectionSocket): void {
    const conn = this[kConnection];
    if (conn.state === 'open') conn.handlers.drained?.();
  }

  /** The peer half-closed without a close frame: it has nothing more to say, so neither do we. */
  private static onSocketEnd(this: Duplex): void {
    if (!this.destroyed) this.end();
  }

  /** Errors end in 'close', which is where the connection learns it is gone. */
  private static onSocketError(): void {}

  private static onSocketClose(this: ConnectionSocket): void {
    this[kConnection].onClosed();
  }

  private static resumeNow(conn: WsConnection): void {
    conn.resumeScheduled = false;
    if (conn.paused || conn.state === 'closed') return;
    conn.receiver.resume();
    // A message handled just now may have paused us again.
    if (!conn.paused) conn.socket.resume();
  }

  private scheduleResume(): void {
    if (this.resumeScheduled) return;
    this.resumeScheduled = true;
    setImmediate(WsConnection.resumeNow, this);
  }

  private onData(chunk: Buffer): void {
    this.lastHeard = Date.now();
    this.pinged = false;
    this.handlers.bytesIn?.(chunk.length);
    this.receiver.push(chunk);
  }

  // ---- ReceiverHandlers: public only because the receiver calls them ----

  /** The receiver parsed its share of frames for this turn: read the rest on the next one. */
  onYield(): void {
    this.socket.pause();
    this.scheduleResume();
  }

  onMessage(data: Buffer, binary: boolean): void {
    // Messages that arrive after our close frame are read (to reach the peer's close) but not acted on.
    if (this.state !== 'open') return;
    const refusal = this.handlers.message(data, binary);
    if (typeof refusal === 'number') this.close(refusal, binary ? 'binary messages are not supported' : '');
  }

  onPing(data: Buffer): void {
    this.writeFrame(encodeFrame(Opcode.PONG, data));
  }

  /** Unsolicited pongs are allowed as heartbeats (RFC 6455 5.5.3); arriving at all is the point. */
  onPong(): void {}

  onCloseFrame(code: number, reason: string): void {
    this.peerCode = code;
    this.peerReason = reason;
    // Echo the peer's code (RFC 6455 5.5.1); an empty close gets an empty-status answer of 1000.
    if (this.state === 'open') this.beginClosing(code === CloseCode.NO_STATUS ? CloseCode.NORMAL : code);
    // Both close frames have now crossed: the server closes TCP first (RFC 6455 7.1.1).
    this.socket.end();
    this.armCloseTimer();
  }

  onProtocolError(err: WsError): void {
    // "Fail the WebSocket connection" (RFC 6455 7.1.7): say why, then close TCP without waiting.
    if (this.state === 'open') this.beginClosing(err.closeCode, err.message);
    this.socket.end();
    this.armCloseTimer();
  }

  // ---- LivenessMember: public only because the sweep calls them ----

  livenessPing(): void {
    this.writeFrame(encodeFrame(Opcode.PING, Buffer.alloc(0)));
  }

  livenessTimeout(): void {
    this.close(IDLE_CLOSE_CODE, 'idle timeout');
  }

  /** The bound again, without waiting for a send: bytes may have reached the socket by another path. */
  livenessCheck(): void {
    if (this.state === 'open' && this.socket.writableLength > this.maxBufferedBytes) this.cutSlowConsumer();
  }

  // ---- internals ----

  /** Open -> closing: our close frame goes out, liveness stops, and reading resumes to hear the answer. */
  private beginClosing(code: number, reason?: string): void {
    this.state = 'closing';
    this.sweep.delete(this);
    this.rawWrite(encodeClose(code, reason));
    if (this.paused) {
      this.paused = false;
      this.scheduleResume();
    }
  }

  private onClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.sweep.delete(this);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.handlers.closed(this.peerCode, this.peerReason);
  }

  /**
   * Writes a frame within the send-buffer bound, this turn's bytes counted: a connection already past
   * it gets nothing more and is cut as a slow consumer, so memory stays within the bound plus one frame.
   */
  private writeFrame(frame: Buffer): boolean {
    const socket = this.socket;
    if (socket.destroyed || this.state === 'closed') return false;
    if (socket.writableLength >= this.maxBufferedBytes) {
      this.cutSlowConsumer();
      return false;
    }
    this.rawWrite(frame);
    return true;
  }

  /**
   * The peer is not reading. The close frame goes behind what is queued, so a peer that wakes up in
   * time learns why; otherwise the close timer cuts it.
   */
  private cutSlowConsumer(): void {
    // Once: a closing connection that still overflows (a pong behind the queue) is already being cut.
    if (this.state !== 'open') return;
    this.handlers.slowConsumer?.();
    this.beginClosing(CloseCode.POLICY, 'slow consumer');
    this.socket.end();
    this.armCloseTimer();
  }

  private rawWrite(bytes: Buffer): void {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return;
    corkUntilNextTurn(socket);
    socket.write(bytes);
    this.handlers.bytesOut?.(bytes.length);
  }

  private armCloseTimer(): void {
    if (this.closeTimer) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.closeTimeoutMs);
    this.closeTimer.unref();
  }

  private startLiveness(): void {
    if (this.state === 'open') this.sweep.add(this);
  }
}
