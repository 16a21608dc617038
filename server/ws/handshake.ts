// The opening handshake (RFC 6455 4.2.1, 4.2.2) as a pure function: request facts in, either the 101
// response to write or a rejection out. No I/O here, so every rule is testable as a table; the
// transport (ws-transport.ts, echo.ts) does the writing and destroying.
import { createHash } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { negotiateDeflate, type DeflateParams } from './deflate.js';

/** Fixed by RFC 6455 1.3: appended to the client's key before hashing. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version there is; anything else gets 426 naming it (RFC 6455 4.4). */
export const WS_VERSION = '13';

/** A strictly valid key is 16 random bytes in canonical base64: 22 characters then `==`. */
const KEY_SHAPE = /^[A-Za-z0-9+/]{22}==$/;

/** What the handshake needs to know of a request; IncomingMessage satisfies it. */
export interface UpgradeRequest {
  method?: string | undefined;
  httpVersionMajor: number;
  httpVersionMinor: number;
  headers: IncomingHttpHeaders;
}

export interface HandshakeOptions {
  /** Browser origins allowed besides the server's own host; `*` allows any. */
  allowedOrigins: readonly string[];
  /** Offer permessage-deflate when the client asks for it. */
  deflate: boolean;
  /**
   * The owner's own origin rule, replacing the default (the request's own Host, or one of
   * allowedOrigins). A server that knows its public names decides by them, because a Host header
   * is whatever name the browser used, a DNS-rebinding attacker's included.
   */
  originAllowed?: (origin: string | undefined, host: string | undefined) => boolean;
}

export type HandshakeResult =
  | { ok: true; response: string; deflate: DeflateParams | undefined }
  | { ok: false; status: number; reason: string; headers: Record<string, string> };

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** Case-insensitive membership in a comma-separated token list (`keep-alive, Upgrade`). */
function hasToken(header: string | string[] | undefined, token: string): boolean {
  if (header === undefined) return false;
  const text = Array.isArray(header) ? header.join(',') : header;
  return text.split(',').some((t) => t.trim().toLowerCase() === token);
}

function isValidKey(key: string | undefined): key is string {
  if (key === undefined || !KEY_SHAPE.test(key)) return false;
  // Re-encoding catches non-canonical trailing bits (e.g. ...B== where only ...A== is canonical).
  const bytes = Buffer.from(key, 'base64');
  return bytes.length === 16 && bytes.toString('base64') === key;
}

/** Origin as the browser serialises it (scheme://host[:port], lower case), or undefined if unparsable. */
function normaliseOrigin(origin: string): string | undefined {
  try {
    const u = new URL(origin);
    return u.origin === 'null' ? undefined : u.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Browsers always send Origin; other clients usually do not, and gain nothing by lying, so the check
 * only protects users' browsers from other sites opening sockets with their cookies (CSWSH).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  const norm = normaliseOrigin(origin);
  if (norm === undefined) return allowed.includes(origin);
  if (host !== undefined && new URL(norm).host === host.toLowerCase()) return true;
  return allowed.some((a) => normaliseOrigin(a) === norm);
}

/** The owner's origin rule when it has one, else the default. */
export function checkOrigin(origin: string | undefined, host: string | undefined, opts: HandshakeOptions): boolean {
  return opts.originAllowed ? opts.originAllowed(origin, host) : originAllowed(origin, host, opts.allowedOrigins);
}

function reject(status: number, reason: string, headers: Record<string, string> = {}): HandshakeResult {
  return { ok: false, status, reason, headers };
}

export function validateUpgrade(req: UpgradeRequest, opts: HandshakeOptions): HandshakeResult {
  const h = req.headers;
  if (req.method !== 'GET') return reject(400, 'a WebSocket handshake must use GET');
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) {
    return reject(400, 'a WebSocket handshake needs HTTP/1.1 or later');
  }
  if (!hasToken(h.upgrade, 'websocket')) return reject(400, 'Upgrade header must contain "websocket"');
  if (!hasToken(h.connection, 'upgrade')) return reject(400, 'Connection header must contain "upgrade"');
  if (h['sec-websocket-version'] !== WS_VERSION) {
    return reject(426, `unsupported WebSocket version; this server speaks ${WS_VERSION}`, { 'Sec-WebSocket-Version': WS_VERSION });
  }
  const key = h['sec-websocket-key'];
  if (!isValidKey(key)) return reject(400, 'Sec-WebSocket-Key must be 16 bytes in base64');
  if (!checkOrigin(h.origin, h.host, opts)) return reject(403, 'origin not allowed');

  const ext = opts.deflate ? negotiateDeflate(h['sec-websocket-extensions']) : undefined;
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
  ];
  if (ext) lines.push(`Sec-WebSocket-Extensions: ${ext.response}`);
  return { ok: true, response: lines.join('\r\n') + '\r\n\r\n', deflate: ext?.params };
}

/** How long a refused client gets to read its response before the socket is destroyed anyway. */
export const REJECT_LINGER_MS = 1000;

/** Writes a complete HTTP response for a refused handshake and destroys the socket. */
export function writeRejection(socket: Duplex, status: number, reason: string, headers: Record<string, string>): void {
  if (socket.destroyed) return;
  const body = reason + '\n';
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  // end() then destroy once flushed: destroying at once could drop the response we just wrote.
  const timer = setTimeout(() => socket.destroy(), REJECT_LINGER_MS);
  timer.unref();
  socket.on('error', () => {});
  socket.end(head.join('\r\n') + '\r\n\r\n' + body, () => {
    clearTimeout(timer);
    socket.destroy();
  });
}
