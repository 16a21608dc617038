// One connection of the whole-path fuzz, TCP or WebSocket, seen the same way: raw bytes out in any
// chunking, JSON events in, in order, and a way to wait for a condition that wakes on every arrival
// instead of polling on a timer.
import { connectTcp, type Event } from '../../helpers/tcp-client.js';
import { connectWs, OP } from '../../helpers/ws-client.js';

export type { Event };

export interface FuzzConn {
  readonly transport: 'tcp' | 'ws';
  readonly deflate: boolean;
  /** Every JSON event received so far, in order. */
  events(): readonly Event[];
  /** The code of the server's close frame (WebSocket), 1005 for an empty one; undefined before one came. */
  closeCode(): number | undefined;
  ended(): boolean;
  write(bytes: Buffer): void;
  /** Half-closes our side (FIN) without anything else. */
  end(): void;
  destroy(): void;
  /** Resolves with cond() once it holds, the connection has ended, or `timeoutMs` passed. */
  until(cond: () => boolean, timeoutMs: number): Promise<boolean>;
}

function waker(socket: NodeJS.EventEmitter): { wait(cond: () => boolean, ended: () => boolean, timeoutMs: number): Promise<boolean> } {
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  // Registered after the client helper's own listeners, so events are parsed by the time we look.
  socket.on('data', wake);
  socket.on('close', wake);
  return {
    wait: (cond, ended, timeoutMs) =>
      new Promise((res) => {
        if (cond() || ended()) return res(cond());
        const timer = setTimeout(() => {
          waiters = waiters.filter((f) => f !== again);
          res(cond());
        }, timeoutMs);
        const again = (): void => {
          if (cond() || ended()) {
            clearTimeout(timer);
            res(cond());
          } else waiters.push(again);
        };
        waiters.push(again);
      }),
  };
}

export async function openTcp(port: number): Promise<FuzzConn> {
  const c = await connectTcp(port);
  c.socket.setNoDelay(true);
  let ended = false;
  c.socket.on('close', () => (ended = true));
  const w = waker(c.socket);
  return {
    transport: 'tcp',
    deflate: false,
    events: () => c.events,
    closeCode: () => undefined,
    ended: () => ended,
    write: (b) => {
      if (!c.socket.destroyed) c.socket.write(b);
    },
    end: () => c.socket.end(),
    destroy: () => c.socket.destroy(),
    until: (cond, timeoutMs) => w.wait(cond, () => ended, timeoutMs),
  };
}

export async function openWs(port: number, deflate: boolean): Promise<FuzzConn> {
  const c = await connectWs(port, { deflate });
  const negotiated = /permessage-deflate/i.test(c.response.headers['sec-websocket-extensions'] ?? '');
  const events: Event[] = [];
  let parsed = 0;
  const sync = (): Event[] => {
    for (; parsed < c.messages.length; parsed++) {
      const m = c.messages[parsed]!;
      if (m.binary) continue;
      try {
        const v: unknown = JSON.parse(m.data.toString('utf8'));
        if (v !== null && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string') events.push(v as Event);
      } catch {
        // The server only sends JSON; anything else would show up as a missing reply.
      }
    }
    return events;
  };
  const w = waker(c.socket);
  return {
    transport: 'ws',
    deflate: negotiated,
    events: sync,
    closeCode: () => {
      const f = c.frames.find((x) => x.opcode === OP.CLOSE);
      if (!f) return undefined;
      return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    },
    ended: () => c.isClosed(),
    write: (b) => {
      if (!c.socket.destroyed) c.socket.write(b);
    },
    end: () => c.socket.end(),
    destroy: () => c.destroy(),
    until: (cond, timeoutMs) => w.wait(cond, () => c.isClosed(), timeoutMs),
  };
}

/**
 * Writes `bytes` in a random chunking: whole, one byte at a time, small or larger random pieces. Between
 * pieces it yields to the event loop now and then, so they leave as separate segments (Nagle is off).
 */
export async function writeChunked(conn: FuzzConn, bytes: Buffer, r: () => number): Promise<string> {
  const k = r();
  let mode: string;
  let size: () => number;
  if (k < 0.35 || bytes.length <= 1) {
    conn.write(bytes);
    return 'whole';
  } else if (k < 0.5 && bytes.length <= 3000) {
    mode = 'bytewise';
    size = () => 1;
  } else if (k < 0.7) {
    mode = 'small';
    size = () => 1 + Math.floor(r() * 16);
  } else if (k < 0.9) {
    mode = 'medium';
    size = () => 1 + Math.floor(r() * 512);
  } else {
    mode = 'halves';
    const cut = 1 + Math.floor(r() * (bytes.length - 1));
    let first = true;
    size = () => {
      const n = first ? cut : bytes.length;
      first = false;
      return n;
    };
  }
  let i = 0;
  let pieces = 0;
  while (i < bytes.length && !conn.ended()) {
    const n = Math.min(size(), bytes.length - i);
    conn.write(Buffer.from(bytes.subarray(i, i + n)));
    i += n;
    if (++pieces % 8 === 0) await new Promise((res) => setImmediate(res));
  }
  return mode;
}
