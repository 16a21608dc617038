// /metrics kept private: behind a bearer token (401 without it, or with a wrong one of any length),
// and on a listener of its own (--metrics-host), where the public port no longer has it.
import { afterEach, describe, expect, it } from 'vitest';
import { bearerMatches } from '../../server/metrics-access.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const TOKEN = 'a-metrics-token-0123456789abcdef';

describe('bearerMatches', () => {
  it.each([
    [`Bearer ${TOKEN}`, true],
    [`bearer ${TOKEN}`, true],
    [`Bearer  ${TOKEN} `, true],
    [`Bearer ${TOKEN}x`, false],
    [`Bearer ${TOKEN.slice(0, -1)}`, false],
    ['Bearer ', false],
    [TOKEN, false],
    [`Basic ${TOKEN}`, false],
    [undefined, false],
  ])('%s -> %s', (header, ok) => {
    expect(bearerMatches(header, TOKEN)).toBe(ok);
  });
});

describe('/metrics on the real server', () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  async function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
    const s = await startServer([...args, '--log-level', 'warn'], env);
    servers.push(s);
    return s;
  }

  it('--metrics-token (here from PARLEY_METRICS_TOKEN): 401 without or with a wrong token, 200 with it', async () => {
    const s = await start([], { PARLEY_METRICS_TOKEN: TOKEN });
    const url = `http://127.0.0.1:${s.httpPort}/metrics`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await fetch(url, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    const ok = await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('parley_connections{transport="tcp"}');
    // Health stays public: probes carry no token.
    expect((await fetch(`http://127.0.0.1:${s.httpPort}/healthz`)).status).toBe(200);
  });

  it('--metrics-host: served on its own listener only; the public port answers 404', async () => {
    const s = await start(['--metrics-host', '127.0.0.1:0']);
    const port = Number(/ metrics=127\.0\.0\.1:(\d+)/.exec(s.stderr())?.[1]);
    expect(port).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('parley_connections_total');
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
  });

  it('both: the separate listener wants the token too', async () => {
    const s = await start(['--metrics-host', '127.0.0.1:0', '--metrics-token', TOKEN]);
    const port = Number(/ metrics=127\.0\.0\.1:(\d+)/.exec(s.stderr())?.[1]);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});
