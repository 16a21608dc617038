// Composition root: builds the store, the hub and both transports from a Config, and tears them down
// in the right order. Everything else receives its collaborators; only this file chooses them.
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryAccounts, type AccountStore } from './accounts/account-store.js';
import { FileAccounts } from './accounts/file-accounts.js';
import { FileTopics, MemoryTopics, type TopicStore } from './kv/room-topics.js';
import type { Config } from './config.js';
import { createHttpFront } from './http.js';
import { Hub } from './hub/hub.js';
import { defaultRateLimits } from './hub/rate-limits.js';
import type { Logger } from './log.js';
import type { Peer, Session } from './peer.js';
import { Metrics } from './metrics.js';
import { FileStore } from './store/file-store.js';
import { MemoryStore } from './store/memory-store.js';
import { startCluster } from './redis/cluster.js';
import type { Store } from './store/store.js';
import { createTcpTransport } from './tcp.js';
import { createWsTransport } from './ws-transport.js';

export const SERVER_NAME = 'parley/0.1.0';

export interface RunningServer {
  tcpPort: number;
  httpPort: number;
  hub: Hub;
  /** Graceful stop: bye to everyone, close listeners and sockets, flush the store. */
  close(): Promise<void>;
}

/** How long shutdown waits for clients to read their bye before cutting connections. */
const SHUTDOWN_GRACE_MS = 3000;

function defaultWebRoot(): string {
  // dist/server/server.js -> dist/web
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'web');
}

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  // --redis: cluster mode, every seam backed by Redis; otherwise the embedded stores.
  const cluster = config.redis === undefined ? undefined : await startCluster({ url: config.redis, historyPerRoom: config.historyPerRoom, log });
  const store: Store =
    cluster?.store ??
    (config.memory
      ? new MemoryStore({ historyPerRoom: config.historyPerRoom })
      : new FileStore({ dir: config.dataDir, fsync: config.fsync, historyPerRoom: config.historyPerRoom, log: (line) => log.warn(line) }));
  await store.open();
  // Opened after the store, which holds the data dir's lock.
  const accounts: AccountStore = cluster?.accounts ?? (config.memory ? new MemoryAccounts() : new FileAccounts(config.dataDir, (line) => log.warn(line)));
  const topics: TopicStore = cluster?.topics ?? (config.memory ? new MemoryTopics() : new FileTopics(config.dataDir, (line) => log.warn(line)));
  try {
    await accounts.open();
    await topics.open();
  } catch (err) {
    await store.close();
    await cluster?.close();
    throw err;
  }
  const metrics = new Metrics();
  const hub = new Hub({
    store,
    accounts,
    topics,
    ...(cluster ? { bus: cluster.bus, directory: cluster.directory } : {}),
    metrics,
    log,
    serverName: SERVER_NAME,
    helloTimeoutMs: config.helloTimeoutMs,
    minPasswordLength: config.minPasswordLength,
    rateLimits: config.noRateLimit ? null : defaultRateLimits(config.rateLimit),
    maxRooms: config.maxRooms,
    maxBufferedBytes: config.maxBufferedBytes,
  });
  await hub.start();
  const connect = (peer: Peer): Session => hub.connect(peer);
  const started = Date.now();

  const tcp = createTcpTransport(connect, {
    maxMessageBytes: config.maxMessageBytes,
    maxBufferedBytes: config.maxBufferedBytes,
    pingIntervalMs: config.pingIntervalMs,
    idleTimeoutMs: config.idleTimeoutMs,
    log,
    metrics,
  });
  const ws = createWsTransport(connect, {
    maxMessageBytes: config.maxMessageBytes,
    maxBufferedBytes: config.maxBufferedBytes,
    allowedOrigins: config.allowedOrigins,
    deflate: config.deflate,
    pingIntervalMs: config.pingIntervalMs,
    idleTimeoutMs: config.idleTimeoutMs,
    log,
    metrics,
  });
  const http = createHttpFront({
    webRoot: config.webRoot ?? defaultWebRoot(),
    metrics,
    health: () => ({
      server: SERVER_NAME,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      connections: { ...metrics.connections },
      store: cluster ? 'redis' : config.memory ? 'memory' : 'file',
      ...(cluster ? { node: cluster.node, ...cluster.health() } : {}),
    }),
    upgrade: (req, socket, head) => ws.upgrade(req, socket, head),
  });

  let tcpPort: number;
  let httpPort: number;
  try {
    tcpPort = await listen(tcp, config.tcpPort, config.host);
    httpPort = await listen(http, config.httpPort, config.host);
  } catch (err) {
    tcp.close();
    await accounts.close();
    await topics.close();
    await store.close();
    await cluster?.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      tcp.close();
      http.close();
      hub.shutdown();
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (hub.connectionCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      ws.destroyAll();
      http.closeAllConnections();
      await accounts.close();
      await topics.close();
      await store.close();
      await cluster?.close();
    })());

  return { tcpPort, httpPort, hub, close };
}
