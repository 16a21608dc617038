// The reconnect policy both clients share, so a restarted server sees every kind of client come back
// the same way: exponential growth with full jitter between a floor and a cap. Full jitter spreads a
// crowd of clients that lost the server at the same moment over the whole window instead of
// bunching them at the same instants. Browser-safe: no Node imports.

export interface BackoffOptions {
  /** The shortest wait, and the unit the window grows from. */
  floorMs?: number;
  /** The window never grows past this. */
  capMs?: number;
  /** A connection that stayed up this long counts as healthy: the next loss starts from the floor. */
  stableMs?: number;
  /** Uniform in [0, 1); injected by tests. */
  random?: () => number;
  /** Milliseconds; injected by tests. */
  now?: () => number;
}

export const BACKOFF_DEFAULTS = { floorMs: 500, capMs: 15_000, stableMs: 10_000 } as const;

export class Backoff {
  private readonly floorMs: number;
  private readonly capMs: number;
  private readonly stableMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  /** Consecutive waits since the last healthy connection. */
  private failures = 0;
  private upSince: number | undefined;

  constructor(opts: BackoffOptions = {}) {
    this.floorMs = opts.floorMs ?? BACKOFF_DEFAULTS.floorMs;
    this.capMs = Math.max(this.floorMs, opts.capMs ?? BACKOFF_DEFAULTS.capMs);
    this.stableMs = opts.stableMs ?? BACKOFF_DEFAULTS.stableMs;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
  }

  /** Waits handed out since the last healthy connection. */
  get attempts(): number {
    return this.failures;
  }

  /** A connection opened. Whether it resets the back-off is decided when it ends, by how long it lasted. */
  up(): void {
    this.upSince = this.now();
  }

  /**
   * The connection ended or an attempt failed: how long to wait before the next attempt. A connection
   * that dropped straight after opening (a server accepting and closing, a refused hello) does not
   * reset the growth, otherwise such a server would be hammered at the floor rate forever.
   */
  down(): number {
    if (this.upSince !== undefined && this.now() - this.upSince >= this.stableMs) this.failures = 0;
    this.upSince = undefined;
    // The window doubles per failure: [floor, 2 floor], [floor, 4 floor], ... up to [floor, cap].
    // Capping the exponent keeps 2 ** n finite however long the server stays away.
    const ceiling = Math.min(this.capMs, this.floorMs * 2 ** Math.min(this.failures + 1, 40));
    this.failures++;
    return Math.round(this.floorMs + this.random() * (ceiling - this.floorMs));
  }
}
