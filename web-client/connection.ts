// One WebSocket to /ws that comes back by itself: the shared back-off of protocol/backoff.ts (so a
// restarted server is not hit by every browser at once), and an immediate retry when the browser says
// it is online again. The page's keepalive (app.ts) notices a silently dead connection.
import { Backoff } from '../protocol/backoff.js';
import type { Request, ServerEvent } from '../protocol/messages.js';
import { parseEvent } from '../protocol/validate.js';

export type Status =
  | { state: 'connecting'; attempt: number }
  | { state: 'open' }
  | { state: 'waiting'; retryAt: number; attempt: number }
  | { state: 'stopped'; reason: string };

export interface ConnectionHandlers {
  open(): void;
  event(ev: ServerEvent): void;
  closed(): void;
  status(s: Status): void;
}

export class Connection {
  private ws: WebSocket | undefined;
  /** Attempts since the last open socket, for the status line. */
  private attempt = 0;
  private readonly backoff = new Backoff();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly h: ConnectionHandlers,
  ) {
    // A laptop waking up or a phone regaining signal should not sit out the rest of a long backoff.
    addEventListener('online', () => this.retryNow());
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  send(req: Request): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(req));
  }

  retryNow(): void {
    if (this.stopped || this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.open();
  }

  /** Closes the current socket so the usual reconnect path runs (used when a keepalive goes unanswered). */
  drop(): void {
    this.ws?.close();
  }

  /** Closes the connection and stays away until start(): the page is waiting for the person. */
  idle(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.ws?.close(1000);
  }

  /** Not stopped or idle: connected, connecting, or waiting to retry. */
  get running(): boolean {
    return !this.stopped;
  }

  /** Gives up for good, e.g. after a fatal protocol error that a retry cannot fix. */
  stop(reason: string): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.ws?.close(1000);
    this.h.status({ state: 'stopped', reason });
  }

  private open(): void {
    this.attempt++;
    this.h.status({ state: 'connecting', attempt: this.attempt });
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.backoff.up();
      this.h.status({ state: 'open' });
      this.h.open();
    });
    ws.addEventListener('message', (e: MessageEvent) => {
      if (this.ws !== ws || typeof e.data !== 'string') return;
      const ev = parseEvent(e.data);
      if (ev) this.h.event(ev);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.h.closed();
      if (!this.stopped) this.schedule();
    });
  }

  private schedule(): void {
    const delay = this.backoff.down();
    this.h.status({ state: 'waiting', retryAt: Date.now() + delay, attempt: this.attempt });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.open();
    }, delay);
  }
}
