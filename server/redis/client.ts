// The command connection: pipelined commands, each answered in order, so a FIFO of pending replies is
// all the bookkeeping needed. Nothing is queued while Redis is away: a command is refused at once
// (RedisUnavailable), so a `say` is answered `unavailable` instead of waiting without bound. A command
// unanswered for commandTimeoutMs drops the connection (its reply can no longer be matched to it
// otherwise) and every command in flight is refused; the link reconnects by itself.
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { Link } from './link.js';
import { RespError, type RespValue } from './resp.js';
import type { RedisTarget } from './url.js';

/** Redis could not be asked, or did not answer: the outcome of a write is unknown. */
export class RedisUnavailable extends Error {
  readonly code = 'redis_unavailable';
}

/** Redis answered with an error reply. */
export class RedisReplyError extends Error {
  constructor(readonly reply: RespError) {
    super(reply.message);
  }
  get code(): string {
    return this.reply.code;
  }
}

export interface RedisClientOptions {
  target: RedisTarget;
  name: string;
  log: Logger;
  /** A command unanswered this long drops the connection. */
  commandTimeoutMs?: number;
  /** Commands in flight at most; more are refused (RedisUnavailable). */
  maxPending?: number;
  maxBackoffMs?: number;
  connectTimeoutMs?: number;
  /** Scripts loaded on every connection before anything else is sent (see preload). */
  scripts?: readonly Script[];
}

interface Pending {
  resolve: (v: RespValue) => void;
  reject: (e: Error) => void;
  sentAt: number;
}

/** A Lua script, known by its SHA1 so it is sent in full only when Redis does not have it. */
export class Script {
  readonly sha: string;
  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

export class RedisClient {
  private readonly link: Link;
  private pending: (Pending | undefined)[] = [];
  /** Index of the first pending entry still waiting (entries before it are answered). */
  private head = 0;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private watchdog: NodeJS.Timeout | undefined;
  private readyWaiters: (() => void)[] = [];
  private upListeners: (() => void)[] = [];
  /** Scripts loaded on every connection before it is used (see preload). */
  private readonly scripts = new Map<string, Script>();

  constructor(private readonly opts: RedisClientOptions) {
    this.timeoutMs = opts.commandTimeoutMs ?? 3000;
    this.maxPending = opts.maxPending ?? 100_000;
    this.preload(opts.scripts ?? []);
    this.link = new Link(
      {
        target: opts.target,
        name: opts.name,
        log: opts.log,
        maxBackoffMs: opts.maxBackoffMs,
        connectTimeoutMs: opts.connectTimeoutMs,
        handshake: () => [...this.scripts.values()].map((s) => ['SCRIPT', 'LOAD', s.source]),
      },
      {
        value: (v) => this.reply(v),
        up: () => {
          const waiters = this.readyWaiters;
          this.readyWaiters = [];
          for (const w of waiters) w();
          for (const l of this.upListeners) l();
        },
        down: (reason) => this.failAll(reason),
      },
    );
    this.watchdog = setInterval(() => this.checkStuck(), Math.max(50, Math.floor(this.timeoutMs / 4)));
    this.watchdog.unref();
    this.link.start();
  }

  get connected(): boolean {
    return this.link.ready;
  }

  /** Commands waiting for their reply. */
  get inFlight(): number {
    return this.pending.length - this.head;
  }

  /** Called on every (re)connection once logged in. */
  onUp(listener: () => void): void {
    this.upListeners.push(listener);
  }

  /** Resolves once connected; rejects after timeoutMs. */
  ready(timeoutMs: number): Promise<void> {
    if (this.link.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new RedisUnavailable(`no connection to Redis within ${timeoutMs} ms`)), timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Sends one command; an error reply rejects with RedisReplyError. */
  command(args: readonly (string | number | Buffer)[]): Promise<RespValue> {
    if (!this.link.ready) return Promise.reject(new RedisUnavailable('not connected to Redis'));
    if (this.inFlight >= this.maxPending) return Promise.reject(new RedisUnavailable(`${this.maxPending} Redis commands already in flight`));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject, sentAt: Date.now() });
      this.link.write(args);
    });
  }

  /**
   * Scripts to load as part of every (re)connection, before any command is sent on it. Without this, a
   * Redis restart makes the first EVALSHAs fail with NOSCRIPT, and their EVAL retries could run after
   * later scripts that found the cache loaded again: two appends of one sender would swap their order.
   * Takes effect from the next connection; the current one relies on the NOSCRIPT fallback.
   */
  preload(scripts: readonly Script[]): void {
    for (const s of scripts) this.scripts.set(s.sha, s);
  }

  /** Runs a script by SHA; when Redis has not seen it (flushed by an operator), by EVAL, which loads it. */
  async eval(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<RespValue> {
    try {
      return await this.command(['EVALSHA', script.sha, keys.length, ...keys, ...args]);
    } catch (err) {
      if (!(err instanceof RedisReplyError) || err.code !== 'NOSCRIPT') throw err;
      return this.command(['EVAL', script.source, keys.length, ...keys, ...args]);
    }
  }

  close(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.link.close();
    this.failAll('client closed');
  }

  private reply(v: RespValue): void {
    const p = this.pending[this.head];
    if (!p) {
      // A reply nobody asked for: the stream is out of step, so nothing after it can be trusted.
      this.link.reset('unexpected reply');
      return;
    }
    this.pending[this.head++] = undefined;
    // Compact now and then instead of shift() per reply (O(n) each).
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    if (v instanceof RespError) p.reject(new RedisReplyError(v));
    else p.resolve(v);
  }

  private failAll(reason: string): void {
    const failed = this.pending.slice(this.head);
    this.pending = [];
    this.head = 0;
    const err = new RedisUnavailable(`Redis connection lost: ${reason}`);
    for (const p of failed) p?.reject(err);
  }

  private checkStuck(): void {
    const oldest = this.pending[this.head];
    if (oldest && Date.now() - oldest.sentAt > this.timeoutMs) {
      this.opts.log.warn(`redis ${this.opts.name}: no reply within ${this.timeoutMs} ms; reconnecting`);
      this.link.reset(`no reply within ${this.timeoutMs} ms`);
    }
  }
}

/** Reply helpers: a reply of the wrong shape is a bug or a foreign key, reported as such. */
export function asString(v: RespValue): string | null {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new Error(`expected a string reply, got ${JSON.stringify(v)}`);
}

export function asInt(v: RespValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  if (v === null) return 0;
  throw new Error(`expected an integer reply, got ${JSON.stringify(v)}`);
}

export function asArray(v: RespValue): RespValue[] {
  if (v === null) return [];
  if (Array.isArray(v)) return v;
  throw new Error(`expected an array reply, got ${JSON.stringify(v)}`);
}
