// Rate limits per sender, one token bucket per cost class of the command table (dispatcher.ts). An
// account's sessions share its buckets (a second device is not a second allowance); a guest's are its
// connection's. Addresses are never limited here, so people behind one NAT do not throttle each other
// (connections and failed logins are limited per address elsewhere). The defaults are far above what
// a person typing does and far below what a script flooding does.
import type { Cost } from './dispatcher.js';

export interface BucketSpec {
  /** Tokens added per second (sustained rate). */
  perSecond: number;
  /** Bucket size: the burst allowed after a quiet spell. */
  burst: number;
}

/** The command classes, and `create`: rooms one sender may bring into being. */
export type RateLimitSettings = Record<Exclude<Cost, 'free' | 'login' | 'typing'> | 'create', BucketSpec>;

export function defaultRateLimits(messagesPerSecond = 10): RateLimitSettings {
  return {
    message: { perSecond: messagesPerSecond, burst: messagesPerSecond * 3 },
    join: { perSecond: 5, burst: 20 },
    read: { perSecond: 20, burst: 60 },
    // Ten new rooms at once, then one every six minutes: ten an hour.
    create: { perSecond: 10 / 3600, burst: 10 },
  };
}

/** Refusals in a row after which the sender is cut off: it is not reading its errors. */
export const MAX_REFUSALS_IN_A_ROW = 50;

class Bucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly spec: BucketSpec,
    now: number,
  ) {
    this.tokens = spec.burst;
    this.last = now;
  }

  /** Takes one token; returns 0, or the milliseconds until one is available. */
  take(now: number): number {
    this.tokens = Math.min(this.spec.burst, this.tokens + ((now - this.last) / 1000) * this.spec.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.spec.perSecond) * 1000);
  }
}

/** One sender's buckets, made on first use of each class. */
export class Allowance {
  private readonly buckets = new Map<string, Bucket>();
  refusedInARow = 0;

  constructor(private readonly settings: RateLimitSettings) {}

  /** 0 when the request may go ahead, else milliseconds to wait. */
  take(cost: Cost | 'create', now = Date.now()): number {
    if (cost === 'free' || cost === 'login' || cost === 'typing') return 0;
    let b = this.buckets.get(cost);
    if (!b) this.buckets.set(cost, (b = new Bucket(this.settings[cost], now)));
    const wait = b.take(now);
    this.refusedInARow = wait > 0 ? this.refusedInARow + 1 : 0;
    return wait;
  }
}

/** Hands out allowances: per account (shared by its sessions), per connection for guests. */
export class RateLimiter {
  private readonly byAccount = new Map<string, { allowance: Allowance; sessions: number }>();

  constructor(private readonly settings: RateLimitSettings) {}

  /** The allowance a registered session spends from. */
  allowance(holder: { account: boolean; key: string | undefined; allowance: Allowance | undefined }): Allowance {
    if (holder.account && holder.key !== undefined) {
      const entry = this.byAccount.get(holder.key);
      if (entry) return entry.allowance;
    }
    return (holder.allowance ??= new Allowance(this.settings));
  }

  /** An account session began: it shares the account's allowance (made from the session's own if first). */
  joined(holder: { account: boolean; key: string | undefined; allowance: Allowance | undefined }): void {
    if (!holder.account || holder.key === undefined) return;
    const entry = this.byAccount.get(holder.key);
    if (entry) entry.sessions++;
    else this.byAccount.set(holder.key, { allowance: holder.allowance ?? new Allowance(this.settings), sessions: 1 });
    holder.allowance = undefined;
  }

  /** An account session ended: the last one takes the shared allowance with it. */
  left(holder: { account: boolean; key: string | undefined }): void {
    if (!holder.account || holder.key === undefined) return;
    const entry = this.byAccount.get(holder.key);
    if (entry && --entry.sessions <= 0) this.byAccount.delete(holder.key);
  }
}
