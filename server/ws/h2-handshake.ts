// The WebSocket handshake over HTTP/2 (RFC 8441): an extended CONNECT with `:protocol websocket` on
// one stream, answered 200, after which that stream's DATA frames carry ordinary RFC 6455 frames. Like
// handshake.ts, the decision is a pure function of the request's headers; the two helpers below write
// the answer onto the stream. There is no Sec-WebSocket-Key/Accept here (RFC 8441 section 5: the
// :protocol pseudo-header replaces them), but Origin, version and permessage-deflate work as in 6455.
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { negotiateDeflate, type DeflateParams } from './deflate.js';
import { checkOrigin, WS_VERSION, type HandshakeOptions } from './handshake.js';

export type ExtendedConnectResult =
  | { ok: true; headers: Record<string, string>; deflate: DeflateParams | undefined }
  | { ok: false; status: number; reason: string; headers: Record<string, string> };

function refuse(status: number, reason: string, headers: Record<string, string> = {}): ExtendedConnectResult {
  return { ok: false, status, reason, headers };
}

/** True for a request that asks to bootstrap a WebSocket (the caller routes it here rather than to HTTP). */
export function isExtendedConnect(headers: IncomingHttpHeaders): boolean {
  return headers[':method'] === 'CONNECT' && headers[':protocol'] !== undefined;
}

export function validateExtendedConnect(headers: IncomingHttpHeaders, opts: HandshakeOptions): ExtendedConnectResult {
  if (headers[':method'] !== 'CONNECT') return refuse(400, 'a WebSocket over HTTP/2 is opened with CONNECT');
  if (headers[':protocol'] !== 'websocket') return refuse(400, 'the :protocol of an extended CONNECT must be "websocket"');
  // RFC 8441 keeps the version header from 6455 (its example sends it); absent is taken as 13.
  const version = headers['sec-websocket-version'];
  if (version !== undefined && version !== WS_VERSION) {
    return refuse(400, `unsupported WebSocket version; this server speaks ${WS_VERSION}`, { 'sec-websocket-version': WS_VERSION });
  }
  const origin = typeof headers.origin === 'string' ? headers.origin : undefined;
  if (!checkOrigin(origin, headers[':authority'], opts)) return refuse(403, 'origin not allowed');
  const ext = opts.deflate ? negotiateDeflate(headers['sec-websocket-extensions']) : undefined;
  const out: Record<string, string> = {};
  if (ext) out['sec-websocket-extensions'] = ext.response;
  return { ok: true, headers: out, deflate: ext?.params };
}

/** Accepts: 200 and the negotiated extension; the stream is then the WebSocket's byte stream. */
export function acceptExtendedConnect(stream: ServerHttp2Stream, headers: Record<string, string>): void {
  stream.respond({ ':status': 200, ...headers });
}

/** Refuses with a status and a plain-text reason, then ends the stream (the session lives on). */
export function refuseExtendedConnect(stream: ServerHttp2Stream, status: number, reason: string, headers: Record<string, string>): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.on('error', () => {});
  stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', ...headers });
  stream.end(reason + '\n');
}
