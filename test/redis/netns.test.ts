// Two nodes on separate network namespaces (other machines, as far as the kernel is concerned), Redis
// in a third, clients in a fourth: messages cross real interfaces between nodes. Then a network
// partition cuts one node off from Redis (no FIN, no RST: packets just stop) while its clients stay
// connected to it: its says are answered `unavailable` within seconds, its /healthz says degraded,
// the other node purges its users; when the network heals it reconnects, claims its sessions again,
// resubscribes and refills, so its members get what was said meanwhile, once and in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { netnsUnavailable } from '../helpers/netns.js';
import { skipUnless } from '../helpers/require.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { createClusterLan, forward, sock, type ClusterLan } from './cluster-lan.js';
import { ask, until } from './cluster-helpers.js';
import { redisMissing } from './redis-server.js';

const skip = skipUnless(netnsUnavailable() ?? redisMissing(), 'cluster over network namespaces');

function healthStatus(path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath: path, path: '/healthz', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

describe.skipIf(skip)('cluster across network namespaces', () => {
  let lan: ClusterLan | undefined;
  let redis: ChildProcess | undefined;
  let forwarder: ChildProcess | undefined;
  const nodes: RunningServer[] = [];
  const clients: TcpClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    forwarder?.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    if (redis && redis.exitCode === null) {
      const gone = new Promise((r) => redis!.once('exit', r));
      redis.kill('SIGKILL');
      await gone;
    }
    lan?.destroy();
  });

  it('messages cross real interfaces; a node partitioned from Redis degrades, and after healing its members get everything once, in order', async () => {
    lan = createClusterLan(2);
    redis = spawn('ip', ['netns', 'exec', lan.redisNs, 'redis-server', '--port', '6379', '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    for (const [i, n] of lan.nodes.entries()) {
      nodes[i] = await startServer(['--redis', `redis://${n.redisAddress}:6379`, '--host', '0.0.0.0', '--log-level', 'warn'], {}, { prefix: ['ip', 'netns', 'exec', n.ns] }).catch(
        async (err: Error) => {
          // Redis in its namespace may take a moment: the node refuses to start without it.
          await new Promise((r) => setTimeout(r, 500));
          if (String(err.message).includes('cannot reach Redis')) return startServer(['--redis', `redis://${n.redisAddress}:6379`, '--host', '0.0.0.0', '--log-level', 'warn'], {}, { prefix: ['ip', 'netns', 'exec', n.ns] });
          throw err;
        },
      );
    }
    const routes: Record<string, string> = {};
    lan.nodes.forEach((n, i) => {
      routes[`n${i}`] = `${n.clientAddress}:${nodes[i]!.tcpPort}`;
      routes[`h${i}`] = `${n.clientAddress}:${nodes[i]!.httpPort}`;
    });
    forwarder = await forward(lan.clientNs, lan.dir, routes);

    const alice = await helloTcp({ path: sock(lan.dir, 'n0') }, 'alice');
    const bob = await helloTcp({ path: sock(lan.dir, 'n1') }, 'bob');
    clients.push(alice, bob);
    for (const c of [alice, bob]) await ask(c, { type: 'join', room: 'lan', history: 0 });
    expect((await ask(alice, { type: 'say', room: 'lan', text: 'over the wire' })).seq).toBe(1);
    await bob.next((e) => e.type === 'message' && e.text === 'over the wire');

    // Partition: node 1 loses Redis; its clients keep their connections to it.
    lan.partition(1, true);
    const t0 = Date.now();
    const refused = await ask(bob, { type: 'say', room: 'lan', text: 'into the cut' }, 10_000);
    expect(refused).toMatchObject({ type: 'error', code: 'unavailable' });
    expect(Date.now() - t0).toBeLessThan(5000);
    await until('node 1 degraded', async () => (await healthStatus(sock(lan!.dir, 'h1'))) === 503, 10_000);
    const during = ['during 1', 'during 2', 'during 3'];
    for (const text of during) expect((await ask(alice, { type: 'say', room: 'lan', text })).type).toBe('ack');
    // Node 0 stops counting node 1 once its heartbeat lapses: bob left, as far as the cluster knows.
    await alice.next((e) => e.type === 'left' && e.name === 'bob', 16_000);
    expect(bob.events.some((e) => e.type === 'message' && during.includes(e.text as string))).toBe(false);

    // Heal: node 1 reconnects, claims bob again, resubscribes and refills.
    lan.partition(1, false);
    await until('node 1 healthy', async () => (await healthStatus(sock(lan!.dir, 'h1'))) === 200, 15_000);
    // Polled for up to 20 s: it timed out at 10 s once with the machine's load at 22 (it passes in ~1 s otherwise).
    await until('bob got what was said meanwhile', () => during.every((t) => bob.events.some((e) => e.type === 'message' && e.text === t)), 20_000);
    // The say refused during the cut was never stored: the node dropped its connection with an RST,
    // so the kernel did not deliver the queued command once the network came back.
    const seen = bob.events.filter((e) => e.type === 'message' && e.room === 'lan').map((e) => [e.seq, e.text]);
    expect(seen).toEqual([
      [1, 'over the wire'],
      [2, 'during 1'],
      [3, 'during 2'],
      [4, 'during 3'],
    ]);
    await until('bob is back in the room', async () => ((await ask(alice, { type: 'who', room: 'lan' })).users as { name: string }[]).some((u) => u.name === 'bob'), 10_000);
    const { connectTcp } = await import('../helpers/tcp-client.js');
    const twin = await connectTcp({ path: sock(lan.dir, 'n0') });
    clients.push(twin);
    expect((await ask(twin, { type: 'hello', name: 'bob' })).code).toBe('name_taken');
    expect((await ask(bob, { type: 'say', room: 'lan', text: 'back' })).seq).toBe(5);
    await alice.next((e) => e.type === 'message' && e.text === 'back');
  }, 90_000);
});
