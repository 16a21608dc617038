// The HTTP front: the web client's static files, /healthz, /metrics, and the hand-off of /ws upgrades
// to the WebSocket transport. Static serving is deliberately small: GET/HEAD of files under one root,
// never outside it, with headers that let the browser enforce our no-inline-script policy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Metrics } from './metrics.js';
import { validateUpgrade } from './ws/handshake.js';

export interface HttpOptions {
  webRoot: string;
  metrics: Metrics;
  /** Extra facts for /healthz. */
  health: () => Record<string, unknown>;
  /** Called for `GET /ws` upgrades; anything else is refused here. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
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

function securityHeaders(req: IncomingMessage): Record<string, string> {
  const host = req.headers.host;
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

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...securityHeaders(req), 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
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

async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
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

export function createHttpFront(opts: HttpOptions): Server {
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 20_000 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    }
    switch (url.pathname) {
      case '/healthz': {
        // health() may report status "degraded" (a cluster node cut off from Redis): 503, so a load
        // balancer stops sending new clients to it.
        const health = { status: 'ok', ...opts.health() };
        return send(req, res, health.status === 'ok' ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(health) + '\n', {
          'Cache-Control': 'no-store',
        });
      }
      case '/metrics':
        return send(req, res, 200, 'text/plain; version=0.0.4; charset=utf-8', opts.metrics.render(), { 'Cache-Control': 'no-store' });
      case '/ws': {
        // Node emits 'upgrade' only when both Upgrade and Connection: upgrade are present. A request
        // carrying just one of them is a broken handshake (400 with the handshake's own reason); one
        // with neither is plain HTTP, told that an upgrade is required (426).
        if (req.headers.upgrade !== undefined || /\bupgrade\b/i.test(req.headers.connection ?? '')) {
          const refused = validateUpgrade(req, { allowedOrigins: [], deflate: false });
          const reason = refused.ok ? 'not a WebSocket handshake' : refused.reason;
          return send(req, res, 400, 'text/plain; charset=utf-8', reason + '\n');
        }
        return send(req, res, 426, 'text/plain; charset=utf-8', 'this endpoint speaks WebSocket only\n', {
          Upgrade: 'websocket',
          Connection: 'Upgrade',
          'Sec-WebSocket-Version': '13',
        });
      }
      default:
        void serveStatic(opts.webRoot, req, res, url.pathname);
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/ws') return opts.upgrade(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n');
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}
