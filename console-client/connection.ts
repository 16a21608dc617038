// A TCP connection to the server that speaks JSON lines and comes back by itself: after a loss it
// retries with exponential backoff and jitter, so a restarted server is not hit by every client at once.
import { connect, type Socket } from 'node:net';
import type { Request, ServerEvent } from '../protocol/messages.js';
import { parseEvent } from '../protocol/validate.js';

export interface ConnectionHandlers {
  open(): void;
  event(ev: ServerEvent): void;
  /** The connection ended; `retryInMs` is when the next attempt starts (undefined: not retrying). */
  lost(reason: string, retryInMs: number | undefined): void;
}

/** Backoff: first retry after BACKOFF_MIN_MS, doubling up to BACKOFF_MAX_MS, +-25% jitter. */
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 10_000;
/** A server line longer than this is a broken server; the connection is dropped rather than buffered. */
const MAX_LINE_CHARS = 4 * 1024 * 1024;

export class Connection {
  private socket: Socket | undefined;
  private buf = '';
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly handlers: ConnectionHandlers,
    /** Give up once no connection has been made for this long after a loss (undefined: never). */
    private readonly giveUpAfterMs?: number,
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
    const socket = connect({ host: this.host, port: this.port });
    this.socket = socket;
    this.buf = '';
    let why = '';
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      this.attempt = 0;
      this.downSince = undefined;
      this.handlers.open();
    });
    socket.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const ev = parseEvent(line);
        if (ev) this.handlers.event(ev);
      }
      if (this.buf.length > MAX_LINE_CHARS) {
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
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
      const delay = Math.round(base * (0.75 + Math.random() * 0.5));
      this.handlers.lost(why || 'the server closed the connection', delay);
      this.timer = setTimeout(() => this.open(), delay);
    });
  }
}
