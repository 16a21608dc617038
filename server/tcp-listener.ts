// The chat TCP port's front door: it counts each connection against the caps (conn-limits.ts), opens
// TLS when the server has a certificate, and hands what it admits to the chat transport (tcp.ts) as
// that transport's own 'connection', so the transport never knows whether a byte was encrypted.
// Everything it refuses gets one error line and a close: over a cap, `too_many_connections` (inside
// TLS when the port speaks TLS, so the client can read it); plaintext on a TLS port, `tls_required`
// in plaintext, which a client that forgot --tls can read.
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ErrorEvent } from '../protocol/messages.js';
import type { ConnectionLimits, Refusal } from './conn-limits.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { answerAndClose, sniffTls } from './tls-sniff.js';
import type { TlsCredentials } from './tls.js';

export interface TcpListenerOptions {
  /** The chat transport: every admitted connection is emitted to it as a 'connection'. */
  transport: Server;
  limits: ConnectionLimits;
  /** When set, the port speaks TLS with these credentials (the current pair at each handshake). */
  tls: TlsCredentials | undefined;
  /** How long a TLS client may take to send its first byte, and again to finish its handshake. */
  handshakeTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
}

/** One fatal error line, the way the hub would send it: clients parse it like any event. */
function errorLine(code: ErrorEvent['code'], message: string): string {
  const ev: ErrorEvent = { type: 'error', code, message, fatal: true };
  return JSON.stringify(ev) + '\n';
}

const kKey = Symbol('parley.limitKey');
interface CountedSocket extends Socket {
  [kKey]?: string;
}

export function createTcpListener(opts: TcpListenerOptions): Server {
  const { transport, limits, tls, log, metrics } = opts;

  /** Shared by every counted socket, so no closure is kept per connection. */
  function release(this: CountedSocket): void {
    const key = this[kKey];
    if (key !== undefined) limits.release(key);
  }

  const refuse = (socket: Socket, remote: string, refusal: Refusal): void => {
    metrics.refused(refusal.scope);
    metrics.error(refusal.code);
    log.info(`refused tcp ${remote}: ${refusal.message}`);
    answerAndClose(socket, errorLine(refusal.code, refusal.message));
  };

  const startTls = (raw: Socket, creds: TlsCredentials, remote: string, refusal: Refusal | undefined): void => {
    const secure = new TLSSocket(raw, { isServer: true, secureContext: creds.secureContext });
    let established = false;
    const fail = (why: string): void => {
      metrics.tlsHandshakeFailures++;
      log.debug(`tls handshake failed ${remote}: ${why}`);
      secure.destroy();
    };
    const timer = setTimeout(fail, opts.handshakeTimeoutMs, `no handshake within ${opts.handshakeTimeoutMs} ms`);
    timer.unref();
    secure.once('secure', () => {
      established = true;
      clearTimeout(timer);
      if (refusal) refuse(secure, remote, refusal);
      else transport.emit('connection', secure);
    });
    // Before 'secure' an error is a failed handshake (a client that does not trust us, a bad hello);
    // afterwards the transport has its own listener, and this one only keeps an error from throwing.
    secure.on('error', (err: Error) => {
      if (established) return;
      clearTimeout(timer);
      fail(err.message);
    });
  };

  return createServer({ noDelay: true }, (s) => {
    const raw = s as CountedSocket;
    // Read once, while the socket surely has it: a closed socket forgets its peer.
    const remote = `${raw.remoteAddress}:${raw.remotePort}`;
    raw.setKeepAlive(true, 30_000);
    const admission = limits.admit(raw.remoteAddress);
    if (admission.ok) {
      raw[kKey] = admission.key;
      // on, not once: 'close' comes once anyway, and once() would wrap the listener per connection.
      raw.on('close', release);
    }
    const refusal = admission.ok ? undefined : admission.refusal;
    if (!tls) {
      if (refusal) refuse(raw, remote, refusal);
      else transport.emit('connection', raw);
      return;
    }
    sniffTls(raw, opts.handshakeTimeoutMs, {
      tls: (socket) => startTls(socket, tls, remote, refusal),
      plaintext: (socket) => {
        metrics.refused('tls_required');
        metrics.error('tls_required');
        log.debug(`plaintext on the TLS port from ${remote}`);
        answerAndClose(socket, errorLine('tls_required', 'this port speaks TLS: connect with TLS (the console client: parley --tls, or --ca FILE for a private certificate)'));
      },
    });
  });
}
