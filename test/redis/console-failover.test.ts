// The console client given a cluster's nodes (--servers): it skips a node that does not answer, and
// when its node goes away it reconnects to the next one, rejoins and carries on, with what it says
// reaching members on every node.
import { afterAll, describe, expect, it } from 'vitest';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import type { RunningServer } from '../helpers/server.js';
import { helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { ask, node, until } from './cluster-helpers.js';
import { freePort, skipWithoutRedis, startRedis, type TestRedis } from './redis-server.js';

const skip = skipWithoutRedis('console client against a cluster');

describe.skipIf(skip)('console client with --servers', () => {
  let redis: TestRedis;
  const nodes: RunningServer[] = [];
  let consoleProc: ConsoleProc | undefined;
  let watcher: TcpClient | undefined;
  afterAll(async () => {
    consoleProc?.proc.kill('SIGKILL');
    watcher?.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await redis?.kill();
  });

  it('skips a dead address, fails over when its node stops, and keeps talking to the room', async () => {
    redis = await startRedis();
    nodes.push(...(await Promise.all([node(redis.url), node(redis.url)])));
    const [a, b] = nodes as [RunningServer, RunningServer];
    const dead = await freePort();
    watcher = await helloTcp(b.tcpPort, 'watcher');
    await ask(watcher, { type: 'join', room: 'general', history: 0 });
    consoleProc = runConsole(['--name', 'carol', '--servers', `127.0.0.1:${dead},127.0.0.1:${a.tcpPort},127.0.0.1:${b.tcpPort}`, '--room', 'general']);
    await consoleProc.waitFor(new RegExp(`connected to 127\\.0\\.0\\.1:${a.tcpPort} as carol`));
    consoleProc.type('first');
    await watcher.next((e) => e.type === 'message' && e.text === 'first' && e.from === 'carol');
    // Its node shuts down: the console moves on to the next address in the list.
    await a.stop('SIGTERM');
    await consoleProc.waitFor(new RegExp(`connected to 127\\.0\\.0\\.1:${b.tcpPort} as carol`), 15_000);
    consoleProc.type('second');
    await watcher.next((e) => e.type === 'message' && e.text === 'second' && e.from === 'carol');
    expect(await consoleProc.end()).toBe(0);
    await until('watcher saw both once', () => watcher!.events.filter((e) => e.type === 'message' && e.from === 'carol').length === 2);
  }, 60_000);
});
