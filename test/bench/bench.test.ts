// Runs the load tool in a tiny configuration against the real built server: proves the tool's
// accounting (delivery, loss, dup detection) is sane, not how fast anything is.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/server.js';

const BENCH_JS = join(ROOT, 'dist', 'bench', 'main.js');

interface BenchResult { connected: number; delivered: number; lost: number; dups: number; reorders: number; errors: number; error?: string; latencyUs: { p50: number; p99: number } }

function run(args: string[]): BenchResult {
  const r = spawnSync(process.execPath, [BENCH_JS, ...args], { encoding: 'utf8', timeout: 30_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as BenchResult;
}

/** Every client connected, something was delivered, and nothing was lost, doubled or reordered. */
function expectCleanRun(r: BenchResult, clients: number): void {
  expect(r.error).toBeUndefined();
  expect(r.connected).toBe(clients);
  expect(r.delivered).toBeGreaterThan(0);
  expect(r.lost).toBe(0);
  expect(r.dups).toBe(0);
  expect(r.reorders).toBe(0);
  expect(r.errors).toBe(0);
}

describe('bench tool', () => {
  it.skipIf(!existsSync(BENCH_JS))('5 TCP clients for 1 s against our server: deliveries, no loss, no dups', () => {
    const r = run(['--server', 'ours', '--transport', 'tcp', '--clients', '5', '--senders', '2', '--duration', '1', '--warmup', '0.2']);
    expectCleanRun(r, 5);
    expect(r.latencyUs.p99).toBeGreaterThanOrEqual(r.latencyUs.p50);
  }, 40_000);

  it.skipIf(!existsSync(BENCH_JS))('the floor server carries the same load over TCP and WebSocket: it is a fair peer', () => {
    const r = run(['--server', 'floor', '--transport', 'both', '--clients', '6', '--rooms', '2', '--senders', '4', '--rate', '200', '--duration', '1', '--warmup', '0.2']);
    expectCleanRun(r, 6);
  }, 40_000);
});
