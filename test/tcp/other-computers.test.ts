// Clients on other computers: the server runs in one network namespace on its default 0.0.0.0
// binding, and console clients run in two others, each reaching it over its own veth link at a
// non-loopback address — the same path packets take between machines on a LAN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, netnsUnavailable, type Lan } from '../helpers/netns.js';
import { skipUnless } from '../helpers/require.js';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const skip = skipUnless(netnsUnavailable(), 'the "other computers" test (network namespaces)');

describe.skipIf(skip)('clients on other computers', () => {
  let lan: Lan;
  let server: RunningServer;
  const procs: ConsoleProc[] = [];

  beforeAll(async () => {
    lan = createLan(2);
    // --host 0.0.0.0 is the default; passed explicitly because the test helper defaults to loopback.
    server = await startServer(['--host', '0.0.0.0'], {}, { prefix: ['ip', 'netns', 'exec', lan.serverNs] });
  });
  afterAll(async () => {
    for (const p of procs) p.proc.kill('SIGKILL');
    await server?.stop();
    lan?.destroy();
  });

  it('two console clients on two other hosts chat both ways', async () => {
    const [pc1, pc2] = lan.hosts as [Lan['hosts'][0], Lan['hosts'][0]];
    const netns = (ns: string): { prefix: string[] } => ({ prefix: ['ip', 'netns', 'exec', ns] });
    const alice = runConsole(['--host', pc1.serverAddress, '--port', String(server.tcpPort), '--name', 'alice'], netns(pc1.ns));
    const bob = runConsole(['--host', pc2.serverAddress, '--port', String(server.tcpPort), '--name', 'bob'], netns(pc2.ns));
    procs.push(alice, bob);
    await bob.waitFor(/#general: .*bob/);
    await alice.waitFor(/bob~? joined #general|#general: .*bob/);
    alice.type('hello from pc1');
    await bob.waitFor(/<alice~?> hello from pc1/);
    bob.type('hi alice, pc2 here');
    await alice.waitFor(/<bob~?> hi alice, pc2 here/);
    // The server saw them arrive from their own hosts' addresses, not loopback.
    expect(server.stderr()).toMatch(/connect tcp 10\.\d+\.1\.2:/);
    expect(server.stderr()).toMatch(/connect tcp 10\.\d+\.2\.2:/);
    expect(await alice.end()).toBe(0);
    expect(await bob.end()).toBe(0);
  });
});
