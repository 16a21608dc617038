// The command line and environment of the console client, piped as a script runs it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConsole } from '../helpers/console.js';
import { ROOT, startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp } from '../helpers/tcp-client.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

describe('console client command line', () => {
  it('--version prints the version from package.json and exits 0', async () => {
    const c = runConsole(['--version']);
    expect(await c.exited).toBe(0);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(c.out().trim()).toBe(`parley ${version}`);
  });

  it('a flag followed by another flag instead of its value is an error naming the flag', async () => {
    const c = runConsole(['--port', '--room', 'x', '--name', 'a']);
    expect(await c.exited).toBe(2);
    expect(c.err()).toContain('--port needs a value');
  });

  it('usage is said once and an unknown command is named (piped)', async () => {
    const c = runConsole(['--host', '127.0.0.1', '--port', String(server.tcpPort), '--name', 'pip']);
    c.type('/msg bob');
    c.type('/nope');
    expect(await c.end()).toBe(1);
    expect(c.out()).toMatch(/!! usage: \/msg NAME TEXT$/m);
    expect(c.out()).not.toMatch(/usage: usage/);
    expect(c.out()).toMatch(/!! unknown command: \/nope; \/help lists them$/m);
  });

  it("PARLEY_SERVER_HOST is the client's server; the server's PARLEY_HOST (its listen address) is not used", async () => {
    const c = runConsole(['--name', 'envy'], { env: { PARLEY_HOST: '192.0.2.1', PARLEY_SERVER_HOST: '127.0.0.1', PARLEY_PORT: String(server.tcpPort) } });
    await c.waitFor(/connected to 127\.0\.0\.1:/);
    expect(await c.end()).toBe(0);
    // Alone, PARLEY_HOST is ignored (with a word on stderr): the client goes to localhost.
    const d = runConsole(['--name', 'envy2'], { env: { PARLEY_HOST: '192.0.2.1', PARLEY_SERVER_HOST: '', PARLEY_SERVER_PORT: String(server.tcpPort) } });
    await d.waitFor(/connected to localhost:/);
    expect(d.err()).toMatch(/PARLEY_HOST is the server's listen address and is ignored/);
    expect(await d.end()).toBe(0);
  });

  it('a script that ends leaves its rooms: the others see it leave, not disconnect', async () => {
    const watcher = await helloTcp(server.tcpPort, 'watcher');
    watcher.send({ type: 'join', room: 'general' });
    await watcher.next((e) => e.type === 'history');
    const c = runConsole(['--host', '127.0.0.1', '--port', String(server.tcpPort), '--name', 'leaver']);
    await watcher.next((e) => e.type === 'joined' && e.name === 'leaver');
    c.type('bye all');
    expect(await c.end()).toBe(0);
    const left = await watcher.next((e) => e.type === 'left' && e.name === 'leaver');
    expect(left.reason).toBeUndefined();
    watcher.close();
  });
});
