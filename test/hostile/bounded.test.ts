// Issue 11, point 5: one hostile client must not be able to make the server hold hundreds of
// megabytes, or stall everyone else. Each attack runs on real sockets against a fresh server while a
// canary user in another room keeps saying something; the server's RSS (VmRSS from /proc, the machine's
// view) may grow by at most 200 MB, and every canary say must be acked within 5 s, during the attack
// and after it. The bounds are generous on purpose, so a busy machine cannot make this flake; the tight
// targets (+64 MB, p99 < 50 ms) are the benchmark's (bench/attacks.ts, docs/benchmarks.md).
//
// The attack code is bench/attacks.ts, shared with the benchmark; some are scaled down here so the
// file stays under 90 s (see the comments on each row).
import { afterEach, describe, expect, it } from 'vitest';
import {
  Canary,
  historyFlood,
  joinSinceFlood,
  runAttack,
  sayFlood,
  tcpOneByte,
  whoFlood,
  wsFragments,
  type Attack,
  type AttackResult,
} from '../../bench/attacks.js';
import { commonFlags, isAlive, startServer, stopHard, type RunningServer } from './helpers/hostile-server.js';

const GROWTH_BOUND_MB = 200;
const CANARY_BOUND_MS = 5000;

const ROWS: { attack: Attack; budgetMs: number }[] = [
  // Today: ~+700-750 MB, and the event loop stalls for 10+ s building 1,200 pages of 1,000 messages.
  { attack: historyFlood(), budgetMs: 30_000 },
  // Today: ~+330 MB, 100 copies of 5,000 messages queued for a reader that never reads; ~9 s stall.
  { attack: joinSinceFlood(), budgetMs: 25_000 },
  // The benchmark's 300 x 20,000 users as 600 x 10,000: the same bytes queued and the same stall, in
  // half the set-up (20,000 connects take ~7 s on a quiet machine, and over 45 s on a busy one).
  // Today: a ~14 s stall, ~+180-290 MB within this test's 6 s hold.
  { attack: whoFlood({ users: 10_000, requests: 600 }), budgetMs: 40_000 },
  // Today: ~8.6 MB of bookkeeping per connection for 65 KB of message, ~+250 MB for 30 (30 rather
  // than 20 connections so that today's cost crosses the generous bound).
  { attack: wsFragments(), budgetMs: 20_000 },
  // Scaled to 10 x 30 KB (one-byte writes cost this process ~20 µs each): ~+30 MB today, so this row
  // guards against a per-piece cost gone badly wrong; the benchmark runs 20 x 60 KB against +64 MB.
  { attack: tcpOneByte({ connections: 10, lineBytes: 30_000 }), budgetMs: 20_000 },
  // Today: cut as a slow consumer after ~125,000 says, ~+70 MB; the canary waits up to ~0.6 s.
  { attack: sayFlood(), budgetMs: 20_000 },
];

let server: RunningServer | undefined;
let canary: Canary | undefined;
afterEach(async () => {
  canary?.close();
  canary = undefined;
  // Killed rather than shut down: graceful shutdown is not under test, and a stalled server would
  // spend seconds of this file's budget before it even saw the signal.
  await stopHard(server, 500);
  server = undefined;
});

const mb = (kb: number): number => Math.round(kb / 1024);

function describeResult(r: AttackResult): string {
  return (
    `${r.name}: RSS ${mb(r.rssBeforeKB)} -> peak ${mb(r.rssPeakKB)} MB (+${mb(r.rssPeakKB - r.rssBeforeKB)}), ` +
    `canary p50 ${Math.round(r.canary.p50Ms)} / max ${Math.round(r.canary.maxMs)} ms over ${r.canary.sent} says (${r.canary.outstanding} unacked), ` +
    `served after: ${r.servedAfter}, alive: ${r.serverAlive}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`
  );
}

describe('hostile clients cannot make the server grow or stall', () => {
  it.each(ROWS.map((r) => [r.attack.name, r] as const))(
    '%s: RSS +200 MB at most, canary in another room acked within 5 s',
    async (_name, { attack, budgetMs }) => {
      const deadline = Date.now() + budgetMs;
      server = await startServer([...commonFlags(), ...attack.flags]);
      const srv = server;
      const target = { tcpPort: srv.tcpPort, httpPort: srv.httpPort, pid: srv.proc.pid! };
      await attack.setup?.(target, deadline);
      canary = await Canary.connect(srv.tcpPort);
      await canary.roundTrip(CANARY_BOUND_MS);
      const r = await runAttack(attack, target, canary, () => isAlive(srv), {
        launchMs: Math.max(1000, deadline - Date.now() - 8000),
        holdMaxMs: 6000,
        quietMs: 1000,
        afterMaxMs: 0,
        canaryEveryMs: 100,
      });
      // One line per attack in the output: the figures are what the lead compares after the rewrite.
      console.log(describeResult(r));
      expect.soft(r.serverAlive, `the server exited:\n${srv.stderr().slice(-2000)}`).toBe(true);
      expect.soft(mb(r.rssPeakKB - r.rssBeforeKB), 'server RSS growth (MB)').toBeLessThanOrEqual(GROWTH_BOUND_MB);
      expect.soft(Math.round(r.canary.maxMs), 'slowest canary say->ack during the attack (ms; unacked says count at their age)').toBeLessThan(CANARY_BOUND_MS);
      expect.soft(r.servedAfter, 'a canary say after the attackers left was acked within 5 s').toBe(true);
    },
    60_000,
  );
});
