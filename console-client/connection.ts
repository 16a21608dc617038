// A TCP connection to the server that speaks JSON lines and comes back by itself: after a loss it
// retries on the shared back-off (protocol/backoff.ts), so a restarted server is not hit by every
// client at once.
import type { Socket } from 'node:net';
import { Backoff } from '../protocol/backoff.js';
import type { Request, ServerEvent } from '../protocol/messages.js';
import { parseEvent } from '../protocol/validate.js';
import { LineReader } from './line-reader.js';
import { plainDialer, type Dialer } from './tls-options.js';

export interface ConnectionHandlers {
  open(): void;
  event(ev: ServerEvent): void;
  /** The connection ended; `retryInMs` is when the next attempt starts (undefined: not retrying). */
  lost(reason: string, retryInMs: number | undefined): void;
}

/** A server line longer than this is a broken server; the connection is dropped rather than buffered. */
const MAX_LINE_CHARS = 4 * 1024 * 1024;

export class Connection {
  private socket: Socket | undefined;
  private readonly reader = new LineReader(MAX_LINE_CHARS);
  private readonly backoff = new Backoff();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly handlers: ConnectionHandlers,
    /** Give up once no connection has been made for this long after a loss (undefined: never). */
    private readonly giveUpAfterMs?: number,
    /** How to open a connection: plain TCP, or TLS (tls-options.ts). */
    private readonly dial: Dialer = plainDialer,
  ) {}

  /** When the connection was first found missing since it was last open; undefined while open. */
  private downSince: number | undefined;

  start(): void {
    this.stopped = false;
    this.open();
  }

  get isOpen(): boolean {
    return this.socket?.readyState === 'open';
  }

  send(req: Request): void {
    this.socket?.write(JSON.stringify(req) + '\n');
  }

  /** Ends for good: no more reconnects. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.end();
  }

  private open(): void {
    const { socket, ready } = this.dial(this.host, this.port);
    this.socket = socket;
    this.reader.reset();
    let why = '';
    socket.setNoDelay(true);
    socket.on(ready, () => {
      this.backoff.up();
      this.downSince = undefined;
      this.handlers.open();
    });
    socket.on('data', (chunk: Buffer) => {
      const read = this.reader.push(chunk);
      for (const line of read.lines) {
        const ev = parseEvent(line);
        if (ev) this.handlers.event(ev);
      }
      if (!read.ok) {
        why = 'the server sent an over-long line';
        socket.destroy();
      }
    });
    socket.on('error', (err) => {
      why = err.message;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.downSince ??= Date.now();
      const gaveUp = this.giveUpAfterMs !== undefined && Date.now() - this.downSince >= this.giveUpAfterMs;
      if (this.stopped || gaveUp) {
        this.stopped = true;
        this.handlers.lost(why || 'connection closed', undefined);
        return;
      }
      const delay = this.backoff.down();
      this.handlers.lost(why || 'the server closed the connection', delay);
      this.timer = setTimeout(() => this.open(), delay);
    });
  }
}
