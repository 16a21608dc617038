// A raw protocol client for tests: writes JSON lines (or raw bytes) and reads events, with waits that
// fail loudly instead of hanging.
import { connect, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';

export type Event = Record<string, unknown> & { type: string };

export interface TcpClient {
  socket: Socket;
  /** Every event received so far, in order. */
  events: Event[];
  send(obj: unknown): void;
  sendRaw(data: string | Buffer): void;
  /** Resolves with the first event (not yet taken) matching predicate; rejects after timeoutMs. */
  next(predicate?: (e: Event) => boolean, timeoutMs?: number): Promise<Event>;
  /** Resolves when the server closes the connection. */
  closed(timeoutMs?: number): Promise<void>;
  close(): void;
}

export interface TcpConnectOptions {
  /** Source address, e.g. 127.0.0.2 to be another client address on loopback. */
  localAddress?: string;
  /** Speak TLS with these options (ca, servername, ...); resolves after the handshake. */
  tls?: ConnectionOptions;
}

/** `port` may also be `{ path }`: a Unix socket (cluster tests reach nodes in namespaces that way). */
export function connectTcp(port: number | { path: string }, host = '127.0.0.1', opts: TcpConnectOptions = {}): Promise<TcpClient> {
  return new Promise((resolve, reject) => {
    const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
    const socket =
      typeof port !== 'number' ? connect(port) : opts.tls ? connectTls({ port, host, ...local, ...opts.tls }) : connect({ port, host, ...local });
    const events: Event[] = [];
    const taken = new Set<number>();
    let waiters: (() => void)[] = [];
    let buf = '';
    let ended = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        events.push(JSON.parse(line) as Event);
      }
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    });
    const onEnd = (): void => {
      ended = true;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    };
    socket.on('close', onEnd);
    socket.on('error', () => {});
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      const client: TcpClient = {
        socket,
        events,
        send: (obj) => socket.write(JSON.stringify(obj) + '\n'),
        sendRaw: (data) => socket.write(data),
        next: (predicate = () => true, timeoutMs = 5000) =>
          new Promise((res, rej) => {
            const check = (): boolean => {
              for (let i = 0; i < events.length; i++) {
                if (!taken.has(i) && predicate(events[i]!)) {
                  taken.add(i);
                  res(events[i]!);
                  return true;
                }
              }
              return false;
            };
            if (check()) return;
            const timer = setTimeout(() => rej(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`)), timeoutMs);
            const again = (): void => {
              if (check()) clearTimeout(timer);
              else if (ended) {
                clearTimeout(timer);
                rej(new Error(`connection closed; got ${JSON.stringify(events)}`));
              } else waiters.push(again);
            };
            waiters.push(again);
          }),
        closed: (timeoutMs = 5000) =>
          new Promise((res, rej) => {
            if (ended) return res();
            const timer = setTimeout(() => rej(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
            socket.once('close', () => {
              clearTimeout(timer);
              res();
            });
          }),
        close: () => socket.destroy(),
      };
      resolve(client);
    });
    socket.once('error', reject);
  });
}

/** Connects and says hello; resolves once welcomed. */
export async function helloTcp(port: number | { path: string }, name: string): Promise<TcpClient> {
  const c = await connectTcp(port);
  c.send({ type: 'hello', name, protocol: 1, id: 'hello' });
  await c.next((e) => e.type === 'welcome');
  return c;
}

/**
 * A client logged into the account `name`: registered on first use (as a guest that says register),
 * logged in with the password afterwards. DMs are stored only between accounts.
 */
export async function accountTcp(port: number | { path: string }, name: string, password = `pw-of-${name.toLowerCase()}`): Promise<TcpClient> {
  const c = await connectTcp(port);
  c.send({ type: 'hello', name, protocol: 1, id: 'hello' });
  const first = await c.next((e) => e.re === 'hello');
  if (first.type === 'error' && first.code === 'auth_required') {
    c.send({ type: 'hello', name, password, id: 'login' });
    const login = await c.next((e) => e.re === 'login', 10_000);
    if (login.type !== 'welcome') throw new Error(`login as ${name} failed: ${JSON.stringify(login)}`);
    return c;
  }
  if (first.type !== 'welcome') throw new Error(`hello as ${name} failed: ${JSON.stringify(first)}`);
  c.send({ type: 'register', password, id: 'register' });
  const reg = await c.next((e) => e.re === 'register', 10_000);
  if (reg.type !== 'ack') throw new Error(`register ${name} failed: ${JSON.stringify(reg)}`);
  return c;
}
