// The console-client transport: newline-delimited JSON over TCP. It turns bytes into lines and lines
// into hub calls, and hub events into bytes; it knows nothing of rooms or users.
import { isUtf8 } from 'node:buffer';
import { createServer, type Server, type Socket } from 'node:net';
import type { ErrorCode } from '../protocol/errors.js';
import { corkUntilNextTurn } from './ws/corker.js';
import type { Hub } from './hub.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Encoder, Outgoing } from './outgoing.js';
import { LineSplitter } from './line-splitter.js';
import type { Peer, Session } from './peer.js';

export interface TcpOptions {
  maxMessageBytes: number;
  maxBufferedBytes: number;
  log: Logger;
  metrics: Metrics;
}

/** How long a closing connection may take to drain before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/** Shared by every TCP peer: identity matters, it is the cache key for Outgoing.encode. */
const encodeLine: Encoder<Buffer> = (json) => Buffer.from(json + '\n', 'utf8');

class TcpPeer implements Peer {
  readonly transport = 'tcp' as const;
  private closing = false;

  constructor(
    private readonly socket: Socket,
    private readonly opts: TcpOptions,
  ) {}

  /** Built when logged rather than kept: a string per idle connection adds up (Node caches the address). */
  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  send(event: Outgoing): void {
    const socket = this.socket;
    if (this.closing || socket.destroyed) return;
    const bytes = event.encode(encodeLine);
    const backlog = corkUntilNextTurn(socket);
    if (backlog > this.opts.maxBufferedBytes) {
      // The client is not reading: queuing more would grow memory without bound. Nothing more can be
      // said to it (the queue is full), so it is cut off and the others carry on.
      this.opts.metrics.error('slow_consumer');
      this.opts.log.warn(`slow consumer tcp ${this.remote}: ${socket.writableLength} bytes unsent, closing`);
      this.closing = true;
      socket.destroy();
      return;
    }
    socket.write(bytes);
    this.opts.metrics.bytesOut.tcp += bytes.length;
  }

  close(_code?: ErrorCode | 'shutdown' | 'bye'): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }
}

export function createTcpTransport(hub: Hub, opts: TcpOptions): Server {
  const server = createServer({ noDelay: true }, (socket) => {
    opts.metrics.connections.tcp++;
    opts.metrics.connectionsTotal.tcp++;
    socket.setKeepAlive(true, 30_000);
    const session: Session = hub.connect(new TcpPeer(socket, opts));
    const lines = new LineSplitter(opts.maxMessageBytes, {
      line(bytes) {
        if (!isUtf8(bytes)) session.reject('bad_utf8', 'the line is not valid UTF-8');
        else session.receive(bytes.toString('utf8'));
      },
      tooLong() {
        session.reject('too_large', `line longer than ${opts.maxMessageBytes} bytes; discarded up to its newline`);
      },
    });
    socket.on('data', (chunk: Buffer) => {
      opts.metrics.bytesIn.tcp += chunk.length;
      lines.push(chunk);
    });
    // A half-closed client has nothing more to say; answer what is queued and close our side.
    socket.on('end', () => socket.end());
    socket.on('error', (err) => opts.log.debug(`tcp socket error ${socket.remoteAddress}: ${err.message}`));
    socket.on('close', () => {
      opts.metrics.connections.tcp--;
      session.disconnected();
    });
  });
  return server;
}
