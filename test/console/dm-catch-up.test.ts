// A DM that reached the server while the console client's link was dead, without the server knowing
// it yet: the server writes it to the dead connection and counts it delivered, so the offline inbox
// never hands it out again. The client must find it on its own after reconnecting: once, in order.
// The dead link is a proxy between client and server that drops the client's side and keeps the
// server's side open and silent, as a broken network path does. Both users are accounts: DMs with a
// guest are never stored, so they have no inbox and no history to catch up from.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, type TcpClient } from '../helpers/tcp-client.js';

interface Link {
  client: Socket;
  upstream: Socket;
  cut: boolean;
}

interface CuttableProxy {
  port: number;
  /** Drops every client connection while keeping its server side open and swallowing what comes; refuses new ones. */
  cut(): void;
  /** Closes the server sides left open by cut(): now the server sees the user go. */
  closeUpstreams(): void;
  /** Lets new connections through again. */
  heal(): void;
  close(): Promise<void>;
}

async function cuttableProxy(targetPort: number): Promise<CuttableProxy> {
  const links: Link[] = [];
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const link: Link = { client, upstream, cut: false };
    links.push(link);
    client.on('data', (d) => link.cut || upstream.write(d));
    upstream.on('data', (d) => link.cut || client.write(d));
    client.on('close', () => link.cut || upstream.destroy());
    upstream.on('close', () => link.cut || client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    cut() {
      refusing = true;
      for (const l of links) {
        l.cut = true;
        l.client.destroy();
      }
    },
    closeUpstreams() {
      for (const l of links.splice(0)) l.upstream.destroy();
    },
    heal() {
      refusing = false;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

let server: RunningServer;
let proxy: CuttableProxy;
const consoles: ConsoleProc[] = [];
const tcps: TcpClient[] = [];

beforeAll(async () => {
  server = await startServer();
  proxy = await cuttableProxy(server.tcpPort);
});
afterAll(async () => {
  for (const c of consoles) c.proc.kill('SIGKILL');
  for (const t of tcps) t.close();
  await proxy?.close();
  await server?.stop();
});

const lines = (out: string, re: RegExp): string[] => out.split('\n').filter((l) => re.test(l));

describe('console client: DMs across a dead link', () => {
  it('a DM the server sent into a dead connection shows after the reconnect, once and in order', async () => {
    (await accountTcp(server.tcpPort, 'uma', 'uma-password')).close();
    const vic = await accountTcp(server.tcpPort, 'vic');
    tcps.push(vic);
    vic.send({ type: 'join', room: 'general', id: 'j' });
    await vic.next((e) => e.type === 'members');
    // The reconnect logs in with the token the first login saved.
    const uma = runConsole(['--host', '127.0.0.1', '--port', String(proxy.port), '--name', 'uma'], { env: { PARLEY_PASSWORD: 'uma-password', XDG_CONFIG_HOME: tempDir('parley-cfg-') } });
    consoles.push(uma);
    await uma.waitFor(/#general: /);
    await vic.next((e) => e.type === 'joined' && e.name === 'uma');

    vic.send({ type: 'dm', to: 'uma', text: 'before the cut', id: 1 });
    await uma.waitFor(/\*vic\* before the cut$/m);

    proxy.cut();
    await uma.waitFor(/connection to .* lost/);
    // The server still counts uma online: this DM goes into the dead connection, not the inbox.
    vic.send({ type: 'dm', to: 'uma', text: 'into the void', id: 2 });
    vic.send({ type: 'dm', to: 'uma', text: 'and again', id: 3 });
    await vic.next((e) => e.type === 'ack' && e.re === 3);
    proxy.closeUpstreams();
    await vic.next((e) => e.type === 'left' && e.name === 'uma');
    // Offline now: this one does go through the inbox, and arrives right after the welcome.
    vic.send({ type: 'dm', to: 'uma', text: 'from the inbox', id: 4 });
    await vic.next((e) => e.type === 'ack' && e.re === 4);
    proxy.heal();

    await uma.waitFor(/\*vic\* from the inbox$/m, 30_000);
    vic.send({ type: 'dm', to: 'uma', text: 'live again', id: 5 });
    await uma.waitFor(/\*vic\* live again$/m);

    const out = uma.out();
    expect(lines(out, /^\[\d\d:\d\d\] -- connected to /)).toHaveLength(2);
    const dms = lines(out, /\*vic\* /).map((l) => l.replace(/^\[\d\d:\d\d\] \*vic\* /, ''));
    expect(dms).toEqual(['before the cut', 'into the void', 'and again', 'from the inbox', 'live again']);
  }, 60_000);
});
