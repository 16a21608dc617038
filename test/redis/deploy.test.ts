// The cluster deployment, checked as far as a machine without a Docker engine allows:
// docker-compose.yaml's cluster profile has Redis (AOF, fsync always), three nodes on it and a
// balancer whose config exists; deploy/haproxy.cfg is valid for HAProxy; and that same config, with
// the node names pointed at local processes, really balances TCP clients over three live nodes,
// stops sending them to a node that died, and lets a client of the dead node resume through it.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir, type RunningServer } from '../helpers/server.js';
import { skipUnless } from '../helpers/require.js';
import { accountTcp, type TcpClient } from '../helpers/tcp-client.js';
import { ask, node, until } from './cluster-helpers.js';
import { freePort, skipWithoutRedis, startRedis, type TestRedis } from './redis-server.js';

const compose = readFileSync(join(ROOT, 'docker-compose.yaml'), 'utf8');
const haproxyCfg = join(ROOT, 'deploy', 'haproxy.cfg');

/** The block of one service: its line and the more-indented lines under it. */
function service(name: string): string {
  const m = new RegExp(`^  ${name}:.*\\n((?:    .*\\n|\\s*\\n)*)`, 'm').exec(compose);
  if (!m) throw new Error(`docker-compose.yaml has no service ${name}`);
  return m[0];
}

function haproxyMissing(): string | undefined {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'haproxy is not installed (apt-get install haproxy)';
  }
}

describe('docker-compose.yaml cluster profile', () => {
  it('runs Redis with appendonly yes and appendfsync always, in a volume', () => {
    const redis = service('redis');
    expect(redis).toMatch(/profiles: \["cluster"\]/);
    expect(redis).toMatch(/"--appendonly", "yes"/);
    expect(redis).toMatch(/"--appendfsync", "always"/);
    expect(redis).toMatch(/- redis-data:\/data/);
    expect(compose).toMatch(/^  redis-data:$/m);
  });

  it('has three Parley nodes on that Redis, and a balancer in front of them with its config', () => {
    const first = service('parley-1');
    expect(first).toMatch(/PARLEY_REDIS: redis:\/\/redis:6379/);
    expect(first).toMatch(/profiles: \["cluster"\]/);
    expect(first).toMatch(/condition: service_healthy/);
    // The other two nodes are the same definition (a YAML alias).
    expect(first).toMatch(/^  parley-1: &node$/m);
    expect(compose).toMatch(/^  parley-2: \*node$/m);
    expect(compose).toMatch(/^  parley-3: \*node$/m);
    const lb = service('lb');
    expect(lb).toMatch(/profiles: \["cluster"\]/);
    expect(lb).toContain('./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    expect(existsSync(haproxyCfg)).toBe(true);
    for (const n of ['parley-1', 'parley-2', 'parley-3']) expect(lb).toContain(`- ${n}`);
    const cfg = readFileSync(haproxyCfg, 'utf8');
    for (const n of [1, 2, 3]) {
      expect(cfg).toContain(`server parley-${n} parley-${n}:9000 check port 8080`);
      expect(cfg).toContain(`server parley-${n} parley-${n}:8080 check`);
    }
    // The single-server service keeps the default ports; the balancer takes others.
    expect(lb).toContain('"9090:9000"');
    expect(lb).toContain('"8090:8080"');
    expect(compose).not.toMatch(/\t/);
  });

  it.skipIf(skipUnless(haproxyMissing(), 'haproxy -c'))('deploy/haproxy.cfg is a valid HAProxy configuration', () => {
    const out = execFileSync('haproxy', ['-c', '-f', haproxyCfg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toContain('Configuration file is valid');
  });
});

const skipLive = skipWithoutRedis('the balancer test') || skipUnless(haproxyMissing(), 'the balancer test');

describe.skipIf(skipLive)('deploy/haproxy.cfg in front of three local nodes', () => {
  let redis: TestRedis;
  let nodes: RunningServer[] = [];
  let lb: ReturnType<typeof spawn> | undefined;
  const clients: TcpClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    lb?.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await redis?.kill();
  });

  it('spreads clients over the nodes, stops sending them to a dead node, and a client of the dead node resumes through it', async () => {
    redis = await startRedis();
    nodes = await Promise.all([node(redis.url), node(redis.url), node(redis.url)]);
    const [tcpPort, httpPort] = [await freePort(), await freePort()];
    // The same file, with docker's names and DNS replaced by these processes (and a maxconn this
    // machine's open-file limit allows: HAProxy refuses to start otherwise).
    let cfg = readFileSync(haproxyCfg, 'utf8')
      .replace(/maxconn \d+/, 'maxconn 2000')
      .replace(/^resolvers docker[\s\S]*?\n\n/m, '')
      .replace(/ resolvers docker/g, '')
      .replace('bind :9000', `bind 127.0.0.1:${tcpPort}`)
      .replace('bind :8080', `bind 127.0.0.1:${httpPort}`)
      .replace(/inter 2s fall 2 rise 2/, 'inter 200ms fall 2 rise 1');
    nodes.forEach((n, i) => {
      cfg = cfg
        .replace(`parley-${i + 1}:9000 check port 8080`, `127.0.0.1:${n.tcpPort} check port ${n.httpPort}`)
        .replace(`parley-${i + 1}:8080 check`, `127.0.0.1:${n.httpPort} check`);
    });
    const file = join(tempDir('parley-lb-'), 'haproxy.cfg');
    writeFileSync(file, cfg);
    lb = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    await until('balancer up', async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined))?.status === 200, 10_000);

    // Nine clients through the balancer land on all three nodes (least connections).
    for (let i = 0; i < 9; i++) {
      const c = await accountTcp(tcpPort, `lb${i}`);
      clients.push(c);
      await ask(c, { type: 'join', room: 'lb', history: 0 });
    }
    const perNode = await Promise.all(nodes.map(async (n) => ((await (await fetch(`http://127.0.0.1:${n.httpPort}/healthz`)).json()) as { connections: { tcp: number } }).connections.tcp));
    expect(perNode.every((k) => k >= 2)).toBe(true);

    // Kill one node: its clients' connections drop; through the balancer they reach a live node and
    // resume from the last seq they saw.
    clients[0]!.send({ type: 'say', room: 'lb', text: 'before', id: 'b' });
    await clients[0]!.next((e) => e.re === 'b');
    // Generous: nine clients on three nodes under a loaded CI machine; it polls, so a pass costs nothing extra.
    await until('everyone has it', () => clients.every((c) => c.events.some((e) => e.type === 'message' && e.text === 'before')), 20_000);
    const victim = nodes[1]!;
    await victim.stop('SIGKILL');
    // Every client the victim had (its /healthz count before the kill) sees its connection end.
    await until('its clients cut', () => clients.filter((c) => c.socket.destroyed).length === perNode[1], 5000);
    const cut = clients.filter((c) => c.socket.destroyed);
    const alive = clients.find((c) => !c.socket.destroyed)!;
    alive.send({ type: 'say', room: 'lb', text: 'while they were away', id: 'w' });
    const { seq } = await alive.next((e) => e.re === 'w');
    for (const old of cut) {
      const name = old.events.find((e) => e.type === 'welcome')?.name as string;
      const last = Math.max(...old.events.filter((e) => e.type === 'message').map((e) => e.seq as number));
      // Like a real client: retry while the balancer has not yet seen that the node died (two failed
      // checks, 200 ms apart here).
      let again: TcpClient | undefined;
      for (let attempt = 0; !again && attempt < 25; attempt++) {
        again = await accountTcp(tcpPort, name).catch(async () => {
          await new Promise((r) => setTimeout(r, 200));
          return undefined;
        });
      }
      if (!again) throw new Error(`${name} could not reconnect through the balancer`);
      clients.push(again);
      again.send({ type: 'join', room: 'lb', since: last, id: 'r' });
      const h = await again.next((e) => e.type === 'history' && e.room === 'lb');
      expect((h.messages as { seq: number; text: string }[]).map((m) => [m.seq, m.text])).toEqual([[seq, 'while they were away']]);
    }
    const survivors = nodes.filter((n) => n !== victim);
    const afterCounts = await Promise.all(survivors.map(async (n) => ((await (await fetch(`http://127.0.0.1:${n.httpPort}/healthz`)).json()) as { connections: { tcp: number } }).connections.tcp));
    expect(afterCounts.reduce((x, y) => x + y, 0)).toBe(9);
  }, 60_000);
});
