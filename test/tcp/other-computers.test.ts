// Clients on other computers: the server runs in one network namespace on its default 0.0.0.0
// binding, and console clients run in two others, each reaching it over its own veth link at a
// non-loopback address — the same path packets take between machines on a LAN.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, netnsUnavailable, type Lan } from '../helpers/netns.js';
import { skipUnless } from '../helpers/require.js';
import { CONSOLE_JS, startServer, type RunningServer } from '../helpers/server.js';

const skip = skipUnless(netnsUnavailable(), 'the "other computers" test (network namespaces)');

interface Proc {
  proc: ChildProcessWithoutNullStreams;
  out(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

function inNamespace(ns: string, args: string[]): Proc {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    proc,
    out: () => out,
    waitFor: (re, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const poll = (): void => {
          if (re.test(out)) resolve();
          else if (Date.now() - t0 > timeoutMs) reject(new Error(`${re} not seen within ${timeoutMs} ms; output:\n${out}`));
          else setTimeout(poll, 25);
        };
        poll();
      }),
  };
}

describe.skipIf(skip)('clients on other computers', () => {
  let lan: Lan;
  let server: RunningServer;
  const procs: Proc[] = [];

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
    const alice = inNamespace(pc1.ns, [CONSOLE_JS, '--host', pc1.serverAddress, '--port', String(server.tcpPort), '--name', 'alice']);
    const bob = inNamespace(pc2.ns, [CONSOLE_JS, '--host', pc2.serverAddress, '--port', String(server.tcpPort), '--name', 'bob']);
    procs.push(alice, bob);
    await bob.waitFor(/bob/);
    await alice.waitFor(/bob/);
    alice.proc.stdin.write('hello from pc1\n');
    await bob.waitFor(/alice.*hello from pc1/);
    bob.proc.stdin.write('hi alice, pc2 here\n');
    await alice.waitFor(/bob.*hi alice, pc2 here/);
    // The server saw them arrive from their own hosts' addresses, not loopback.
    expect(server.stderr()).toMatch(/connect tcp 10\.\d+\.1\.2:/);
    expect(server.stderr()).toMatch(/connect tcp 10\.\d+\.2\.2:/);
    alice.proc.stdin.end();
    bob.proc.stdin.end();
  });
});
