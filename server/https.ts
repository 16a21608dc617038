// The HTTP port when the server has a certificate: HTTPS, HTTP/2 offered first by ALPN and HTTP/1.1
// kept for clients without it, and WebSocket both ways — an Upgrade over HTTP/1.1, or an extended
// CONNECT on an HTTP/2 stream (RFC 8441, announced with SETTINGS_ENABLE_CONNECT_PROTOCOL), so a
// browser already talking HTTP/2 to us opens its WebSocket as one more stream of that connection.
//
// A front net.Server looks at each connection's first byte (tls-sniff.ts): TLS goes to Node's HTTP/2
// secure server, plaintext gets a 400 saying to use https://. What is answered is http.ts's, the same
// as on the plain port; this file only decides how requests arrive.
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { hostOf, type HttpHandler } from './http.js';
import type { Logger } from './log.js';
import { unknownHostMessage, type PublicNames } from './public-names.js';
import { answerAndClose, sniffTls } from './tls-sniff.js';
import type { TlsCredentials } from './tls.js';
import { isExtendedConnect, refuseExtendedConnect } from './ws/index.js';
import type { WsTransport } from './ws-transport.js';

/** An HTTP/2 connection with no frames either way for this long is closed (gracefully: open streams finish). */
export const H2_SESSION_IDLE_MS = 120_000;
/** Streams one HTTP/2 connection may have open at once; each WebSocket over HTTP/2 is one. */
export const H2_MAX_CONCURRENT_STREAMS = 100;
/** The HTTP/1.1 fallback's timeouts, as on the plain port (http.ts). */
const HTTP1_HEADERS_TIMEOUT_MS = 20_000;
const HTTP1_REQUEST_TIMEOUT_MS = 30_000;
const HTTP1_KEEP_ALIVE_TIMEOUT_MS = 5_000;

export interface HttpsOptions {
  handler: HttpHandler;
  ws: WsTransport;
  tls: TlsCredentials;
  names: PublicNames;
  /**
   * How long a client may take to send its first byte, and again to finish its TLS handshake
   * (--hello-timeout-ms; Node's own handshake default is two minutes).
   */
  handshakeTimeoutMs: number;
  log: Logger;
}

export interface HttpsFront {
  /** What listens on the port. */
  listener: Server;
  /** Ends every connection at once (shutdown, after its grace period). */
  closeAllConnections(): void;
}

const PLAINTEXT_ANSWER = (() => {
  const body = 'This port speaks HTTPS. Use https:// in the address instead of http://.\n';
  return (
    'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
})();

function onSession(session: ServerHttp2Session): void {
  session.setTimeout(H2_SESSION_IDLE_MS, () => session.close());
}

export function createHttpsFront(opts: HttpsOptions): HttpsFront {
  const { handler, ws, names, log } = opts;
  const secure: Http2SecureServer = createSecureServer(
    {
      ...opts.tls.options,
      allowHTTP1: true,
      handshakeTimeout: opts.handshakeTimeoutMs,
      settings: { enableConnectProtocol: true, maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS },
    },
    handler.request,
  );
  opts.tls.serve(secure);
  // Node's HTTP/1.1 fallback reads these off the server like http.Server's; its typings omit them.
  // keepAliveTimeout is unset on an HTTP/2 server, which would keep idle keep-alive connections for ever.
  Object.assign(secure, {
    headersTimeout: HTTP1_HEADERS_TIMEOUT_MS,
    requestTimeout: HTTP1_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: HTTP1_KEEP_ALIVE_TIMEOUT_MS,
  });
  secure.on('session', onSession);
  secure.on('upgrade', handler.upgrade);
  // Every CONNECT over HTTP/2 arrives here (Node answers 405 when nobody listens).
  secure.on('connect', (req: Http2ServerRequest, _res: Http2ServerResponse) => {
    const stream = req.stream;
    const headers = req.headers;
    if (!isExtendedConnect(headers)) return refuseExtendedConnect(stream, 405, 'CONNECT is only for WebSocket (RFC 8441)', {});
    const host = hostOf(req);
    if (!names.hostAllowed(host)) return refuseExtendedConnect(stream, 403, unknownHostMessage(host ?? '', 'https').trimEnd(), {});
    const path = new URL(headers[':path'] ?? '/', 'https://localhost').pathname;
    if (path !== '/ws') return refuseExtendedConnect(stream, 404, 'not found', {});
    ws.connectStream(stream, headers);
  });
  secure.on('tlsClientError', (err: Error, socket: Socket) => {
    log.debug(`https handshake failed ${socket.remoteAddress}: ${err.message}`);
  });

  const sockets = new Set<Socket>();
  const listener = createServer({ noDelay: true }, (raw) => {
    sockets.add(raw);
    raw.once('close', () => sockets.delete(raw));
    sniffTls(raw, opts.handshakeTimeoutMs, {
      tls: (socket) => secure.emit('connection', socket),
      plaintext: (socket) => {
        log.debug(`plaintext HTTP on the HTTPS port from ${socket.remoteAddress}`);
        answerAndClose(socket, PLAINTEXT_ANSWER);
      },
    });
  });
  // The secure server never listens itself (connections reach it from the front), but Node starts
  // the HTTP/1.1 fallback's header and request timeouts on its 'listening'.
  listener.on('listening', () => secure.emit('listening'));
  listener.on('close', () => secure.close());

  return {
    listener,
    closeAllConnections() {
      for (const s of sockets) s.destroy();
    },
  };
}
