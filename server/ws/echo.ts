// A WebSocket echo server built from the same modules as the chat transport, for conformance testing
// with the Autobahn fuzzingclient: `npm run ws:echo -- --port 9001`. Every path upgrades, every
// message comes back as it came (text as text, binary as binary), deflate is offered.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { WsConnection } from './connection.js';
import { validateUpgrade, writeRejection } from './handshake.js';

export const ECHO_DEFAULT_PORT = 9001;
export const ECHO_DEFAULT_HOST = '127.0.0.1';
/** Autobahn's 9.x cases send messages up to 16 MiB. */
export const ECHO_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Room for a few 16 MiB echoes in flight while the fuzzer is slow to read. */
export const ECHO_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** The fuzzer is never idle for long; these only reap abandoned connections. */
const ECHO_PING_INTERVAL_MS = 30_000;
const ECHO_IDLE_TIMEOUT_MS = 120_000;

export function createEchoServer(): Server {
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
    res.end('this server speaks WebSocket only\n');
  });
  server.on('upgrade', (req, duplex, head: Buffer) => {
    if (!(duplex instanceof Socket)) return void duplex.destroy();
    // Any origin: this is a test tool bound to loopback by default.
    const result = validateUpgrade(req, { allowedOrigins: ['*'], deflate: true });
    if (!result.ok) return writeRejection(duplex, result.status, result.reason, result.headers);
    duplex.write(result.response);
    const conn: WsConnection = new WsConnection(
      duplex,
      {
        maxMessageBytes: ECHO_MAX_MESSAGE_BYTES,
        maxBufferedBytes: ECHO_MAX_BUFFERED_BYTES,
        deflate: result.deflate,
        pingIntervalMs: ECHO_PING_INTERVAL_MS,
        idleTimeoutMs: ECHO_IDLE_TIMEOUT_MS,
      },
      {
        message(data, binary) {
          conn.send(data, binary);
          return undefined;
        },
        closed() {},
      },
    );
    conn.start(head);
  });
  return server;
}

function parseArgs(argv: readonly string[]): { port: number; host: string } {
  let port = ECHO_DEFAULT_PORT;
  let host = ECHO_DEFAULT_HOST;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--port') {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`--port must be 0-65535, got "${v}"`);
      port = Number(v);
    } else if (flag === '--host') host = value();
    else throw new Error(`unknown argument "${argv[i]}" (usage: echo [--port N] [--host H])`);
  }
  return { port, host };
}

function main(): void {
  let args: { port: number; host: string };
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  const server = createEchoServer();
  server.listen(args.port, args.host, () => {
    const { port } = server.address() as AddressInfo;
    const host = args.host.includes(':') ? `[${args.host}]` : args.host;
    process.stdout.write(`echo listening on ws://${host}:${port}\n`);
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
