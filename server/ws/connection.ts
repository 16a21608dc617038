// One WebSocket connection over a socket that has completed the handshake: it feeds the frame parser,
// answers control frames, runs the closing handshake, keeps the connection alive (or declares it dead)
// and bounds what may queue for a slow reader. What a message *means* is the owner's business: the
// chat transport and the echo server pass different `message` callbacks.
import type { Socket } from 'node:net';
import { corkUntilNextTurn } from '../corker.js';
import { DEFLATE_THRESHOLD, deflateMessage, type DeflateParams } from './deflate.js';
import { CloseCode, type WsError } from './errors.js';
import { Receiver } from './receiver.js';
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
  /** Unsent bytes from earlier turns allowed to queue; more than this closes the connection with 1008. */
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
  bytesIn?(n: number): void;
  bytesOut?(n: number): void;
}

type State = 'open' | 'closing' | 'closed';

export class WsConnection {
  private state: State = 'open';
  private readonly receiver: Receiver;
  private lastHeard = Date.now();
  /** Whether a ping went out since we last heard from the peer: one ping per quiet spell. */
  private pinged = false;
  private liveness: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private peerCode: number = CloseCode.ABNORMAL;
  private peerReason = '';

  constructor(
    private readonly socket: Socket,
    private readonly opts: WsConnectionOptions,
    private readonly handlers: WsConnectionHandlers,
  ) {
    this.receiver = new Receiver(
      { maxMessageBytes: opts.maxMessageBytes, deflate: opts.deflate !== undefined },
      {
        message: (data, binary) => this.onMessage(data, binary),
        ping: (data) => this.writeFrame(encodeFrame(Opcode.PONG, data)),
        // Unsolicited pongs are allowed as heartbeats (RFC 6455 5.5.3); arriving at all is the point.
        pong: () => {},
        close: (code, reason) => this.onPeerClose(code, reason),
        error: (err) => this.onProtocolError(err),
      },
    );
  }

  /**
   * Starts reading. Separate from the constructor so the owner can finish wiring (a hub Peer needs
   * the connection before the first message, which may already sit in `head`, is handled).
   */
  start(head: Buffer): void {
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // The peer half-closed without a close frame: it has nothing more to say, so neither do we.
    socket.on('end', () => {
      if (!socket.destroyed) socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => this.onSocketClose());
    this.scheduleLiveness();
    if (head.length > 0) this.onData(head);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Window bits our compressed frames must use, when deflate was negotiated. */
  get deflateWindowBits(): number | undefined {
    return this.opts.deflate?.serverMaxWindowBits;
  }

  /** Sends one message, compressed when negotiated and worth it. */
  send(data: Buffer, binary: boolean): boolean {
    const op = binary ? Opcode.BINARY : Opcode.TEXT;
    const d = this.opts.deflate;
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

  /** Starts the closing handshake; the socket goes when the peer answers or the timeout fires. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.stopLiveness();
    this.rawWrite(encodeClose(code, reason));
    this.armCloseTimer();
  }

  /** Immediate teardown, no handshake (shutdown after its grace period). */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.lastHeard = Date.now();
    this.pinged = false;
    this.handlers.bytesIn?.(chunk.length);
    this.receiver.push(chunk);
  }

  private onMessage(data: Buffer, binary: boolean): void {
    // Messages that arrive after our close frame are read (to reach the peer's close) but not acted on.
    if (this.state !== 'open') return;
    const refusal = this.handlers.message(data, binary);
    if (typeof refusal === 'number') this.close(refusal, binary ? 'binary messages are not supported' : '');
  }

  private onPeerClose(code: number, reason: string): void {
    this.peerCode = code;
    this.peerReason = reason;
    if (this.state === 'open') {
      // Echo the peer's code (RFC 6455 5.5.1); an empty close gets an empty-status answer of 1000.
      this.state = 'closing';
      this.stopLiveness();
      this.rawWrite(encodeClose(code === CloseCode.NO_STATUS ? CloseCode.NORMAL : code));
    }
    // Both close frames have now crossed: the server closes TCP first (RFC 6455 7.1.1).
    this.socket.end();
    this.armCloseTimer();
  }

  private onProtocolError(err: WsError): void {
    // "Fail the WebSocket connection" (RFC 6455 7.1.7): say why, then close TCP without waiting.
    if (this.state === 'open') {
      this.state = 'closing';
      this.stopLiveness();
      this.rawWrite(encodeClose(err.closeCode, err.message));
    }
    this.socket.end();
    this.armCloseTimer();
  }

  private onSocketClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopLiveness();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.handlers.closed(this.peerCode, this.peerReason);
  }

  /** Writes a frame within the send-buffer bound; overflowing it cuts the connection as a slow consumer. */
  private writeFrame(frame: Buffer): boolean {
    const socket = this.socket;
    if (socket.destroyed || this.state === 'closed') return false;
    if (corkUntilNextTurn(socket) > this.opts.maxBufferedBytes) {
      // The peer is not reading. Nothing more is queued (memory stays bounded); the close frame goes
      // behind what is queued, so a peer that wakes up in time learns why, otherwise the timer cuts it.
      this.handlers.slowConsumer?.();
      if (this.state === 'open') {
        this.state = 'closing';
        this.stopLiveness();
        this.rawWrite(encodeClose(CloseCode.POLICY, 'slow consumer'));
        socket.end();
        this.armCloseTimer();
      }
      return false;
    }
    this.rawWrite(frame);
    return true;
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
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.opts.closeTimeoutMs ?? CLOSE_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  /**
   * One timer per connection, re-armed lazily: receiving data only updates a timestamp, and the timer
   * works out on firing whether to ping, close or sleep again. That keeps the per-chunk cost at a
   * Date.now() instead of a clearTimeout/setTimeout pair.
   */
  private scheduleLiveness(): void {
    const quiet = Date.now() - this.lastHeard;
    const untilIdle = this.opts.idleTimeoutMs - quiet;
    const untilPing = this.pinged ? Infinity : this.opts.pingIntervalMs - quiet;
    const wait = Math.max(1, Math.min(untilIdle, untilPing));
    this.liveness = setTimeout(() => this.checkLiveness(), wait);
    this.liveness.unref();
  }

  private checkLiveness(): void {
    this.liveness = undefined;
    if (this.state !== 'open') return;
    const quiet = Date.now() - this.lastHeard;
    if (quiet >= this.opts.idleTimeoutMs) {
      this.close(IDLE_CLOSE_CODE, 'idle timeout');
      return;
    }
    if (!this.pinged && quiet >= this.opts.pingIntervalMs) {
      this.pinged = true;
      this.writeFrame(encodeFrame(Opcode.PING, Buffer.alloc(0)));
      if (this.state !== 'open') return;
    }
    this.scheduleLiveness();
  }

  private stopLiveness(): void {
    if (this.liveness) clearTimeout(this.liveness);
    this.liveness = undefined;
  }
}
