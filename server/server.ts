// Composition root: builds the store, the hub and both transports from a Config, and tears them down
// in the right order. Everything else receives its collaborators; only this file chooses them.
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryAccounts, type AccountStore } from './accounts/account-store.js';
import { FileAccounts } from './accounts/file-accounts.js';
import { FileTopics, MemoryTopics, type TopicStore } from './kv/room-topics.js';
import { FileReads, MemoryReads, type ReadStore } from './kv/read-markers.js';
import type { Config } from './config.js';
import { ConnectionLimits } from './conn-limits.js';
import { diskBudgetWarning, freeBytes } from './disk-space.js';
import { createHttpFront, createHttpHandler, createMetricsFront } from './http.js';
import { createHttpsFront } from './https.js';
import { Hub } from './hub/hub.js';
import { defaultRateLimits } from './hub/rate-limits.js';
import type { Logger } from './log.js';
import type { Peer, Session } from './peer.js';
import { Metrics } from './metrics.js';
import { PublicNames } from './public-names.js';
import { FileStore } from './store/file-store.js';
import { MemoryStore } from './store/memory-store.js';
import { startCluster } from './redis/cluster.js';
import type { Store } from './store/store.js';
import { createTcpListener } from './tcp-listener.js';
import { createIrcTransport, ircSocketHandler, type IrcOptions } from './irc/transport.js';
import { createTcpTransport } from './tcp.js';
import { TlsCredentials, type ReloadResult } from './tls.js';
import { createWsTransport } from './ws-transport.js';

export const SERVER_NAME = 'parley/0.1.0';

export interface RunningServer {
  tcpPort: number;
  httpPort: number;
  /** The --metrics-host listener's port, when there is one. */
  metricsPort: number | undefined;
  /** Both ports speak TLS. */
  tls: boolean;
  /** Undefined with --no-irc. */
  ircPort: number | undefined;
  /** IRC over TLS: only with a certificate (and not with --no-irc). */
  ircTlsPort: number | undefined;
  hub: Hub;
  /** Re-reads the certificate and key (SIGHUP); undefined without TLS. A failed reload keeps the old pair. */
  reloadTls(): Promise<ReloadResult | undefined>;
  /** Graceful stop: bye to everyone, close listeners and sockets, flush the store. */
  close(): Promise<void>;
}

/** A certificate closer than this to its end is announced as a warning at start. */
const CERT_EXPIRY_WARNING_DAYS = 14;

/** How long shutdown waits for clients to read their bye before cutting connections. */
const SHUTDOWN_GRACE_MS = 3000;
/** EX_IOERR (sysexits.h): the disk failed under the store. */
const EXIT_STORE_FAILED = 74;

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
  // Read first: a missing or mismatched certificate should stop the server before it opens the store.
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined ? await TlsCredentials.load(config.tlsCert, config.tlsKey) : undefined;
  // --redis: cluster mode, every seam backed by Redis; otherwise the embedded stores.
  const cluster = config.redis === undefined ? undefined : await startCluster({ url: config.redis, historyPerRoom: config.historyPerRoom, nodeTimeoutMs: config.nodeTimeoutMs, log });
  const forget = { forgetAfterMs: config.forgetGuestsAfter * 1000, maxGuests: config.maxKnownGuests };
  const store: Store =
    cluster?.store ??
    (config.memory
      ? new MemoryStore({ historyPerRoom: config.historyPerRoom, forget, maxInbox: config.maxInbox, maxBytes: config.maxStoreBytes, log: (line) => log.warn(line) })
      : new FileStore({
          dir: config.dataDir,
          fsync: config.fsync,
          historyPerRoom: config.historyPerRoom,
          forget,
          maxInbox: config.maxInbox,
          maxBytes: config.maxStoreBytes,
          log: (line) => log.warn(line),
          // Messages covered by the failed sync may have been delivered: they can be neither acked nor
          // refused. Stop now; the restart serves exactly what reached the disk (log-writer.ts).
          onSyncFailure: (err) => {
            log.error(`${err.message}; exiting`);
            process.exit(EXIT_STORE_FAILED);
          },
        }));
  await store.open();
  const diskWarning = config.memory ? undefined : diskBudgetWarning(config.dataDir, config.maxStoreBytes, store.usage().bytes, freeBytes(config.dataDir));
  if (diskWarning) log.warn(diskWarning);
  // Opened after the store, which holds the data dir's lock.
  const accounts: AccountStore = cluster?.accounts ?? (config.memory ? new MemoryAccounts() : new FileAccounts(config.dataDir, (line) => log.warn(line)));
  const topics: TopicStore = cluster?.topics ?? (config.memory ? new MemoryTopics() : new FileTopics(config.dataDir, (line) => log.warn(line)));
  const reads: ReadStore = cluster?.reads ?? (config.memory ? new MemoryReads() : new FileReads(config.dataDir, (line) => log.warn(line)));
  try {
    await accounts.open();
    await topics.open();
    await reads.open();
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
    reads,
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
  const limits = new ConnectionLimits(config.maxConnectionsPerIp, config.maxConnections);
  const names = new PublicNames({ host: config.host, publicUrls: config.publicUrls, allowedOrigins: config.allowedOrigins });
  if (tls) {
    metrics.tlsNotAfter = () => Math.floor(tls.certificate.notAfter.getTime() / 1000);
    const { subject, notAfter } = tls.certificate;
    const daysLeft = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
    // Said at start so an expiring certificate is noticed before browsers refuse it.
    const line = `tls: serving ${subject.replace(/\n/g, ', ')} from ${config.tlsCert}, valid until ${notAfter.toISOString()} (${daysLeft} days)`;
    if (daysLeft < CERT_EXPIRY_WARNING_DAYS) log.warn(`${line}; renew it and send SIGHUP`);
    else log.info(line);
  }

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
    originAllowed: (origin) => names.originAllowed(origin),
    limits,
    deflate: config.deflate,
    pingIntervalMs: config.pingIntervalMs,
    idleTimeoutMs: config.idleTimeoutMs,
    log,
    metrics,
  });
  const tcpListener = createTcpListener({ transport: tcp, limits, tls, handshakeTimeoutMs: config.helloTimeoutMs, log, metrics });
  const handler = createHttpHandler({
    webRoot: config.webRoot ?? defaultWebRoot(),
    metrics,
    health: () => ({
      server: SERVER_NAME,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      connections: { ...metrics.connections },
      store: cluster ? 'redis' : config.memory ? 'memory' : 'file',
      tls: tls !== undefined,
      ...(cluster ? { node: cluster.node, ...cluster.health() } : {}),
    }),
    upgrade: (req, socket, head) => ws.upgrade(req, socket, head),
    names,
    scheme: tls ? 'https' : 'http',
    metricsHere: config.metricsHost === undefined,
    metricsToken: config.metricsToken,
  });
  let http: NetServer;
  let closeHttpConnections: () => void;
  if (tls) {
    const front = createHttpsFront({ handler, ws, tls, names, handshakeTimeoutMs: config.helloTimeoutMs, log });
    http = front.listener;
    closeHttpConnections = () => front.closeAllConnections();
  } else {
    const plain = createHttpFront(handler);
    http = plain;
    closeHttpConnections = () => plain.closeAllConnections();
  }
  const metricsAt = config.metricsHost;
  const metricsFront = metricsAt
    ? createMetricsFront(metrics, config.metricsToken, new PublicNames({ host: metricsAt.host, publicUrls: config.publicUrls, allowedOrigins: [] }))
    : undefined;

  const listening: (NetServer | HttpServer)[] = [];
  let tcpPort: number;
  let httpPort: number;
  let metricsPort: number | undefined;
  const ircOptions: IrcOptions | undefined = config.irc
    ? {
        serverName: config.serverName,
        network: 'Parley',
        version: SERVER_NAME,
        replay: config.ircReplay,
        registrationTimeoutMs: config.helloTimeoutMs,
        maxBufferedBytes: config.maxBufferedBytes,
        pingIntervalMs: config.pingIntervalMs,
        idleTimeoutMs: config.idleTimeoutMs,
        topicOf: (room) => topics.get(room),
        stats: () => {
          const g = metrics.gauges();
          const c = metrics.connections;
          return { users: g.users, rooms: g.rooms, clients: c.tcp + c.ws + c.irc };
        },
        log,
        metrics,
      }
    : undefined;
  const irc = ircOptions ? createIrcTransport(connect, ircOptions) : undefined;
  // IRC over TLS on its own port (6697, as IRC clients expect) whenever the server has a certificate:
  // the same IRC edge behind node:tls, kept on the current pair across SIGHUP reloads.
  const ircTls =
    ircOptions && tls
      ? createTlsServer({ ...tls.options, handshakeTimeout: config.helloTimeoutMs }, ircSocketHandler(connect, ircOptions))
      : undefined;
  if (ircTls && tls) {
    tls.serve(ircTls);
    ircTls.on('tlsClientError', (err) => {
      metrics.tlsHandshakeFailures++;
      log.debug(`irc tls handshake failed: ${err.message}`);
    });
  }

  let ircPort: number | undefined;
  let ircTlsPort: number | undefined;
  try {
    tcpPort = await listen(tcpListener, config.tcpPort, config.host);
    listening.push(tcpListener);
    httpPort = await listen(http, config.httpPort, config.host);
    listening.push(http);
    if (metricsFront && metricsAt) {
      metricsPort = await listen(metricsFront, metricsAt.port, metricsAt.host);
      listening.push(metricsFront);
    }
    if (irc) {
      ircPort = await listen(irc, config.ircPort, config.host);
      listening.push(irc);
    }
    if (ircTls) {
      ircTlsPort = await listen(ircTls, config.ircTlsPort, config.host);
      listening.push(ircTls);
    }
  } catch (err) {
    for (const l of listening) l.close();
    await accounts.close();
    await topics.close();
    await reads.close();
    await store.close();
    await cluster?.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      tcpListener.close();
      http.close();
      metricsFront?.close();
      irc?.close();
      ircTls?.close();
      hub.shutdown();
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (hub.connectionCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      ws.destroyAll();
      closeHttpConnections();
      metricsFront?.closeAllConnections();
      await accounts.close();
      await topics.close();
      await reads.close();
      await store.close();
      await cluster?.close();
    })());

  const reloadTls = async (): Promise<ReloadResult | undefined> => {
    if (!tls) return undefined;
    const result = await tls.reload();
    metrics.tlsReload(result.ok);
    if (result.ok) log.info(`tls: reloaded ${config.tlsCert}: ${result.certificate.subject}, sha256 ${result.certificate.fingerprint256}, valid until ${result.certificate.notAfter.toISOString()}`);
    else log.error(`tls: reload failed, still serving the previous certificate: ${result.error}`);
    return result;
  };

  return { tcpPort, httpPort, metricsPort, ircPort, ircTlsPort, tls: tls !== undefined, hub, reloadTls, close };
}
