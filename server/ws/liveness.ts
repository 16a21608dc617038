// Liveness for many connections with one timer per setting: a connection only notes when it last
// heard from its peer (a Date.now() per received chunk, no timer calls), and a sweep a few times per
// interval works out whom to ping and whom to give up on. A timer per connection (a Timeout, its
// callback and its context) would cost an idle connection more than the rest of its state.
//
// It knows nothing of WebSocket or of any wire format: a member says how it pings and how it gives
// up, so a WebSocket connection (a ping frame, a 1001 close) and a TCP line connection (a ping event,
// an idle_timeout error) share one sweep when they share a setting.

/** What the sweep asks of a connection. Methods, not callbacks: the member is the connection itself. */
export interface LivenessMember {
  /** Date.now() when bytes last arrived from the peer; the member sets it on every read. */
  lastHeard: number;
  /** Whether a ping went out since the peer was last heard: one ping per quiet spell. The member clears it on every read. */
  pinged: boolean;
  /** Quiet for pingIntervalMs: ask the peer for a sign of life. */
  livenessPing(): void;
  /** Silent for idleTimeoutMs: give up on the peer. The member has already left the sweep. */
  livenessTimeout(silentMs: number): void;
  /** Every sweep, for the member's own periodic check (the send-buffer bound). May leave the sweep. */
  livenessCheck?(): void;
}

export class LivenessSweep {
  private readonly members = new Set<LivenessMember>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pingIntervalMs: number,
    readonly idleTimeoutMs: number,
  ) {}

  /** How often the sweep runs while it has members. */
  get periodMs(): number {
    return sweepPeriodMs(this.pingIntervalMs, this.idleTimeoutMs);
  }

  get size(): number {
    return this.members.size;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  add(member: LivenessMember): void {
    this.members.add(member);
    if (!this.timer) {
      this.timer = setInterval(LivenessSweep.tick, this.periodMs, this);
      this.timer.unref();
    }
  }

  /** Idempotent: a connection may leave on close and again on its socket's 'close'. */
  delete(member: LivenessMember): void {
    if (this.members.delete(member) && this.members.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** One pass over the members; the timer calls it, tests may too. */
  run(now = Date.now()): void {
    // A member that leaves during the pass leaves the set mid-iteration, which Set iteration allows.
    for (const m of this.members) {
      const quiet = now - m.lastHeard;
      if (quiet >= this.idleTimeoutMs) {
        this.delete(m);
        m.livenessTimeout(quiet);
        continue;
      }
      m.livenessCheck?.();
      if (!m.pinged && quiet >= this.pingIntervalMs && this.members.has(m)) {
        m.pinged = true;
        m.livenessPing();
      }
    }
  }

  private static tick(sweep: LivenessSweep): void {
    sweep.run();
  }
}

/**
 * How often a sweep runs: a few times per interval, so a ping or an idle close comes at most a quarter
 * of the shorter interval late (never early). The floor keeps tiny test settings from spinning.
 */
export function sweepPeriodMs(pingIntervalMs: number, idleTimeoutMs: number): number {
  return Math.max(10, Math.min(pingIntervalMs, idleTimeoutMs) / 4);
}

/** By setting. Entries are kept when their timer stops: a server has one setting, tests a few. */
const sweeps = new Map<string, LivenessSweep>();

/** The one sweep for this setting, shared by every connection (of any transport) that uses it. */
export function livenessSweep(pingIntervalMs: number, idleTimeoutMs: number): LivenessSweep {
  const key = `${pingIntervalMs}:${idleTimeoutMs}`;
  let sweep = sweeps.get(key);
  if (!sweep) {
    sweep = new LivenessSweep(pingIntervalMs, idleTimeoutMs);
    sweeps.set(key, sweep);
  }
  return sweep;
}
