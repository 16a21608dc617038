// The subscriber connection: a connection in pub/sub mode can run no other command, so it is a link
// of its own. It subscribes to its channels on every (re)connection and reports when all of them are
// confirmed: from that moment nothing published is missed, so that is when the owner refills whatever
// was published while it was away (the link may have been down, or Redis may have dropped it as a
// slow consumer, or an operator ran CLIENT KILL TYPE pubsub).
//
// A subscriber only listens, so a dead path (a cut network: no FIN, no RST) would never show: it
// PINGs every pingMs and drops the connection when a pong is late, and the reconnect resubscribes.
import type { Logger } from '../log.js';
import { Link } from './link.js';
import { RespError, type RespValue } from './resp.js';
import type { RedisTarget } from './url.js';

export interface SubscriberHandlers {
  message(channel: string, payload: string): void;
  /** Every channel is subscribed (again): messages published from now on will arrive. */
  subscribed(): void;
  /** The subscription is gone: messages are being missed until `subscribed` is called again. */
  lost(reason: string): void;
}

export interface SubscriberOptions {
  target: RedisTarget;
  name: string;
  log: Logger;
  channels: readonly string[];
  maxBackoffMs?: number;
  /** How often the connection is checked with PING; a pong later than 1.5 times this drops it. */
  pingMs?: number;
}

export class RedisSubscriber {
  private readonly link: Link;
  private confirmed = new Set<string>();
  private live = false;
  private pingTimer: NodeJS.Timeout | undefined;
  /** When the unanswered PING was sent; 0 when none is outstanding. */
  private pingSentAt = 0;

  constructor(
    private readonly opts: SubscriberOptions,
    private readonly handlers: SubscriberHandlers,
  ) {
    this.link = new Link(
      { target: opts.target, name: opts.name, log: opts.log, maxBackoffMs: opts.maxBackoffMs },
      {
        up: () => {
          this.confirmed = new Set();
          this.pingSentAt = 0;
          this.link.write(['SUBSCRIBE', ...opts.channels]);
        },
        value: (v) => this.received(v),
        down: (reason) => {
          if (this.live) this.handlers.lost(reason);
          this.live = false;
        },
      },
    );
    this.link.start();
    const pingMs = opts.pingMs ?? 2000;
    this.pingTimer = setInterval(() => this.ping(pingMs), pingMs);
    this.pingTimer.unref();
  }

  /** Subscribed to every channel right now. */
  get subscribed(): boolean {
    return this.live;
  }

  close(): void {
    clearInterval(this.pingTimer);
    this.link.close();
  }

  private ping(pingMs: number): void {
    if (!this.link.ready) return;
    if (this.pingSentAt !== 0) {
      if (Date.now() - this.pingSentAt > pingMs * 1.5) {
        this.opts.log.warn(`redis ${this.opts.name}: no pong within ${Math.round(pingMs * 1.5)} ms; reconnecting`);
        this.link.reset('no pong');
      }
      return;
    }
    this.pingSentAt = Date.now();
    this.link.write(['PING']);
  }

  private received(v: RespValue): void {
    if (v instanceof RespError) {
      this.opts.log.error(`redis ${this.opts.name}: ${v.message}`);
      this.link.reset(v.message);
      return;
    }
    if (!Array.isArray(v) || typeof v[0] !== 'string') return;
    const kind = v[0];
    if (kind === 'message' && typeof v[1] === 'string' && typeof v[2] === 'string') {
      this.handlers.message(v[1], v[2]);
    } else if (kind === 'pong') {
      this.pingSentAt = 0;
    } else if (kind === 'subscribe' && typeof v[1] === 'string') {
      this.confirmed.add(v[1]);
      if (!this.live && this.opts.channels.every((c) => this.confirmed.has(c))) {
        this.live = true;
        this.handlers.subscribed();
      }
    }
  }
}
