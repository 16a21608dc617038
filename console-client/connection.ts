// A TCP connection to the server that speaks JSON lines and comes back by itself: after a loss it
// retries on the shared back-off (protocol/backoff.ts), so a restarted server is not hit by every
// client at once. Given several servers (the nodes of a cluster), each new attempt after a loss goes to
// the next one in the list, so a dead node is left behind at the first retry.
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

export interface Target {
  host: string;
  port: number;
}

/** `host:port` as people write it (IPv6 in brackets). */
export function describe(t: Target): string {
  return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

export class Connection {
  private socket: Socket | undefined;
  private readonly reader = new LineReader(MAX_LINE_CHARS);
  private readonly backoff = new Backoff();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Index of the server the current (or next) attempt goes to. */
  private at = 0;
  /** Attempts since start: once every server has been tried once, `triedAll`. */
  private attempts = 0;

  constructor(
    private readonly targets: readonly Target[],
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

  /** The server of the current (or last) attempt. */
  get target(): Target {
    return this.targets[this.at]!;
  }

  /** Every server in the list has been tried at least once. */
  get triedAll(): boolean {
    return this.attempts >= this.targets.length;
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
    const { socket, ready } = this.dial(this.target.host, this.target.port);
    this.attempts++;
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
      this.at = (this.at + 1) % this.targets.length;
      this.timer = setTimeout(() => this.open(), delay);
    });
  }
}
