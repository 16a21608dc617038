// `make run-web` (scripts/run-web.mjs): with a Parley server already on the HTTP port it says where and
// starts nothing; without one it starts a server and prints the URL.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, startServer } from '../helpers/server.js';

const SCRIPT = join(ROOT, 'scripts', 'run-web.mjs');

function runWeb(args: string[], env: NodeJS.ProcessEnv = {}): { out: () => string; exited: Promise<number | null>; kill: () => void } {
  const proc = spawn(process.execPath, [SCRIPT, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { out: () => out, exited, kill: () => proc.kill('SIGTERM') };
}

describe('make run-web', () => {
  it('does not start a second server when one already answers on the HTTP port', async () => {
    const server = await startServer();
    try {
      const r = runWeb([], { PARLEY_HTTP_PORT: String(server.httpPort) });
      expect(await r.exited).toBe(0);
      expect(r.out()).toContain(`already runs on port ${server.httpPort}: open http://localhost:${server.httpPort}/`);
      expect(r.out()).not.toMatch(/parley listening/);
    } finally {
      await server.stop();
    }
  });

  it('starts a server and prints the URL when none runs', async () => {
    const probe = await startServer();
    const port = probe.httpPort;
    await probe.stop();
    const r = runWeb(['--http-port', String(port), '--tcp-port', '0', '--irc-port', '0', '--irc-tls-port', '0', '--memory', '--host', '127.0.0.1']);
    try {
      await expect.poll(() => r.out(), { timeout: 15_000 }).toMatch(/parley listening/);
      expect(r.out()).toContain(`Parley web client: http://localhost:${port}/`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      r.kill();
      await r.exited;
    }
  });
});
