// The subscriber connection: a connection in pub/sub mode can run no other command, so it is a link
// of its own. It subscribes to its channels on every (re)connection and reports when all of them are
// confirmed: from that moment nothing published is missed, so that is when the owner refills whatever
// was published while it was away (the link may have been down, or Redis may have dropped it as a
// slow consumer, or an operator ran CLIENT KILL TYPE pubsub).
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
}

export class RedisSubscriber {
  private readonly link: Link;
  private confirmed = new Set<string>();
  private live = false;

  constructor(
    private readonly opts: SubscriberOptions,
    private readonly handlers: SubscriberHandlers,
  ) {
    this.link = new Link(
      { target: opts.target, name: opts.name, log: opts.log, maxBackoffMs: opts.maxBackoffMs },
      {
        up: () => {
          this.confirmed = new Set();
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
  }

  /** Subscribed to every channel right now. */
  get subscribed(): boolean {
    return this.live;
  }

  close(): void {
    this.link.close();
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
    } else if (kind === 'subscribe' && typeof v[1] === 'string') {
      this.confirmed.add(v[1]);
      if (!this.live && this.opts.channels.every((c) => this.confirmed.has(c))) {
        this.live = true;
        this.handlers.subscribed();
      }
    }
  }
}
