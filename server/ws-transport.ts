// PLACEHOLDER (lead): the ws helper replaces this with the WebSocket transport.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Hub } from './hub.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface WsTransportOptions {
  maxMessageBytes: number;
  maxBufferedBytes: number;
  allowedOrigins: string[];
  deflate: boolean;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
}

export interface WsTransport {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  destroyAll(): void;
}

export function createWsTransport(_hub: Hub, _opts: WsTransportOptions): WsTransport {
  return {
    upgrade(_req, socket) {
      socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\n\r\n');
    },
    destroyAll() {},
  };
}
