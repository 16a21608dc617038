// The liveness sweep on its own: the rules (one ping per quiet spell, give up after the idle timeout,
// the member's own check every pass) driven by explicit clocks, and the one shared timer per setting
// driven by the real clock.
import { describe, expect, it, vi } from 'vitest';
import { livenessSweep, LivenessSweep, sweepPeriodMs, type LivenessMember } from '../../server/ws/liveness.js';

class FakeMember implements LivenessMember {
  pinged = false;
  pings = 0;
  timeouts: number[] = [];
  checks = 0;
  constructor(
    public lastHeard: number,
    private readonly onCheck?: () => void,
  ) {}
  livenessPing(): void {
    this.pings++;
  }
  livenessTimeout(silentMs: number): void {
    this.timeouts.push(silentMs);
  }
  livenessCheck(): void {
    this.checks++;
    this.onCheck?.();
  }
  /** What a connection does when bytes arrive. */
  heard(now: number): void {
    this.lastHeard = now;
    this.pinged = false;
  }
}

describe('LivenessSweep rules', () => {
  it('pings once per quiet spell, again after the peer is heard, and gives up at the idle timeout', () => {
    const sweep = new LivenessSweep(100, 500);
    const m = new FakeMember(0);
    sweep.add(m);
    try {
      sweep.run(99);
      expect(m.pings).toBe(0);
      sweep.run(100);
      sweep.run(200);
      sweep.run(300);
      expect(m.pings).toBe(1);
      m.heard(300);
      sweep.run(399);
      expect(m.pings).toBe(1);
      sweep.run(400);
      expect(m.pings).toBe(2);
      expect(m.timeouts).toEqual([]);
      sweep.run(810);
      expect(m.timeouts).toEqual([510]);
      // It has left the sweep: nothing more happens to it.
      expect(sweep.size).toBe(0);
      sweep.run(5000);
      expect(m.timeouts).toEqual([510]);
    } finally {
      sweep.delete(m);
    }
  });

  it("runs the member's own check on every pass, and does not ping a member the check removed", () => {
    const sweep = new LivenessSweep(100, 500);
    const kept = new FakeMember(0);
    const cut: FakeMember = new FakeMember(0, () => sweep.delete(cut));
    sweep.add(kept);
    sweep.add(cut);
    try {
      sweep.run(50);
      sweep.run(150);
      expect(kept.checks).toBe(2);
      expect(kept.pings).toBe(1);
      expect(cut.checks).toBe(1);
      expect(cut.pings).toBe(0);
      expect(sweep.size).toBe(1);
    } finally {
      sweep.delete(kept);
    }
  });
});

describe('livenessSweep timer', () => {
  it('one sweep and one timer per setting, whatever kind of connection joins it; stopped when empty', async () => {
    const a = livenessSweep(40, 120);
    expect(livenessSweep(40, 120)).toBe(a);
    expect(livenessSweep(40, 121)).not.toBe(a);
    expect(a.periodMs).toBe(sweepPeriodMs(40, 120));
    expect(a.periodMs).toBe(10);
    const t0 = Date.now();
    // Two unrelated member types: the sweep only knows the interface.
    const first = new FakeMember(t0);
    const second = { ...new FakeMember(t0), livenessPing: vi.fn(), livenessTimeout: vi.fn() };
    a.add(first);
    a.add(second);
    expect(a.running).toBe(true);
    await vi.waitFor(() => expect(first.pings).toBe(1), { timeout: 2000, interval: 5 });
    await vi.waitFor(() => expect(second.livenessTimeout).toHaveBeenCalledTimes(1), { timeout: 2000, interval: 5 });
    await vi.waitFor(() => expect(first.timeouts.length).toBe(1), { timeout: 2000, interval: 5 });
    // Never early: the idle timeout had passed when it fired.
    expect(first.timeouts[0]).toBeGreaterThanOrEqual(120);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(120);
    expect(a.size).toBe(0);
    expect(a.running).toBe(false);
  });
});
