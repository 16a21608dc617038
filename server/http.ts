// The HTTP front: the web client's static files, /healthz, /metrics, and the hand-off of /ws upgrades
// to the WebSocket transport. Static serving is deliberately small: GET/HEAD of files under one root,
// never outside it, with headers that let the browser enforce our no-inline-script policy.
//
// What is answered is decided here once, for every way a request arrives: plain HTTP/1.1, HTTPS, and
// HTTP/2 (https.ts makes that listener and routes WebSocket-over-HTTP/2 itself). Every request but
// /healthz must name this server in Host (public-names.ts), which is what stops DNS rebinding.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { bearerMatches } from './metrics-access.js';
import type { Metrics } from './metrics.js';
import { unknownHostMessage, type PublicNames } from './public-names.js';
import { validateUpgrade, writeRejection } from './ws/handshake.js';

export type HttpRequest = IncomingMessage | Http2ServerRequest;
export type HttpResponse = ServerResponse | Http2ServerResponse;

export interface HttpOptions {
  webRoot: string;
  metrics: Metrics;
  /** Extra facts for /healthz. */
  health: () => Record<string, unknown>;
  /** Called for `GET /ws` upgrades that name this server; anything else is refused here. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** The names a request's Host must be one of. */
  names: PublicNames;
  /** The scheme this port speaks, for the advice in refusals. */
  scheme: 'http' | 'https';
  /** False when /metrics lives on its own listener (--metrics-host): then it is not found here. */
  metricsHere: boolean;
  /** When set, /metrics wants `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
}

export interface HttpHandler {
  request(req: HttpRequest, res: HttpResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** A Host header we are willing to echo into a CSP directive. */
const SAFE_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** The name the client used: Host in HTTP/1.x, :authority in HTTP/2. */
export function hostOf(req: { headers: IncomingMessage['headers'] }): string | undefined {
  const h = req.headers.host ?? req.headers[':authority'];
  return typeof h === 'string' ? h : undefined;
}

function securityHeaders(req: HttpRequest): Record<string, string> {
  const host = hostOf(req);
  // 'self' does not cover ws: in every browser still in use, so the page's own host is named.
  const ws = host && SAFE_HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return {
    'Content-Security-Policy':
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${ws}; ` +
      `manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
  };
}

function send(req: HttpRequest, res: HttpResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...securityHeaders(req), 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

/** Maps a URL path to a file under root, or undefined when it would escape root or is malformed. */
export function resolveStatic(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  if (decoded.endsWith('/')) decoded += 'index.html';
  const rel = normalize(decoded).replace(/^(\.\.(\/|\\|$))+/, '');
  if (rel.split(/[\\/]/).includes('..')) return undefined;
  const full = join(root, rel);
  return full === root || full.startsWith(root.endsWith(sep) ? root : root + sep) ? full : undefined;
}

async function serveStatic(root: string, req: HttpRequest, res: HttpResponse, path: string): Promise<void> {
  const file = resolveStatic(root, path);
  if (!file) return send(req, res, 400, 'text/plain; charset=utf-8', 'bad path\n');
  try {
    const info = await stat(file);
    if (!info.isFile()) return send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
    const body = await readFile(file);
    const type = MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
    send(req, res, 200, type, body, { 'Cache-Control': 'no-cache' });
  } catch {
    send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

const TEXT = 'text/plain; charset=utf-8';

export function createHttpHandler(opts: HttpOptions): HttpHandler {
  const serveMetrics = metricsResponder(opts.metrics, opts.metricsToken);
  return {
    request(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(req, res, 405, TEXT, 'method not allowed\n', { Allow: 'GET, HEAD' });
      }
      // /healthz answers whatever name a probe uses (an orchestrator's, a load balancer's): it says
      // nothing a rebinding page could use. Everything else must be asked of one of our names.
      if (url.pathname === '/healthz') {
        // health() may report status "degraded" (a cluster node cut off from Redis): 503, so a load
        // balancer stops sending new clients to it.
        const health = { status: 'ok', ...opts.health() };
        return send(req, res, health.status === 'ok' ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(health) + '\n', {
          'Cache-Control': 'no-store',
        });
      }
      const host = hostOf(req);
      if (!opts.names.hostAllowed(host)) return send(req, res, 403, TEXT, unknownHostMessage(host ?? '', opts.scheme));
      switch (url.pathname) {
        case '/metrics':
          if (!opts.metricsHere) return send(req, res, 404, TEXT, 'not found\n');
          return serveMetrics(req, res);
        case '/ws': {
          // HTTP/2 has no Upgrade: its WebSocket is an extended CONNECT (https.ts), never a GET.
          if (req.httpVersionMajor >= 2) return send(req, res, 400, TEXT, 'over HTTP/2 a WebSocket is opened with an extended CONNECT (RFC 8441)\n');
          // Node emits 'upgrade' only when both Upgrade and Connection: upgrade are present. A request
          // carrying just one of them is a broken handshake (400 with the handshake's own reason); one
          // with neither is plain HTTP, told that an upgrade is required (426).
          if (req.headers.upgrade !== undefined || /\bupgrade\b/i.test(req.headers.connection ?? '')) {
            const refused = validateUpgrade(req, { allowedOrigins: [], deflate: false });
            const reason = refused.ok ? 'not a WebSocket handshake' : refused.reason;
            return send(req, res, 400, TEXT, reason + '\n');
          }
          return send(req, res, 426, TEXT, 'this endpoint speaks WebSocket only\n', {
            Upgrade: 'websocket',
            Connection: 'Upgrade',
            'Sec-WebSocket-Version': '13',
          });
        }
        default:
          void serveStatic(opts.webRoot, req, res, url.pathname);
      }
    },
    upgrade(req, socket, head) {
      const host = hostOf(req);
      if (!opts.names.hostAllowed(host)) return writeRejection(socket, 403, unknownHostMessage(host ?? '', opts.scheme).trimEnd(), {});
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path === '/ws') return opts.upgrade(req, socket, head);
      writeRejection(socket, 404, 'not found', {});
    },
  };
}

/** /metrics, behind the bearer token when there is one. */
export function metricsResponder(metrics: Metrics, token: string | undefined): (req: HttpRequest, res: HttpResponse) => void {
  return (req, res) => {
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      return send(req, res, 401, TEXT, 'this server\'s /metrics needs Authorization: Bearer <its --metrics-token>\n', {
        'WWW-Authenticate': 'Bearer realm="parley-metrics"',
      });
    }
    send(req, res, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics.render(), { 'Cache-Control': 'no-store' });
  };
}

/** The plain-HTTP listener (no certificate): HTTP/1.1 only. */
export function createHttpFront(handler: HttpHandler): Server {
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 20_000 }, handler.request);
  server.on('upgrade', handler.upgrade);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/**
 * The --metrics-host listener: /metrics and nothing else, plain HTTP for a scraper on a private
 * network. It checks Host like the public port (a rebinding page could otherwise read it from a
 * browser on that network) against `names`, which include the address it binds.
 */
export function createMetricsFront(metrics: Metrics, token: string | undefined, names: PublicNames): Server {
  const serveMetrics = metricsResponder(metrics, token);
  return createServer({ requestTimeout: 30_000, headersTimeout: 20_000 }, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(req, res, 405, TEXT, 'method not allowed\n', { Allow: 'GET, HEAD' });
    const host = hostOf(req);
    if (!names.hostAllowed(host)) return send(req, res, 403, TEXT, unknownHostMessage(host ?? '', 'http'));
    if (path !== '/metrics') return send(req, res, 404, TEXT, 'not found\n');
    serveMetrics(req, res);
  });
}
