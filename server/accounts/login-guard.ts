// What stops password guessing and scrypt exhaustion: failed logins are counted per name and per
// address over a sliding minute, and past a threshold further attempts are refused with a retry hint
// before any hashing is done; successful logins and guest hellos are never counted. Hashing itself runs
// at most `concurrency` at a time, with a bounded queue served in order; past the queue, an attempt is
// refused at once rather than held. Every table here is bounded.

export interface LoginGuardOptions {
  /** Failures per name per window before attempts on that name are refused (default 10). */
  perName: number;
  /** Failures per address per window (default 30). */
  perAddress: number;
  windowMs: number;
  /** scrypt runs at once; the rest wait in order. */
  concurrency: number;
  /** Attempts that may wait; more are refused. */
  queue: number;
}

export const DEFAULT_LOGIN_GUARD: LoginGuardOptions = { perName: 10, perAddress: 30, windowMs: 60_000, concurrency: 2, queue: 64 };
/** Names and addresses tracked at once; the stalest are forgotten first. */
const MAX_TRACKED = 100_000;

/** Failure times of one name or address, oldest first. */
class Failures {
  private readonly times = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until another attempt is allowed, 0 when it is allowed now. */
  wait(id: string, now: number): number {
    const list = this.prune(id, now);
    if (!list || list.length < this.limit) return 0;
    return list[list.length - this.limit]! + this.windowMs - now;
  }

  add(id: string, now: number): void {
    const list = this.prune(id, now) ?? [];
    list.push(now);
    // Only the newest `limit` matter for the wait; keeping more would let one name grow without bound.
    if (list.length > this.limit) list.splice(0, list.length - this.limit);
    this.times.delete(id);
    this.times.set(id, list);
    if (this.times.size > MAX_TRACKED) this.times.delete(this.times.keys().next().value!);
  }

  private prune(id: string, now: number): number[] | undefined {
    const list = this.times.get(id);
    if (!list) return undefined;
    while (list.length > 0 && list[0]! <= now - this.windowMs) list.shift();
    if (list.length === 0) {
      this.times.delete(id);
      return undefined;
    }
    return list;
  }
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number; message: string };

export class LoginGuard {
  private readonly byName: Failures;
  private readonly byAddress: Failures;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly opts: LoginGuardOptions = DEFAULT_LOGIN_GUARD) {
    this.byName = new Failures(opts.perName, opts.windowMs);
    this.byAddress = new Failures(opts.perAddress, opts.windowMs);
  }

  /** Whether an attempt on `name` from `address` may go ahead now. */
  admit(nameKey: string, address: string, now = Date.now()): Admission {
    const wait = Math.max(this.byName.wait(nameKey, now), this.byAddress.wait(address, now));
    if (wait > 0) return { ok: false, retryAfterMs: wait, message: `too many failed logins; try again in ${Math.ceil(wait / 1000)} s` };
    if (this.running >= this.opts.concurrency && this.waiting.length >= this.opts.queue) {
      return { ok: false, retryAfterMs: 1000, message: 'the server is busy checking passwords; try again in a second' };
    }
    return { ok: true };
  }

  failed(nameKey: string, address: string, now = Date.now()): void {
    this.byName.add(nameKey, now);
    this.byAddress.add(address, now);
  }

  /** Runs password work with bounded concurrency, in arrival order. */
  async hashing<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.opts.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
