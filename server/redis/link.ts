// One TCP connection to Redis that keeps itself up: connect, log in (AUTH user password, SELECT db,
// CLIENT SETNAME), hand every decoded reply to its owner, and when the connection drops reconnect
// with exponential back-off capped at 2 s (with jitter, so a fleet does not reconnect in step). The
// command client and the subscriber each own one: a subscribed connection can run no other command.
import { connect, type Socket } from 'node:net';
import type { Logger } from '../log.js';
import { encodeCommand, RespDecoder, RespError, type RespValue } from './resp.js';
import { describeTarget, type RedisTarget } from './url.js';

export interface LinkOwner {
  /** A reply (or a pushed message) after the handshake. */
  value(v: RespValue): void;
  /** Logged in and selected: commands may be written. */
  up(): void;
  /** The connection is gone (every reply still owed is lost); a reconnect is scheduled unless closed. */
  down(reason: string): void;
}

export interface LinkOptions {
  target: RedisTarget;
  /** CLIENT SETNAME, so `CLIENT LIST` shows who is who. */
  name: string;
  log: Logger;
  connectTimeoutMs?: number;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
  /** More commands for the login sequence of every connection (e.g. SCRIPT LOAD), answered before `up`. */
  handshake?: () => (string | number)[][];
}

const FIRST_BACKOFF_MS = 50;

export class Link {
  private socket: Socket | undefined;
  private handshake = 0;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private corked = false;
  /** Why the current connection is being dropped, when we drop it. */
  private why: string | undefined;
  ready = false;

  constructor(
    private readonly opts: LinkOptions,
    private readonly owner: LinkOwner,
  ) {}

  start(): void {
    if (!this.closed && !this.socket && !this.retryTimer) this.open();
  }

  /** Writes one command. The caller has checked `ready`. Writes of one tick leave in one packet. */
  write(args: readonly (string | number | Buffer)[]): void {
    const s = this.socket;
    if (!s) return;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(() => {
        this.corked = false;
        s.uncork();
      });
    }
    s.write(encodeCommand(args));
  }

  /**
   * Drops the connection (a reconnect follows): for a stuck server or a broken reply stream. With an
   * RST, not a FIN: the kernel then discards what it has not yet delivered, so a command we have just
   * refused cannot reach Redis later, when a cut network heals, and be run after all.
   */
  reset(reason: string): void {
    const s = this.socket;
    if (!s) return;
    this.why = reason;
    if (s.readyState === 'open') s.resetAndDestroy();
    else s.destroy();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.socket?.destroy();
  }

  private open(): void {
    const { target } = this.opts;
    const socket = connect({ host: target.host, port: target.port });
    this.socket = socket;
    this.ready = false;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.opts.connectTimeoutMs ?? 2000);
    let why = 'connection closed';
    this.why = undefined;
    const decoder = new RespDecoder((v) => this.received(v));
    socket.on('connect', () => {
      clearTimeout(timer);
      const steps: (string | number)[][] = [];
      if (target.password !== undefined) steps.push(target.user === undefined ? ['AUTH', target.password] : ['AUTH', target.user, target.password]);
      if (target.db !== 0) steps.push(['SELECT', target.db]);
      steps.push(['CLIENT', 'SETNAME', this.opts.name]);
      steps.push(...(this.opts.handshake?.() ?? []));
      this.handshake = steps.length;
      for (const s of steps) this.write(s);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', (err) => {
      why = err.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (this.socket !== socket) return;
      this.socket = undefined;
      const wasReady = this.ready;
      this.ready = false;
      why = this.why ?? why;
      if (wasReady) this.opts.log.warn(`redis ${this.opts.name}: lost ${describeTarget(target)}: ${why}`);
      this.owner.down(why);
      if (this.closed) return;
      const cap = this.opts.maxBackoffMs ?? 2000;
      const delay = Math.min(cap, FIRST_BACKOFF_MS * 2 ** this.attempt++);
      this.retryTimer = setTimeout(
        () => {
          this.retryTimer = undefined;
          if (!this.closed) this.open();
        },
        delay / 2 + Math.random() * (delay / 2),
      );
      this.retryTimer.unref();
    });
  }

  private received(v: RespValue): void {
    if (this.handshake > 0) {
      this.handshake--;
      if (v instanceof RespError) {
        this.opts.log.error(`redis ${this.opts.name}: ${describeTarget(this.opts.target)} refused the login: ${v.message}`);
        this.reset(`login refused: ${v.message}`);
        return;
      }
      if (this.handshake === 0) {
        this.ready = true;
        this.attempt = 0;
        this.opts.log.info(`redis ${this.opts.name}: connected to ${describeTarget(this.opts.target)}`);
        this.owner.up();
      }
      return;
    }
    this.owner.value(v);
  }
}
